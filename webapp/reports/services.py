"""Submitting a report: the domain rules, independent of HTTP.

One call validates the location (inside Łódź, on every path: form, API, replayed draft), routes
the report per ``routing.toml``, stores it with its photos and history, and, for an "auto"
category, queues the dispatch to the unit, all in one transaction.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.clock import utcnow
from webapp.extensions import db
from webapp.geo.boundary import Boundary, LocationError, validate_location
from webapp.reports.models import Report, Status, StatusChange
from webapp.reports.tracking import token_hash, tracking_token

log = logging.getLogger(__name__)

#: Callables ``check(report) -> bool`` run on a new report before it is dispatched; any True
#: keeps it "awaiting moderation" (the moderation package registers its content rules here,
#: so this package never imports the packages above it).
HOLD_CHECKS: list = []


class SubmissionError(ValueError):
    """The submission cannot be accepted. ``errors`` maps a form field name (``"lat"``,
    ``"media"``, ``"consent"``, ...) to a list of user-facing messages."""

    def __init__(self, errors: dict[str, list]):
        super().__init__("; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class ReportInput:
    """What a resident sends. Coordinates are WGS84 degrees as given (str or float, may be
    empty); ``photos`` are already processed (:class:`webapp.photos.services.ProcessedPhoto`)."""

    client_id: str
    service_code: str
    description: str
    lat: str | float | None = None
    long: str | float | None = None
    location_source: str = "manual"
    address_string: str | None = None
    email: str | None = None
    consent: bool = False
    photos: list = field(default_factory=list)


@dataclass
class Submitted:
    """Result of :func:`submit_report`: the report, whether this call created it (False for a
    replay of the same ``client_id``), and its private tracking token."""

    report: Report
    created: bool
    tracking_token: str


def find_by_client_id(client_id: str) -> Report | None:
    """The report created from this phone-made UUID, if any."""
    return db.session.scalar(select(Report).where(Report.client_id == client_id))


def find_by_tracking_token(token: str) -> Report | None:
    """The report whose private tracking token is ``token`` (compared by SHA-256)."""
    return db.session.scalar(select(Report).where(Report.tracking_token_hash == token_hash(token)))


def resolve_location(data: ReportInput, boundary: Boundary) -> tuple[float, float, str]:
    """Decide where the problem is: the coordinates given, else the first photo's EXIF GPS.

    Returns (lat, long, source) in WGS84 degrees, ``source`` one of "device", "manual",
    "photo". Raises :class:`SubmissionError` (field ``lat``) when there is none, it is nonsense
    (out of range, 0,0) or it is outside Łódź; a photo position outside Łódź is named as such.
    """
    given = (data.lat not in (None, "")) or (data.long not in (None, ""))
    source = data.location_source if data.location_source in ("device", "manual", "photo") else "manual"
    if given:
        try:
            lat, long = validate_location(data.lat, data.long, boundary)
        except LocationError as e:
            if source == "photo":  # the phone filled the fields from the photo's GPS
                raise SubmissionError({"lat": [_photo_outside(data.lat, data.long)]}) from None
            raise SubmissionError({"lat": [e.message]}) from None
        return lat, long, source
    for photo in data.photos:
        if photo.gps_lat is None or photo.gps_long is None:
            continue
        try:
            lat, long = validate_location(photo.gps_lat, photo.gps_long, boundary)
        except LocationError:
            raise SubmissionError({"lat": [_photo_outside(photo.gps_lat, photo.gps_long)]}) from None
        return lat, long, "photo"
    raise SubmissionError({"lat": [_l("Give the location: use your location, enter it, or attach "
                                      "a photo with a GPS position.")]})


def _photo_outside(lat, long):
    try:
        lat, long = float(str(lat).replace(",", ".")), float(str(long).replace(",", "."))
    except ValueError:
        lat = long = float("nan")
    return _l("The photo's GPS position (%(lat).5f, %(long).5f) is outside Łódź. Set the location "
              "of the problem yourself: use your location or enter it.", lat=lat, long=long)


def check_report(data: ReportInput, *, routing, boundary: Boundary, max_photos: int = 5):
    """Check the domain rules of a submission without storing anything.

    Returns ``(service, (lat, long, location_source) or None, errors)`` where ``errors`` maps
    field names to messages (empty when the submission may be stored). Lets the form show every
    problem at once (the category, the location, consent) instead of one round at a time.
    """
    errors: dict[str, list] = {}
    service = routing.service(data.service_code)
    if service is None:
        errors["service_code"] = [_l("Choose a category from the list.")]
    if len(data.photos) > max_photos:
        errors["media"] = [_l("You can attach at most %(n)d photos.", n=max_photos)]
    if (data.email or "").strip() and not data.consent:
        errors["consent"] = [_l("To receive updates by e-mail, tick the consent box. "
                                "Without an e-mail you can send the report anonymously.")]
    location = None
    try:
        location = resolve_location(data, boundary)
    except SubmissionError as e:
        errors.update(e.errors)
    return service, location, errors


def submit_report(data: ReportInput, *, routing, boundary: Boundary, consent_text: str,
                  consent_version: str, max_photos: int = 5, secret_key: str | None = None) -> Submitted:
    """Create a report, or return the existing one for a replayed ``client_id``.

    Idempotent on ``client_id``: a repeated call (a phone retrying an upload) creates nothing and
    returns the first report with ``created=False``, even when two calls race (the unique
    constraint decides). Commits. Raises :class:`SubmissionError` for domain errors: unknown
    category, location outside Łódź or missing, too many photos, e-mail without consent.
    """
    try:
        client_id = str(uuid.UUID(data.client_id))
    except (ValueError, TypeError, AttributeError):
        raise SubmissionError({"client_id": [_l("The form is missing its identifier. "
                                                "Reload the page and send it again.")]}) from None
    existing = find_by_client_id(client_id)
    if existing is not None:
        return Submitted(existing, False, tracking_token(client_id, secret_key))

    service, location, errors = check_report(data, routing=routing, boundary=boundary,
                                             max_photos=max_photos)
    if errors:
        raise SubmissionError(errors)
    lat, long, source = location
    email = (data.email or "").strip() or None

    from webapp.routing.services import route
    decision = route(routing, service.code, lat, long)
    now = utcnow()
    token = tracking_token(client_id, secret_key)
    report = Report(
        client_id=client_id,
        service_code=service.code,
        description=data.description,
        public_description=data.description,
        lat=lat,
        long=long,
        location_source=source,
        address_string=(data.address_string or None),
        email=email,
        consent_version=consent_version if email else None,
        consent_text=consent_text if email else None,
        consent_at=now if email else None,
        status=Status.AWAITING_MODERATION.value,
        agency_responsible=decision.unit_id,
        routing_rule=decision.rule,
        routing_reason=decision.reason,
        tracking_token_hash=token_hash(token),
        requested_at=now,
        updated_at=now,
    )
    db.session.add(report)
    try:
        db.session.flush()  # the report id names the photo rows; a racing twin fails here
        from webapp.photos.services import save_photo
        for position, photo in enumerate(data.photos):
            save_photo(photo, report=report, position=position)
        held = any([check(report) for check in HOLD_CHECKS])  # a list: every check records
        if decision.mode == "auto" and not held:
            from webapp.reports.lifecycle import dispatch_report
            dispatch_report(report)
        else:
            db.session.add(StatusChange(report=report, status=Status.AWAITING_MODERATION.value,
                                        note="", actor_kind="system", actor_id=None,
                                        agency_responsible=decision.unit_id, created_at=now))
        from webapp.reports.signals import report_submitted
        report_submitted.send(report, routing=routing)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = find_by_client_id(client_id)
        if existing is None:
            raise
        return Submitted(existing, False, token)
    log.info("report %s created: %s -> %s (%s)", report.id, report.service_code,
             decision.unit_id, decision.rule)
    return Submitted(report, True, token)
