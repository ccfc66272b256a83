"""The admin's Open311 API keys in the panel: list, issue, revoke, each change audited.

The keys themselves are :mod:`webapp.open311.apikeys` (the same functions as ``flask
apikeys``); this module adds the audit entry and commits nothing, so a view commits the key
and its entry together. The token is never audited: only its hash is stored anywhere.

Issuing is Post/Redirect/Get: the POST keeps the new token in the session, encrypted (the
cookie is signed, not secret), and the list page it redirects to takes it out and shows it
once, so reloading that page shows nothing new and makes no second key.
"""
from __future__ import annotations

from dataclasses import dataclass

from cryptography.fernet import InvalidToken
from flask import current_app, session
from flask_babel import lazy_gettext as _l

from webapp.audit.services import record
from webapp.auth import crypto
from webapp.moderation.services import ModerationError
from webapp.open311 import apikeys
from webapp.reports.models import ApiKey


#: Session entry holding the key just issued until the list page shows it:
#: ``{"id": key id, "token": Fernet token of the key's token}``.
FRESH_KEY = "apikey_fresh"


@dataclass
class KeyList:
    """What the keys page shows: ``keys`` oldest first, ``last_report`` (key id -> UTC datetime
    of the newest report filed with it; absent when none), ``default_limit`` (the
    ``OPEN311_KEY_RATE_LIMIT`` a key without its own limit gets)."""

    keys: list[ApiKey]
    last_report: dict[int, object]
    default_limit: str


def overview() -> KeyList:
    """Every key with its last report and the default rate limit."""
    return KeyList(keys=apikeys.list_keys(), last_report=apikeys.last_reports(),
                   default_limit=current_app.config["OPEN311_KEY_RATE_LIMIT"])


def _audited(key: ApiKey) -> dict:
    return {"name": key.name, "contact": key.contact, "rate_limit": key.rate_limit,
            "revoked": key.revoked_at is not None}


def issue(name: str, contact: str, rate_limit: str | None, *, actor) -> tuple[ApiKey, str]:
    """Make a key for the app ``name`` (``rate_limit``: Flask-Limiter text, empty for the
    default) and return ``(key, token)``; audited ``apikey.create``. No commit. Raises
    :class:`ModerationError` (field ``rate_limit``) when the limit cannot be parsed."""
    try:
        key, token = apikeys.create_key(name, contact, (rate_limit or "").strip() or None,
                                        commit=False)
    except ValueError:
        raise ModerationError(_l('The rate limit is not valid: write it like "100 per hour;10 '
                                 'per minute".'), field="rate_limit") from None
    record("apikey.create", actor=actor, object_type="api_key", object_id=key.id,
           after=_audited(key))
    return key, token


def revoke(key_id: int, *, actor) -> ApiKey:
    """Refuse the key ``key_id`` from now on; audited ``apikey.revoke`` when it was active (a
    second revoke changes and records nothing). No commit. ``LookupError`` for an unknown id."""
    key = apikeys.get_key(key_id)
    if key is None:
        raise LookupError(key_id)
    if key.revoked_at is None:
        before = _audited(key)
        apikeys.revoke_key(key_id, commit=False)
        record("apikey.revoke", actor=actor, object_type="api_key", object_id=key.id,
               before=before, after=_audited(key))
    return key


def hold_for_display(key: ApiKey, token: str) -> None:
    """Keep ``token`` of the just issued ``key`` for the next list page, encrypted with the
    Fernet keys of :mod:`webapp.auth.crypto` (only its hash is stored in the database)."""
    session[FRESH_KEY] = {"id": key.id, "token": crypto.encrypt(token)}


def take_for_display() -> dict:
    """The key issued just before and its token, removed from the session so they are shown
    once: ``{"new_key": ApiKey, "token": str}``, or ``{}`` when nothing is waiting (or the
    entry cannot be read: a changed encryption key, a tampered cookie)."""
    held = session.pop(FRESH_KEY, None)
    if not isinstance(held, dict) or not isinstance(held.get("token"), str):
        return {}
    key = apikeys.get_key(held.get("id")) if isinstance(held.get("id"), int) else None
    try:
        token = crypto.decrypt(held["token"])
    except (InvalidToken, UnicodeError):
        return {}
    return {"new_key": key, "token": token} if key is not None else {}
