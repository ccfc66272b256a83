"""Submitting a report: the domain rules, independent of HTTP, and the private tracking token.

One call (:func:`submit_report`) answers a replayed ``client_id`` with the first report, checks
the photos by content, checks every rule (category, photo count, consent, the location inside
Łódź, on every path: form, API, replayed draft), routes the report per ``routing.toml``,
stores it with its photos and history, announces it
(:data:`~webapp.reports.signals.report_submitted`) and, for an "auto" category, dispatches it
to the unit (:func:`~webapp.reports.lifecycle.dispatch_report`), all in one transaction.

Tracking links need no account: the token is an HMAC of the report's ``client_id`` under
``SECRET_KEY``, so a replayed POST (same ``client_id``) and a later e-mail show the same link
again, while only its SHA-256 is stored.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import math
import uuid
from dataclasses import dataclass, field

from flask import current_app, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.clock import utcnow
from webapp.extensions import db
from webapp.geo.boundary import Boundary, LocationError, validate_location
from webapp.photos.pipeline import MAX_BYTES, PhotoError, process_photo
from webapp.photos.services import save_photo
from webapp.photos.storage import StorageUnavailable
from webapp.reports import signals
from webapp.reports.lifecycle import dispatch_report
from webapp.reports.models import Report, Status, StatusChange
from webapp.routing.services import route
from flask import has_request_context
from flask_babel import get_locale

log = logging.getLogger(__name__)

#: Callables ``check(report) -> bool`` run on a new report before it is dispatched; any True
#: keeps it "awaiting moderation" (the moderation package registers its content rules here,
#: so this package never imports the packages above it).
HOLD_CHECKS: list = []

#: Callables ``subscribers(report) -> iterable of NoticeSubscriber``: people other than the
#: author who asked (with consent) to be told of the report's status changes. The citymap
#: package registers its "me too" supporters here; dispatch reads it to queue their e-mails,
#: so neither imports the other.
NOTICE_SUBSCRIBERS: list = []


@dataclass(frozen=True)
class NoticeSubscriber:
    """One extra recipient of status e-mails: ``key`` is stable and unique per report (it names
    the outbox message, e.g. ``"support-12"``), ``language`` a UI language code or None, and
    ``unsubscribe_endpoint`` / ``unsubscribe_values`` build the one-click unsubscribe URL."""

    key: str
    email: str
    language: str | None
    unsubscribe_endpoint: str
    unsubscribe_values: dict


class SubmissionError(ValueError):
    """The submission cannot be accepted. ``errors`` maps a form field name (``"lat"``,
    ``"media"``, ``"consent"``, ...) to a list of user-facing messages."""

    def __init__(self, errors: dict[str, list]):
        super().__init__("; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class ReportInput:
    """What a resident sends. Coordinates are WGS84 degrees as given (str or float, may be
    empty); ``photos`` are already processed (:class:`webapp.photos.pipeline.ProcessedPhoto`)."""

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
    uploads: list = field(default_factory=list)
    errors: dict = field(default_factory=dict)
    # Answers to the category's extra questions by variable code (routing.toml attributes).
    attributes: dict = field(default_factory=dict)
    # The Open311 app's key (webapp.open311) when an app filed it; None for the portal's form.
    api_key_id: int | None = None


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


def _language() -> str | None:
    """The language of the current request (notices to the resident are written in it)."""
    return str(get_locale()) if has_request_context() and get_locale() else None


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


ATTRIBUTE_TEXT_MAX = {"string": 255, "text": 2000, "number": 40}


def check_attributes(service, answers: dict) -> tuple[dict, list]:
    """Check the answers to ``service``'s extra questions (routing.toml ``attributes``).

    ``answers`` maps attribute codes to a string (a list for a multivaluelist; a list with one
    item is taken as that item). Returns ``(cleaned, messages)``: the answers to known
    questions only, stripped (a number as given, checked to parse), and one message per
    problem (a required question unanswered, a choice not listed, not a number, too long).
    """
    lang = _language() or "pl"
    cleaned, messages = {}, []
    for attribute in service.attributes:
        question = attribute.description(lang)
        before = len(messages)
        value = answers.get(attribute.code)
        keys = [v.key for v in attribute.values]
        if attribute.datatype == "multivaluelist":
            items = [str(v).strip() for v in (value if isinstance(value, list) else [value])
                     if v is not None and str(v).strip()]
            if any(item not in keys for item in items):
                messages.append(_l("Choose from the listed answers to: %(q)s", q=question))
            elif items:
                cleaned[attribute.code] = items
        else:
            if isinstance(value, list):
                value = value[0] if len(value) == 1 else None
            text = str(value).strip() if value is not None else ""
            if not text:
                pass
            elif attribute.values and text not in keys:
                messages.append(_l("Choose from the listed answers to: %(q)s", q=question))
            elif len(text) > ATTRIBUTE_TEXT_MAX.get(attribute.datatype, 255):
                messages.append(_l("The answer to “%(q)s” is too long.", q=question))
            elif attribute.datatype == "number" and not _is_number(text):
                messages.append(_l("The answer to “%(q)s” must be a number.", q=question))
            else:
                cleaned[attribute.code] = text
        if attribute.required and attribute.code not in cleaned and len(messages) == before:
            messages.append(_l("Answer the question: %(q)s", q=question))
    return cleaned, messages


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text.replace(",", ".")))
    except ValueError:
        return False


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
    else:
        data.attributes, attribute_errors = check_attributes(service, data.attributes or {})
        if attribute_errors:
            errors["attributes"] = attribute_errors
    if len(data.photos) > max_photos:
        errors["media"] = [_too_many_photos(max_photos)]
    if (data.email or "").strip() and not data.consent:
        errors["consent"] = [_l("To receive updates by e-mail, tick the consent box. "
                                "Without an e-mail you can send the report anonymously.")]
    location = None
    try:
        location = resolve_location(data, boundary)
    except SubmissionError as e:
        errors.update(e.errors)
    return service, location, errors


def read_photos(uploads, *, max_photos: int, max_bytes: int) -> tuple[list, list]:
    """Check ``uploads`` (``(filename, file object)`` pairs) by content and process them.

    Returns ``(photos, messages)``: :class:`~webapp.photos.pipeline.ProcessedPhoto` objects and
    one message per refused file (naming it). More than ``max_photos`` files are refused as a
    whole, before any is decoded; at most ``max_bytes + 1`` bytes of a file are read.
    """
    if len(uploads) > max_photos:
        return [], [_too_many_photos(max_photos)]
    photos, messages = [], []
    for filename, stream in uploads:
        try:
            photos.append(process_photo(stream.read(max_bytes + 1), filename=filename,
                                        max_bytes=max_bytes))
        except PhotoError as e:
            messages.append(f"{filename}: {e.message}")
    return photos, messages


def _too_many_photos(n: int):
    return _l("You can attach at most %(n)d photos.", n=n)


def _client_id(value) -> str | None:
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        return None


def _all_errors(data: ReportInput, *, routing, boundary, max_photos: int, max_photo_bytes: int):
    """Process the uploads and check every rule; return ``(service, location, errors)`` with the
    parse errors first (the form's message for a field wins)."""
    errors = {k: list(v) for k, v in data.errors.items()}
    if _client_id(data.client_id) is None:
        errors.setdefault("client_id", [_l("The form is missing its identifier. "
                                           "Reload the page and send it again.")])
    if data.uploads:
        data.photos, photo_errors = read_photos(data.uploads, max_photos=max_photos,
                                                max_bytes=max_photo_bytes)
        if photo_errors:
            errors.setdefault("media", []).extend(photo_errors)
    service, location, rule_errors = check_report(data, routing=routing, boundary=boundary,
                                                  max_photos=max_photos)
    for name, messages in rule_errors.items():
        errors.setdefault(name, messages)
    return service, location, errors


def submit_report(data: ReportInput, *, routing, boundary: Boundary, consent_text: str,
                  consent_version: str, secret_key: str, max_photos: int = 5,
                  max_photo_bytes: int = MAX_BYTES) -> Submitted:
    """Create a report, or return the existing one for a replayed ``client_id``.

    Idempotent on ``client_id``: a repeated call (a phone retrying an upload) creates nothing and
    returns the first report with ``created=False``, even when two calls race (the unique
    constraint decides); a replay is answered before anything is checked. Commits. Raises
    :class:`SubmissionError` with every problem at once: the parse errors in ``data.errors``, a
    missing ``client_id``, refused photos, unknown category, location outside Łódź or missing,
    too many photos, e-mail without consent; and
    :class:`webapp.photos.storage.StorageUnavailable` (nothing stored) when photo files cannot
    be written.
    """
    client_id = _client_id(data.client_id)
    existing = find_by_client_id(client_id) if client_id else None
    if existing is not None:
        return Submitted(existing, False, tracking_token(client_id, secret_key))
    service, location, errors = _all_errors(data, routing=routing, boundary=boundary,
                                            max_photos=max_photos,
                                            max_photo_bytes=max_photo_bytes)
    if errors:
        raise SubmissionError(errors)
    token = tracking_token(client_id, secret_key)
    report, mode = _new_report(data, client_id, service, location, token=token,
                               routing=routing, consent_text=consent_text,
                               consent_version=consent_version)
    db.session.add(report)
    try:
        db.session.flush()  # the report id names the photo rows; a racing twin fails here
        _store(report, data.photos, mode=mode, routing=routing)
        db.session.commit()
    except StorageUnavailable:
        db.session.rollback()
        raise
    except IntegrityError:
        db.session.rollback()
        existing = find_by_client_id(client_id)
        if existing is None:
            raise
        return Submitted(existing, False, token)
    log.info("report %s created: %s -> %s (%s)", report.id, report.service_code,
             report.agency_responsible, report.routing_rule)
    return Submitted(report, True, token)


def _new_report(data: ReportInput, client_id: str, service, location, *, token: str, routing,
                consent_text: str, consent_version: str) -> tuple[Report, str]:
    """The new report row (not yet added) and its routing mode ("auto"/"operator")."""
    lat, long, source = location
    email = (data.email or "").strip() or None
    decision = route(routing, service.code, lat, long)
    now = utcnow()
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
        language=_language(),
        status=Status.AWAITING_MODERATION.value,
        agency_responsible=decision.unit_id,
        routing_rule=decision.rule,
        tracking_token_hash=token_hash(token),
        attributes=dict(data.attributes) or None,
        api_key_id=data.api_key_id,
        requested_at=now,
        updated_at=now,
    )
    return report, decision.mode


