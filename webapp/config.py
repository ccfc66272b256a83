"""Configuration read from environment variables, with defaults that work on a laptop.

Every setting can be overridden by ``create_app(config={...})`` (tests do this).
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path


#: ``ADMIN_EMAIL`` when the variable is not set at all (the contact centre's public address).
DEFAULT_ADMIN_EMAIL = "lckzm@uml.lodz.pl"

#: Photos per report and bytes per photo (the Core issue: 5 photos, 20 MB each).
PHOTO_MAX_COUNT = 5
PHOTO_MAX_BYTES = 20 * 1024 * 1024


def _instance_secret(instance_path: Path) -> str:
    """Return ``SECRET_KEY`` from the environment, or one generated once into ``instance/``.

    The file is created with mode 0600 so a second start (and the worker process) reuses it.
    """
    env = os.environ.get("SECRET_KEY")
    if env:
        return env
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    tmp = instance_path / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    try:
        # link() fails if another process (a second gunicorn worker) won the race: use theirs.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def from_environment(instance_path: Path, root_path: Path) -> dict:
    """Build the config dict from ``os.environ``.

    Returns a plain dict; keys are Flask config names. Paths are absolute.
    """
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'lckzm.sqlite'}"
    return {
        "SECRET_KEY": _instance_secret(instance_path),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # The photo limits, in one place: the service checks them, the form shows them and the
        # phone reads them from the form's data-max-photos / data-max-photo-bytes attributes.
        "PHOTO_MAX_BYTES": PHOTO_MAX_BYTES,
        "PHOTO_MAX_COUNT": PHOTO_MAX_COUNT,
        # Every photo at its largest plus the form fields.
        "MAX_CONTENT_LENGTH": PHOTO_MAX_COUNT * PHOTO_MAX_BYTES + 1024 * 1024,
        "MAX_FORM_MEMORY_SIZE": 1024 * 1024,
        # Photo decodes running at once in one process (the rest wait, then 503): uploads use at
        # most this many cores and public reads keep the others (webapp/photos/limits.py).
        "PHOTO_DECODE_SLOTS": int(os.environ.get("PHOTO_DECODE_SLOTS", "1")),
        "PHOTO_DECODE_WAIT_SECONDS": float(os.environ.get("PHOTO_DECODE_WAIT_SECONDS", "20")),
        "MEDIA_STORAGE": os.environ.get("MEDIA_STORAGE", "filesystem"),
        "MEDIA_ROOT": os.environ.get("MEDIA_ROOT") or str(instance_path / "media"),
        "ROUTING_FILE": os.environ.get("ROUTING_FILE") or str(root_path / "routing.toml"),
        "BOUNDARY_FILE": os.environ.get("BOUNDARY_FILE")
        or str(Path(__file__).parent / "geo" / "data" / "lodz_boundary.geojson"),
        # Map for picking a location on the form: a Leaflet tile URL template ({z}/{x}/{y}, {s}
        # for subdomains); its origin is added to the CSP img-src. Empty: no map on the form.
        # The attribution is the tile provider's licence requirement (empty: the translated OSM one).
        "MAP_TILE_URL": os.environ.get("MAP_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png"),
        "MAP_TILE_ATTRIBUTION": os.environ.get("MAP_TILE_ATTRIBUTION", ""),
        "MAP_TILE_ATTRIBUTION_URL": os.environ.get("MAP_TILE_ATTRIBUTION_URL",
                                                   "https://www.openstreetmap.org/copyright"),
        # Links in e-mails; by default the address `make run` serves on (PORT).
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL")
        or f"http://127.0.0.1:{os.environ.get('PORT', '5000')}",
        # Mail: with no MAIL_SERVER, messages are written as .eml files to MAIL_OUTBOX_DIR.
        "MAIL_SERVER": os.environ.get("MAIL_SERVER") or None,
        "MAIL_PORT": int(os.environ.get("MAIL_PORT", "25")),
        "MAIL_USE_TLS": _bool("MAIL_USE_TLS"),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD") or None,
        "MAIL_DEFAULT_SENDER": os.environ.get("MAIL_DEFAULT_SENDER", "ŁCKzM Łódź <no-reply@lckzm.lodz.example>"),
        "MAIL_OUTBOX_DIR": os.environ.get("MAIL_OUTBOX_DIR") or str(instance_path / "outbox"),
        # Signed department links (days).
        "DEPARTMENT_LINK_MAX_AGE_DAYS": int(os.environ.get("DEPARTMENT_LINK_MAX_AGE_DAYS", "30")),
        # Outbox worker.
        "WORKER_POLL_SECONDS": float(os.environ.get("WORKER_POLL_SECONDS", "2")),
        "OUTBOX_MAX_ATTEMPTS": int(os.environ.get("OUTBOX_MAX_ATTEMPTS", "8")),
        # A worker's claim on a message, renewed while it sends: a dead worker's message is
        # taken over by another within this (plus WORKER_POLL_SECONDS).
        "OUTBOX_LOCK_SECONDS": float(os.environ.get("OUTBOX_LOCK_SECONDS", "20")),
        # Questions to the administrator (/contact) per IP address.
        "CONTACT_RATE_LIMIT": os.environ.get("CONTACT_RATE_LIMIT", "10 per hour;3 per minute"),
        # How often the worker rebuilds the public statistics' summary table; how long a
        # request waits for the first build before saying the figures are being prepared.
        "STATS_REFRESH_SECONDS": float(os.environ.get("STATS_REFRESH_SECONDS", "600")),
        "STATS_BUILD_WAIT_SECONDS": float(os.environ.get("STATS_BUILD_WAIT_SECONDS", "2")),
        "OUTBOX_BACKOFF_SECONDS": int(os.environ.get("OUTBOX_BACKOFF_SECONDS", "60")),
        "OUTBOX_BACKOFF_MAX_SECONDS": int(os.environ.get("OUTBOX_BACKOFF_MAX_SECONDS", "3600")),
        "WORKER_BATCH_SIZE": int(os.environ.get("WORKER_BATCH_SIZE", "20")),
        "MAIL_USE_SSL": _bool("MAIL_USE_SSL"),
        "MAIL_TIMEOUT": int(os.environ.get("MAIL_TIMEOUT", "30")),
        # The portal administrator's address: privacy page contact, alerts about undeliverable
        # e-mail, where /contact questions go; set empty, alerts go only to the log and questions
        # to the operator unit's address in routing.toml. Its mailto: is the VAPID subject too.
        "ADMIN_EMAIL": os.environ.get("ADMIN_EMAIL", DEFAULT_ADMIN_EMAIL),
        # Notifications (webapp/push). VAPID_PRIVATE_KEY: PEM text or a file path; empty: the key
        # made once into instance/vapid_private.pem.
        "VAPID_PRIVATE_KEY": os.environ.get("VAPID_PRIVATE_KEY") or None,
        # A bare "mailto:" (ADMIN_EMAIL set empty) is no contact: push services may refuse it.
        "VAPID_SUBJECT": os.environ.get("VAPID_SUBJECT")
        or f"mailto:{os.environ.get('ADMIN_EMAIL') or DEFAULT_ADMIN_EMAIL}",
        # Push services the worker may POST to (host, or .suffix for subdomains): the big
        # browsers' ones. Anything else is refused when subscribing (no requests to internal hosts).
        "PUSH_ALLOWED_HOSTS": [h.strip() for h in os.environ.get(
            "PUSH_ALLOWED_HOSTS", "fcm.googleapis.com,.push.services.mozilla.com,"
            ".notify.windows.com,web.push.apple.com,.push.apple.com").split(",") if h.strip()],
        "PUSH_ALLOW_HTTP": _bool("PUSH_ALLOW_HTTP"),
        "PUSH_TTL_SECONDS": int(os.environ.get("PUSH_TTL_SECONDS", str(2 * 24 * 3600))),
        "PUSH_MAX_FAILURES": int(os.environ.get("PUSH_MAX_FAILURES", "5")),
        "PUSH_MAX_PER_REPORT": int(os.environ.get("PUSH_MAX_PER_REPORT", "10")),
        # RODO minimisation: days after a report is closed until the resident's e-mail is erased.
        "EMAIL_RETENTION_DAYS": int(os.environ.get("EMAIL_RETENTION_DAYS", "30")),
        "EMAIL_RETENTION_CHECK_SECONDS": int(os.environ.get("EMAIL_RETENTION_CHECK_SECONDS", "3600")),
        # Reverse proxies in front of the app that set X-Forwarded-For/-Proto/-Host and
        # X-Request-ID (nginx: 1). 0 trusts none of those headers: a client could spoof them.
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", 0),
        # Logging (stdlib logging, one line per record on stderr, UTC, with the request id).
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO").upper(),
        # Rate limits (Flask-Limiter); use redis://127.0.0.1:6379 when several processes serve.
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_ENABLED": _bool("RATELIMIT_ENABLED", True),
        "RATELIMIT_HEADERS_ENABLED": True,
        "REPORT_RATE_LIMIT": os.environ.get("REPORT_RATE_LIMIT", "30 per hour;6 per minute"),
        "UNIT_RATE_LIMIT": os.environ.get("UNIT_RATE_LIMIT", "120 per hour;20 per minute"),
        "REPORT_ATTEMPT_RATE_LIMIT": os.environ.get("REPORT_ATTEMPT_RATE_LIMIT", "120 per hour;20 per minute"),
        # Open311 GeoReport v2 (webapp/open311): the jurisdiction this endpoint serves, the
        # default rate limit of an API key, and the media_url fetch limits. Loopback/private
        # addresses are refused for media_url unless OPEN311_MEDIA_ALLOW_LOOPBACK (tests only).
        "OPEN311_JURISDICTION_ID": os.environ.get("OPEN311_JURISDICTION_ID", "lodz.pl"),
        "OPEN311_KEY_RATE_LIMIT": os.environ.get("OPEN311_KEY_RATE_LIMIT", "100 per hour;10 per minute"),
        "OPEN311_MEDIA_ALLOW_LOOPBACK": _bool("OPEN311_MEDIA_ALLOW_LOOPBACK"),
        "OPEN311_MEDIA_TIMEOUT": float(os.environ.get("OPEN311_MEDIA_TIMEOUT", "10")),
        "OPEN311_CHANGESET": os.environ.get("OPEN311_CHANGESET", "2026-12-02T00:00:00Z"),
        # Regulamin pkt 10: maintenance breaks and switching features off.
        "MAINTENANCE_MODE": _bool("MAINTENANCE_MODE"),
        "REPORTS_ENABLED": _bool("REPORTS_ENABLED", True),
        # Status notices to residents (e-mail and push); unit dispatch e-mails are not affected.
        "EMAIL_NOTICES_ENABLED": _bool("EMAIL_NOTICES_ENABLED", True),
        # i18n: Polish first (regulamin is Polish), English and Ukrainian follow.
        "BABEL_DEFAULT_LOCALE": "pl",
        "BABEL_DEFAULT_TIMEZONE": "Europe/Warsaw",
        "LANGUAGES": ["pl", "en", "uk"],
        # Consent shown next to the e-mail field (RODO art. 7(1)): the newest version in force in
        # content/rules/consent/ is stored with each report; set this only to pin another one.
        "CONSENT_VERSION": os.environ.get("CONSENT_VERSION") or None,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_HTTPONLY": True,
        # Forced on when PUBLIC_BASE_URL is https (see webapp.security).
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE"),
        "WTF_CSRF_TIME_LIMIT": None,  # the form may sit open on a phone for hours
        # Compress static text (CSS, JS, JSON, manifest) but not HTML: pages carry CSRF tokens
        # next to reflected input, and compressing those invites BREACH-style guessing.
        "COMPRESS_MIMETYPES": ["text/css", "text/javascript", "application/javascript",
                               "application/json", "application/manifest+json", "image/svg+xml"],
    }
