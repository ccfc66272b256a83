"""Moderation state kept beside a report: holds, internal notes, blocks, switches."""
from __future__ import annotations

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.clock import UTCDateTime, utcnow
from webapp.extensions import db


class ContentHold(db.Model):
    """A report held for moderation by the content rules: ``reasons`` is a list of
    ``{"rule": "phone"|"email"|"link"|"pesel"|"word", "match": str}`` (what the operator sees;
    never shown publicly). ``resolved_at`` (UTC) once an operator decided."""

    __tablename__ = "moderation_hold"

    report_id: Mapped[int] = mapped_column(ForeignKey("service_request.id", ondelete="CASCADE"),
                                           primary_key=True)
    reasons: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[object] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    resolved_at: Mapped[object | None] = mapped_column(UTCDateTime())


class InternalNote(db.Model):
    """An operator's note on a report, seen only in the panel."""

    __tablename__ = "moderation_note"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("service_request.id", ondelete="CASCADE"),
                                           index=True, nullable=False)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    author_label: Mapped[str] = mapped_column(String(254), nullable=False, default="")
    text: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[object] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class SubmitterBlock(db.Model):
    """A blocked submitter: ``key_hash`` is HMAC-SHA256(SECRET_KEY, address) in hex; the raw
    address is never stored. Blocked until ``until`` (UTC)."""

    __tablename__ = "moderation_block"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    until: Mapped[object] = mapped_column(UTCDateTime(), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    created_at: Mapped[object] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    lifted_at: Mapped[object | None] = mapped_column(UTCDateTime())


class Switch(db.Model):
    """A runtime switch (regulamin pkt 10) flipped by an admin; absent rows fall back to the
    environment (``REPORTS_ENABLED``, ``MAINTENANCE_MODE``, ...)."""

    __tablename__ = "moderation_switch"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    updated_at: Mapped[object] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))


class SubmissionOrigin(db.Model):
    """The keyed hash (HMAC-SHA256 with SECRET_KEY) of the address a report came from, so an
    admin can block its submitter without anyone storing or seeing the raw IP address."""

    __tablename__ = "moderation_origin"

    report_id: Mapped[int] = mapped_column(ForeignKey("service_request.id", ondelete="CASCADE"),
                                           primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), index=True, nullable=False)


class PhotoModeration(db.Model):
    """An operator's decision on one photo: ``hidden`` (no public copy is served or listed)
    and ``rotation`` (degrees clockwise, 0/90/180/270, applied to the public copy and the
    thumbnail; the original is never changed)."""

    __tablename__ = "moderation_photo"

    photo_id: Mapped[int] = mapped_column(ForeignKey("photo.id", ondelete="CASCADE"), primary_key=True)
    hidden: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    rotation: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
