"""Read-only questions about the outbox that pages ask: has the report's e-mail to its unit
actually gone out?"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from webapp.dispatch.models import OutboxMessage
from webapp.extensions import db

#: Outbox status -> what a resident may be told about the delivery.
_STATES = {"sent": "sent", "pending": "sending", "dead": "failed"}


@dataclass(frozen=True)
class Delivery:
    """Where the newest dispatch e-mail of a report stands.

    ``state``: ``"sent"`` (the unit's mail server accepted it at ``sent_at``, UTC),
    ``"sending"`` (queued or being retried) or ``"failed"`` (dead: refused for good or out of
    attempts; the administrator was alerted).
    """

    state: str
    sent_at: datetime | None = None


def delivery_of(report) -> Delivery | None:
    """The :class:`Delivery` of the newest ``dispatch`` e-mail about ``report`` (the one to its
    current unit: a forward queues a new one), or None when none was ever queued. One indexed
    query on ``outbox_message.report_id``."""
    report_id = getattr(report, "id", report)
    if report_id is None:
        return None
    row = db.session.execute(
        select(OutboxMessage.status, OutboxMessage.sent_at)
        .where(OutboxMessage.report_id == report_id, OutboxMessage.kind == "dispatch")
        .order_by(OutboxMessage.id.desc()).limit(1)).first()
    if row is None:
        return None
    return Delivery(state=_STATES.get(row.status, "sending"),
                    sent_at=row.sent_at if row.status == "sent" else None)
