"""Reports (Open311 ``service_request``) and their status history."""
from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy import JSON, ForeignKey, Index, String, Text, Float, Integer

from webapp.clock import UTCDateTime, utcnow
from webapp.extensions import db


class Status(str, enum.Enum):
    """Lifecycle of a report. Open311 GeoReport v2 knows only ``open`` and ``closed``;
    :attr:`open311` maps ours onto those."""

    AWAITING_MODERATION = "awaiting_moderation"
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    FORWARDED = "forwarded"

    @property
    def open311(self) -> str:
        return "closed" if self in (Status.RESOLVED, Status.REJECTED) else "open"

    @property
    def label(self) -> str:
        return str(STATUS_LABELS[self])


STATUS_LABELS = {
    Status.AWAITING_MODERATION: _l("Awaiting moderation"),
    # Not "sent": the e-mail may still be queued or undeliverable (the report pages say which).
    Status.DISPATCHED: _l("Assigned to the responsible unit"),
    Status.ACCEPTED: _l("Accepted"),
    Status.IN_PROGRESS: _l("In progress"),
    Status.RESOLVED: _l("Resolved"),
    Status.REJECTED: _l("Rejected"),
    Status.FORWARDED: _l("Forwarded to another unit"),
}


#: Every status value, for quick membership checks.
STATUS_VALUES = frozenset(s.value for s in Status)


class Report(db.Model):
    """A resident's report of a problem in public space (Open311 ``service_request``).

    Coordinates are WGS84 degrees; timestamps are UTC. ``description`` is what the resident
    typed; ``public_description`` is what the public sees (operators may moderate it).
    """

    __tablename__ = "service_request"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # UUID made by the phone; a repeated POST with the same value returns this report.
    client_id: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    service_code: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    public_description: Mapped[str] = mapped_column(Text, nullable=False)
    lat: Mapped[float] = mapped_column(Float, nullable=False)
    long: Mapped[float] = mapped_column(Float, nullable=False)
    # "device" (geolocation), "photo" (EXIF GPS), "manual" (typed or picked on the map)
    location_source: Mapped[str] = mapped_column(String(16), nullable=False, default="manual")
    address_string: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(254))
    consent_version: Mapped[str | None] = mapped_column(String(32))
    consent_text: Mapped[str | None] = mapped_column(Text)
    consent_at: Mapped[object | None] = mapped_column(UTCDateTime())
    # Language of the page the report was sent from (pl/en/uk): notices are written in it.
    language: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(32), index=True, nullable=False)
    agency_responsible: Mapped[str | None] = mapped_column(String(64), index=True)
    # Which routing rule matched ("category:ROAD_POTHOLE", "area:<id>"); the words for it are
    # made when shown, in the reader's language (webapp.routing.services.explain).
    routing_rule: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    tracking_token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    requested_at: Mapped[object] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[object] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    # Answers to the category's extra questions (routing.toml ``attributes``), by variable code:
    # {"pole_number": "A-12", "blocks_road": "yes"}; the form and Open311 attribute[...] alike.
    attributes: Mapped[dict | None] = mapped_column(JSON)
    # The Open311 app (ApiKey below) that filed it; None for the portal's form.
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id", ondelete="SET NULL"),
                                                   index=True)
    # Optimistic locking: two status changes racing on one report cannot both win (the loser's
    # UPDATE matches no row and raises StaleDataError; the caller reloads and decides again).
    version_id: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")

    __mapper_args__ = {"version_id_col": version_id}
    # The public list and Open311 filter by category and/or status and read newest first: each
    # index matches one filter combination and the order, so a page is an index range, not a
    # sort of every match (bench/README.md). updated_at: the Last-Modified of Open311 answers.
    __table_args__ = (
        Index("ix_service_request_requested_at_id", "requested_at", "id"),
        Index("ix_service_request_code_requested", "service_code", "requested_at", "id"),
        Index("ix_service_request_status_requested", "status", "requested_at", "id"),
        Index("ix_service_request_code_status_requested", "service_code", "status",
              "requested_at", "id"),
        Index("ix_service_request_updated_at", "updated_at"),
    )

    photos = relationship("Photo", back_populates="report", order_by="Photo.position",
                          cascade="all, delete-orphan")
    history = relationship("StatusChange", back_populates="report",
                           order_by="StatusChange.id", cascade="all, delete-orphan")
    # Loaded on access (few pages show it; a null key costs no query): joined into every
    # select it kept PostgreSQL from reading the public list in index order.
    api_key = relationship("ApiKey")

    @property
    def status_enum(self) -> Status:
        return Status(self.status)

    @property
    def number(self) -> str:
        """Human report number shown to residents, e.g. ``"ŁCKzM/2026/42"``."""
        return f"{self.requested_at.year}/{self.id}"


class StatusChange(db.Model):
    """One entry of a report's history: who (``actor_kind``/``actor_id``), when (UTC), what."""

    __tablename__ = "status_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("service_request.id", ondelete="CASCADE"),
                                           index=True, nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    # Public note shown on the report page (e.g. the reason of a rejection).
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # "system", "unit", "operator"; actor_id names the unit or operator.
    actor_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    actor_id: Mapped[str | None] = mapped_column(String(64))
    # Unit responsible after this change (differs from before when forwarded).
    agency_responsible: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[object] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    report = relationship("Report", back_populates="history")

    @property
    def status_enum(self) -> Status:
        return Status(self.status)


class ApiKey(db.Model):
    """The key of an app that files reports through Open311 (webapp.open311.apikeys issues
    and checks them; a report names its key in ``api_key_id``). One app's key. Only the SHA-256 hex digest of the token is kept (the token is shown once,
    when made); ``rate_limit`` is a Flask-Limiter string (``"100 per hour;10 per minute"``) or
    None for the ``OPEN311_KEY_RATE_LIMIT`` default; ``revoked_at`` set means refused."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    contact: Mapped[str] = mapped_column(String(254), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    rate_limit: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[object] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    revoked_at: Mapped[object | None] = mapped_column(UTCDateTime())
