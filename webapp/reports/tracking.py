"""Private tracking links for residents: no account, just an unguessable URL.

The token is an HMAC of the report's ``client_id`` under ``SECRET_KEY``, so a replayed POST (same
``client_id``) and a later e-mail can show the same link again, while only its SHA-256 is stored.
"""
from __future__ import annotations

import hashlib
import hmac

from flask import current_app, url_for


def tracking_token(client_id: str, secret_key: str | None = None) -> str:
    """Return the URL-safe tracking token (43 hex chars) for ``client_id``."""
    key = (secret_key or current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"tracking:" + client_id.encode(), hashlib.sha256).hexdigest()[:43]


def token_hash(token: str) -> str:
    """SHA-256 hex digest of a tracking token: what the database keeps."""
    return hashlib.sha256(token.encode()).hexdigest()


def tracking_url(report, *, external: bool = True) -> str:
    """Absolute URL of the report's private tracking page (``PUBLIC_BASE_URL`` based when
    ``external``, for e-mails sent by the worker outside a request)."""
    path = url_for("reports.track", token=tracking_token(report.client_id))
    if external:
        return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path
    return path
