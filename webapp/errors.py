"""One error renderer for every status code, plus the maintenance switch (regulamin pkt 10)."""
from __future__ import annotations

import re
from xml.sax.saxutils import escape

from flask import Flask, Response, render_template, request, jsonify
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from webapp.extensions import db
from webapp.negotiation import is_htmx, wants_json


def _wants_json() -> bool:
    # API paths always answer JSON; elsewhere the offline sync asks for it.
    return request.path.startswith("/open311/") or request.path == "/healthz" or wants_json()


# Characters XML 1.0 cannot carry, even escaped (a message may quote a URL path).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _open311_xml() -> bool:
    # GeoReport v2: XML is the spec's format; the suffix of the path says which one is wanted.
    return request.path.startswith("/open311/") and request.path.endswith(".xml")


def render_error(status: int, message: str):
    """Render ``message`` (already translated) as JSON for API paths (GeoReport v2 errors:
    ``[{"code", "description"}]``, or ``<errors><error>...`` for an Open311 ``.xml`` path),
    HTML otherwise."""
    if _open311_xml():
        body = (f'<?xml version="1.0" encoding="utf-8"?>\n<errors><error><code>{status}</code>'
                f"<description>{escape(_XML_ILLEGAL.sub('', message))}</description></error></errors>")
        return Response(body, status=status, content_type="text/xml; charset=utf-8")
    if _wants_json():
        return jsonify([{"code": status, "description": message}]), status
    template = "errors/_error.html" if is_htmx() else "errors/error.html"
    return render_template(template, status=status, message=message), status


def init_app(app: Flask) -> None:
    """Register the error handlers and the maintenance-mode gate."""

    @app.errorhandler(CSRFError)
    def _csrf(e):
        return render_error(400, _("The form has expired or was sent from elsewhere. "
                                   "Reload the page and send it again; what you typed is kept."))

    @app.errorhandler(413)
    def _too_large(e):
        return render_error(413, _("The files are too large. Each photo may have at most 20 MB."))

    @app.errorhandler(429)
    def _rate_limited(e):
        return render_error(429, _("Too many requests from your address. Wait a moment and try again."))

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        messages = {
            404: _("This page does not exist."),
            405: _("This action is not allowed here."),
            410: _("This link is no longer valid."),
            503: _("The portal is temporarily unavailable."),
        }
        response = app.make_response(
            render_error(e.code or 500, messages.get(e.code, _("Something went wrong."))))
        for name, value in e.get_headers():
            if name.lower() != "content-type":  # e.g. Allow on a 405, Retry-After
                response.headers[name] = value
        return response

    @app.errorhandler(OperationalError)
    def _database_unavailable(e):
        # The database is unreachable (wrong address, down, restarting) or overloaded: the same
        # notice as a maintenance break, not a generic 500. Logged once per request.
        app.logger.error("database unavailable: %s", str(e.orig or e).splitlines()[0][:300])
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001 - the connection is gone; nothing to undo
            pass
        return _maintenance_response(retry_after="60")

    def _maintenance_response(retry_after: str = "3600"):
        resp = render_error(503, _("Technical break: the portal is temporarily unavailable. "
                                   "Please come back later. In an emergency call 112."))
        response = app.make_response(resp)
        response.headers["Retry-After"] = retry_after
        return response

    @app.before_request
    def _maintenance():
        if not app.config.get("MAINTENANCE_MODE"):
            return None
        if request.path.startswith("/static/") or request.path == "/healthz":
            return None
        return _maintenance_response()
