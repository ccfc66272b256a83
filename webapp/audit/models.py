"""One row per staff action."""
from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.clock import UTCDateTime, utcnow
from webapp.extensions import db


class AuditEntry(db.Model):
    """A staff action: ``actor_id`` (staff user, None for a failed login of an unknown
    address), ``actor_label`` (e-mail at the time), ``action`` (e.g. ``"login"``,
    ``"report.approve"``), the object (``object_type``/``object_id``), ``before`` and ``after``
    (JSON objects), ``created_at`` (UTC)."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[object] = mapped_column(UTCDateTime(), nullable=False, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"), index=True)
    actor_label: Mapped[str] = mapped_column(String(254), nullable=False, default="")
    action: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    object_type: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    object_id: Mapped[str] = mapped_column(String(64), nullable=False, default="", index=True)
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
