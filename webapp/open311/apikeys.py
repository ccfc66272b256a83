"""Issuing, revoking and checking Open311 API keys (``flask apikeys``; the moderation panel
may call the same functions). A key's token is 32 random bytes (URL-safe base64, shown once);
only its SHA-256 hex digest is stored."""
from __future__ import annotations

import hashlib
import secrets

from flask_babel import gettext as _
from limits import parse_many
from sqlalchemy import func, select

from webapp.clock import utcnow
from webapp.extensions import db
from webapp.reports.models import ApiKey, Report
from webapp.open311.params import Open311Error


def token_hash(token: str) -> str:
    """SHA-256 hex digest of an API key token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_key(name: str, contact: str, rate_limit: str | None = None, *,
               commit: bool = True) -> tuple[ApiKey, str]:
    """Store a new key for the app ``name`` (``contact``: who to write to about it) and return
    ``(key, token)``; the token is not kept anywhere. ``rate_limit`` is a Flask-Limiter string
    (checked: ``ValueError`` when it cannot be parsed). Commits, or with ``commit=False`` only
    flushes (the key has its id) so the caller commits it with its audit entry."""
    name, contact = name.strip(), contact.strip()
    if not name or not contact:
        raise ValueError("name and contact are required")
    if rate_limit:
        parse_many(rate_limit)
    token = secrets.token_urlsafe(32)
    key = ApiKey(name=name, contact=contact, token_hash=token_hash(token),
                 rate_limit=rate_limit or None)
    db.session.add(key)
    if commit:
        db.session.commit()
    else:
        db.session.flush()
    return key, token


def revoke_key(key_id: int, *, commit: bool = True) -> ApiKey:
    """Refuse the key from now on (kept, so reports still name their app); revoking a revoked
    key changes nothing. Commits unless ``commit=False``; ``LookupError`` for an unknown id."""
    key = db.session.get(ApiKey, key_id)
    if key is None:
        raise LookupError(key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        if commit:
            db.session.commit()
    return key


def list_keys() -> list[ApiKey]:
    """Every key, oldest first."""
    return list(db.session.scalars(select(ApiKey).order_by(ApiKey.id)))


def get_key(key_id: int) -> ApiKey | None:
    """The key with the id ``key_id`` (revoked ones too), or None."""
    return db.session.get(ApiKey, key_id)


def last_reports() -> dict[int, object]:
    """Key id -> when the newest report filed with that key was made (UTC datetime); keys that
    filed nothing are absent. The key's last use as far as anything is stored."""
    rows = db.session.execute(select(Report.api_key_id, func.max(Report.requested_at))
                              .where(Report.api_key_id.is_not(None)).group_by(Report.api_key_id))
    return {key_id: when for key_id, when in rows}


def find_key(token: str | None) -> ApiKey | None:
    """The key whose token is ``token`` (revoked ones too), or None."""
    if not token:
        return None
    return db.session.scalar(select(ApiKey).where(ApiKey.token_hash == token_hash(token)))


def authenticate(token: str | None) -> ApiKey:
    """The active key for ``token``. Raises :class:`Open311Error` 400 without a token and 403
    for an unknown or revoked one (GeoReport v2: "403 - Invalid api_key")."""
    if not (token or "").strip():
        raise Open311Error(400, _("api_key is required to create a service request."))
    key = find_key(token.strip())
    if key is None or key.revoked_at is not None:
        raise Open311Error(403, _("Invalid api_key."))
    return key


def app_name(key_id: int | None) -> str | None:
    """The name of the app whose key is ``key_id`` (for operators), or None."""
    if key_id is None:
        return None
    key = db.session.get(ApiKey, key_id)
    return key.name if key else None
