"""One logging setup for the web processes and the outbox workers (stdlib ``logging``).

Every line goes to stderr as ``2026-12-02T06:00:00.123Z INFO [<request id>] <logger>: <text>``:
UTC time, level, and the request id (``-`` outside a request, e.g. in the worker). The request
id is the ``X-Request-ID`` a trusted reverse proxy sent (``TRUSTED_PROXIES`` > 0), else a new
one; it is echoed in the response's ``X-Request-ID`` header so a resident's complaint, the
proxy's log and ours can be matched. One access line per request replaces werkzeug's own.
"""
from __future__ import annotations

import logging
import logging.config
import re
import time
import uuid
from urllib.parse import quote

from flask import Flask, g, has_request_context, request
from flask import current_app

#: What we accept from a proxy as a request id: short, printable, nothing a log reader could
#: mistake for another field or line.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
_configured = False
access_log = logging.getLogger("webapp.access")


class UTCFormatter(logging.Formatter):
    """ISO 8601 time in UTC with milliseconds and a ``Z``."""

    converter = time.gmtime

    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging's API name
        return time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created)) + \
            f".{int(record.msecs):03d}Z"


class RequestIdFilter(logging.Filter):
    """Put ``record.request_id`` on every record (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id() if has_request_context() else "-"
        return True


def request_id() -> str:
    """The current request's id (see the module doc); made once per request.

    Must be called inside a request context.
    """
    rid = g.get("request_id")
    if rid is None:
        incoming = request.headers.get("X-Request-ID", "")
        trusted = int(current_app.config.get("TRUSTED_PROXIES") or 0) > 0
        rid = incoming if trusted and _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.request_id = rid
    return rid


def logging_config(level: str) -> dict:
    """The ``logging.config.dictConfig`` dict: root at ``level`` to stderr; werkzeug's own
    request lines off (the access line below carries the request id)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"line": {
            "()": UTCFormatter,
            "format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s",
        }},
        "handlers": {"stderr": {
            "class": "logging.StreamHandler", "stream": "ext://sys.stderr",
            "filters": ["request_id"], "formatter": "line",
        }},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {"werkzeug": {"level": "WARNING"}},
    }


def configure(level: str = "INFO") -> None:
    """Apply :func:`logging_config` once per process (later calls only change the level).

    Raises ``ValueError`` for an unknown level name.
    """
    global _configured
    level = level.upper()
    if not isinstance(logging.getLevelName(level), int):
        raise ValueError(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {level!r}")
    if _configured:
        logging.getLogger().setLevel(level)
        return
    logging.config.dictConfig(logging_config(level))
    _configured = True


def init_app(app: Flask) -> None:
    """Configure logging (not under ``TESTING``: pytest captures logs itself), and give every
    request an id and an access line."""
    if not app.config.get("TESTING"):
        configure(app.config.get("LOG_LEVEL", "INFO"))

    def _start():
        g.request_started = time.perf_counter()
        request_id()

    app.before_request_funcs.setdefault(None, []).insert(0, _start)

    @app.after_request
    def _finish(response):
        response.headers["X-Request-ID"] = request_id()
        started = g.get("request_started")
        took = (time.perf_counter() - started) * 1000 if started else 0.0
        # Quoted: a %0A in the path must not start a forged log line.
        access_log.info("%s %s %s %.1f ms", request.method, quote(request.path, safe="/:@,;=+-._~"),
                        response.status_code, took)
        return response
