"""The transactional outbox: messages written in the same transaction as the change that
causes them, and sent later by the worker."""
from __future__ import annotations

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.clock import UTCDateTime, utcnow
from webapp.extensions import db


class OutboxMessage(db.Model):
    """A message waiting to be sent (an e-mail to a unit or to a resident).

    ``dedupe_key`` is unique, so enqueueing the same logical message twice is a no-op.
    ``status``: ``pending`` -> ``sent``, or ``dead`` when the server refused it for good (SMTP
    5xx) or after ``OUTBOX_MAX_ATTEMPTS`` temporary failures; ``flask outbox retry`` makes a dead
    row ``pending`` again. ``last_error`` holds the last failure's text, ``dead_at`` when it died.
    ``report_id`` names the report the message is about (None for others, e.g. admin alerts).
    A worker claims a batch of rows in one statement, setting ``locked_until`` (the lease's
    end, which it renews while sending) and ``claimed_by`` (a token naming that batch, which
    fences its later updates; on a ``sent`` row it names the worker that sent it:
    ``host:pid:random``); a crashed worker's claim simply expires. Times are UTC.
    """

    __tablename__ = "outbox_message"
    # The claim query's filter and order (pending, due first, then by id).
    __table_args__ = (Index("ix_outbox_message_due", "status", "next_attempt_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True, nullable=False)
    payload: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[object] = mapped_column(UTCDateTime(), nullable=False, default=utcnow, index=True)
    locked_until: Mapped[object | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[object] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    sent_at: Mapped[object | None] = mapped_column(UTCDateTime())
    dead_at: Mapped[object | None] = mapped_column(UTCDateTime())
    report_id: Mapped[int | None] = mapped_column(Integer, index=True)
