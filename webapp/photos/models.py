"""Photos attached to a report."""
from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.clock import UTCDateTime, utcnow
from webapp.extensions import db


class Photo(db.Model):
    """One uploaded photo: the original as sent (operators and the unit only) plus a public
    re-encoded copy (at most 2048 px, no metadata) and a 400 px thumbnail.

    ``*_key`` are storage keys relative to ``MEDIA_ROOT``. ``gps_lat``/``gps_long`` are the EXIF
    position in WGS84 degrees, ``taken_at`` the EXIF capture time (UTC when the camera said
    so, otherwise taken as local Europe/Warsaw time and converted).
    """

    __tablename__ = "photo"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("service_request.id", ondelete="CASCADE"),
                                           index=True, nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    content_type: Mapped[str] = mapped_column(String(64), nullable=False)
    original_key: Mapped[str] = mapped_column(String(255), nullable=False)
    public_key: Mapped[str] = mapped_column(String(255), nullable=False)
    thumb_key: Mapped[str] = mapped_column(String(255), nullable=False)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    gps_lat: Mapped[float | None] = mapped_column(Float)
    gps_long: Mapped[float | None] = mapped_column(Float)
    taken_at: Mapped[object | None] = mapped_column(UTCDateTime())
    created_at: Mapped[object] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    report = relationship("Report", back_populates="photos")
