"""Dead outbox messages (undeliverable e-mail) in the panel: see the error, fix the address,
send again. Like ``webapp.dispatch.services.retry`` (``flask outbox retry --to``), but adds to
the caller's transaction, so the audit entry commits with the change."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from webapp.audit.services import record
from webapp.auth.services import AuthError, normalise_email
from webapp.dispatch.models import OutboxMessage
from webapp.dispatch.services import RetryError, retry
from webapp.extensions import db
from webapp.moderation.services import ModerationError


def dead_messages(limit: int = 200) -> list[OutboxMessage]:
    """Dead messages, newest first."""
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.status == "dead")
                                   .order_by(OutboxMessage.id.desc()).limit(limit)))


def resend(message_id: int, to: str, *, actor) -> OutboxMessage:
    """Set the recipient to ``to`` (validated) and make the message due again with fresh
    attempts, through :func:`webapp.dispatch.services.retry`, which commits (the audit entry
    ``outbox.resend``, recipient before/after, with it). Raises :class:`ModerationError` for an
    unknown or not dead message or a bad address (nothing committed then)."""
    row = db.session.get(OutboxMessage, message_id)
    if row is None or row.status != "dead":
        raise ModerationError(_l("This message is no longer waiting for a fix."))
    try:
        address = normalise_email(to)
    except AuthError:
        raise ModerationError(_l("Enter a valid e-mail address."), "to") from None
    before = {"to": list(row.payload.get("to") or []), "last_error": row.last_error}
    record("outbox.resend", actor=actor, object_type="outbox", object_id=row.id,
           before=before, after={"to": [address]})
    try:
        return retry(row.id, to=[address])
    except RetryError:
        raise ModerationError(_l("This message is no longer waiting for a fix.")) from None
