"""Supports ("me too"): a resident adding their voice to an existing report instead of filing a
duplicate. A support is never a report: it has no text, photo or location of its own."""
from __future__ import annotations

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.clock import UTCDateTime, utcnow
from webapp.extensions import db
from webapp.reports.models import Report


class Support(db.Model):
    """One phone's "me too" on a report; ``(report_id, client_id)`` is unique, so a phone
    counts once however often it taps. ``email`` (optional) is stored only with consent
    (``consent_*``, as on a report) to be told of the report's progress; never shown publicly."""

    __tablename__ = "report_support"
    __table_args__ = (UniqueConstraint("report_id", "client_id", name="uq_report_support_client"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("service_request.id", ondelete="CASCADE"),
                                           nullable=False)
    # UUID made by the phone (the same idea as a report's client_id).
    client_id: Mapped[str] = mapped_column(String(36), nullable=False)
    email: Mapped[str | None] = mapped_column(String(254))
    consent_version: Mapped[str | None] = mapped_column(String(32))
    consent_text: Mapped[str | None] = mapped_column(Text)
    consent_at: Mapped[object | None] = mapped_column(UTCDateTime())
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[object] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


#: The map's spatial index: a range on ``lat`` narrowed by ``long`` within the index (bounding
#: boxes, "already reported?" within metres). Named for the map so other indexes on
#: ``service_request`` do not collide with it; defined here, next to its only reader.
MAP_INDEX = Index("ix_service_request_lat_long_map", Report.lat, Report.long)
