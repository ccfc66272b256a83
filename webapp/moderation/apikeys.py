"""The admin's Open311 API keys in the panel: list, issue, revoke, each change audited.

The keys themselves are :mod:`webapp.open311.apikeys` (the same functions as ``flask
apikeys``); this module adds the audit entry and commits nothing, so a view commits the key
and its entry together. The token is never audited: only its hash is stored anywhere.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l

from webapp.audit.services import record
from webapp.moderation.services import ModerationError
from webapp.open311 import apikeys
from webapp.reports.models import ApiKey


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
