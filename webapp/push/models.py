"""Web Push subscriptions: one row per (report, browser push endpoint).

A subscription belongs to a report (reached through its private tracking token), never to a
person: one phone following three reports has three rows, three phones following one report
have three rows. Deleting the report deletes its subscriptions.
"""
from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.clock import UTCDateTime, utcnow
from webapp.extensions import db


class PushSubscription(db.Model):
    """A browser's push subscription (W3C Push API ``PushSubscription.toJSON()``) for a report.

    ``endpoint`` is the push service URL (RFC 8030); ``p256dh`` (65-byte uncompressed P-256
    point) and ``auth`` (16 bytes) are base64url, the keys RFC 8291 encrypts the payload for.
    ``lang`` is the language of the page the resident subscribed from (``pl``/``en``/``uk``);
    notifications are written in it. ``failures`` counts failed sends in a row (reset by a
    success); at ``PUSH_MAX_FAILURES`` the subscription is dropped. Times are UTC.
    """

    __tablename__ = "push_subscription"
    __table_args__ = (UniqueConstraint("report_id", "endpoint", name="uq_push_subscription_report_endpoint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("service_request.id", ondelete="CASCADE"),
                                           index=True, nullable=False)
    endpoint: Mapped[str] = mapped_column(Text, nullable=False)
    p256dh: Mapped[str] = mapped_column(String(128), nullable=False)
    auth: Mapped[str] = mapped_column(String(64), nullable=False)
    lang: Mapped[str] = mapped_column(String(8), nullable=False, default="pl")
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[object] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