def _store(report: Report, photos, *, mode: str, routing) -> None:
    """Save the photos and the first history entry; dispatch an "auto" report at once unless a
    :data:`HOLD_CHECKS` check (content rules) holds it for an operator."""
    for position, photo in enumerate(photos):
        save_photo(photo, report=report, position=position)
    held = any([check(report) for check in HOLD_CHECKS])  # a list: every check records
    if mode == "auto" and not held:
        dispatch_report(report, routing=routing)
    else:
        db.session.add(StatusChange(report=report, status=Status.AWAITING_MODERATION.value,
                                    note="", actor_kind="system", actor_id=None,
                                    agency_responsible=report.agency_responsible,
                                    created_at=report.requested_at))
    # After the decision, so listeners see whether the report waits for an operator.
    signals.report_submitted.send(report, routing=routing)


# --------------------------------------------------------------------------- tracking

def tracking_token(client_id: str, secret_key: str | None = None) -> str:
    """Return the URL-safe tracking token (43 hex chars) for ``client_id``: an HMAC-SHA256
    under ``secret_key`` (default: the current app's ``SECRET_KEY``)."""
    key = (secret_key or current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"tracking:" + client_id.encode(), hashlib.sha256).hexdigest()[:43]


def token_hash(token: str) -> str:
    """SHA-256 hex digest of a tracking token: what the database keeps."""
    return hashlib.sha256(token.encode()).hexdigest()


def tracking_url(report, *, external: bool = True) -> str:
    """Absolute URL of the report's private tracking page (``PUBLIC_BASE_URL`` based when
    ``external``, for e-mails sent by the worker outside a request)."""
    path = url_for("reports.track", token=tracking_token(report.client_id))
    if external:
        return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path
    return path


def consent_today(lang: str) -> tuple[str, str]:
    """``(version, text)`` of the consent a resident gives today in language ``lang`` (the
    report form and "me too" alike): the published one (``app.extensions["consent"]``,
    registered by webapp.information, which sits above reports), else the config's version
    (never empty: a stored version is what marks an address as consented) and the gettext text.
    Needs an app context."""
    published = current_app.extensions.get("consent")
    found = published(lang) if published else None
    if found:
        return found
    return (current_app.config.get("CONSENT_VERSION") or "unpublished",
            _("I agree to the processing of my e-mail address to receive updates about this report."))
