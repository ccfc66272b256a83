"""Signed links that let a city unit's staff update one report without an account."""
from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.clock import UTCDateTime, utcnow
from webapp.extensions import db


class DepartmentLink(db.Model):
    """A revocable grant for one unit (``unit_id``) on one report.

    The URL carries an itsdangerous signature over ``id``; the row makes the link revocable
    (``revoked_at``) and bounds its life (``expires_at``, UTC).
    """

    __tablename__ = "department_link"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("service_request.id", ondelete="CASCADE"),
                                           index=True, nullable=False)
    unit_id: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[object] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    expires_at: Mapped[object] = mapped_column(UTCDateTime(), nullable=False)
    revoked_at: Mapped[object | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[object | None] = mapped_column(UTCDateTime())

    report = relationship("Report")
