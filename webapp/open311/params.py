"""Parsing the query of GeoReport v2 ``GET requests`` (one function: :func:`parse_requests_query`).

Rules (http://wiki.open311.org/GeoReport_v2/#get-service-requests): ``service_request_id`` (comma
list; when given every other filter is ignored), ``service_code`` (comma list of known codes: an
unknown one is an error, not an empty list), ``start_date``/``end_date`` (W3C datetimes with a
zone; at most 90 days apart; the default window is the last 90 days), ``status`` (comma list of
``open``/``closed``), ``jurisdiction_id`` (must be the configured one when given), and the common
paging extension ``page`` (from 1) and ``page_size`` (default 50, at most 1000).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from flask_babel import gettext as _

from webapp.inputs import shown

WINDOW = timedelta(days=90)
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_DATE_ONLY = re.compile(r"^\d{4}-\d\d-\d\d$")


class Open311Error(Exception):
    """A failure shown to the client in the GeoReport error format (``code``, ``description``);
    ``code`` is the HTTP status."""

    def __init__(self, code: int, description: str):
        # The description may echo an id or parameter from the URL: no control characters.
        description = shown(description)
        super().__init__(description)
        self.code = code
        self.description = description


class BadParameter(Open311Error):
    """A query or form parameter the API cannot accept (HTTP 400)."""

    def __init__(self, description: str):
        super().__init__(400, description)


@dataclass
class RequestsQuery:
    """A checked ``GET requests`` query. ``start``/``end`` are aware UTC datetimes bounding
    ``requested_at`` inclusively; ``statuses`` is a subset of {"open", "closed"} (empty: both);
    ``ids`` is None unless ``service_request_id`` was given (then the rest is ignored)."""

    ids: list[int] | None = None
    codes: list[str] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    statuses: set[str] = field(default_factory=set)
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    extensions: bool = False


def parse_w3c_datetime(name: str, value: str) -> datetime:
    """Parse a W3C / ISO 8601 datetime parameter into an aware UTC datetime.

    A time must carry ``Z`` or an offset (the spec's format; a naive time is ambiguous, 400); a
    bare date (``2026-05-01``) means that day's midnight UTC. Raises :class:`BadParameter`
    naming ``name``, also for a moment outside the years 1-9999 once in UTC.
    """
    value = value.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadParameter(_("%(name)s is not an ISO 8601 date-time (for example "
                             "2026-05-01T00:00:00Z).", name=name)) from None
    if parsed.tzinfo is None:
        if not _DATE_ONLY.match(value):
            raise BadParameter(_("%(name)s needs a time zone (for example 2026-05-01T08:00:00Z "
                                 "or 2026-05-01T10:00:00+02:00).", name=name))
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:
        raise BadParameter(_("%(name)s is outside the supported range (years 1 to 9999 in UTC).",
                             name=name)) from None


def comma_list(value: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _request_ids(value: str) -> list[int]:
    ids = []
    for part in comma_list(value):
        if not (part.isascii() and part.isdigit()):
            raise BadParameter(_("service_request_id must be a comma-separated list of numbers."))
        # Longer numbers cannot be ids; 0 matches nothing.
        ids.append(int(part) if len(part) <= 12 else 0)
    return ids


def _positive_int(name: str, value: str | None, default: int, maximum: int) -> int:
    if value in (None, ""):
        return default
    if not (value.isascii() and value.isdigit()) or len(value) > 9 or int(value) < 1:
        raise BadParameter(_("%(name)s must be a whole number from 1.", name=name))
    if int(value) > maximum:
        raise BadParameter(_("%(name)s may be at most %(max)d.", name=name, max=maximum))
    return int(value)


def check_jurisdiction(args: Mapping[str, str], configured: str) -> None:
    """Raise :class:`Open311Error` 404 when ``jurisdiction_id`` is given and is not ours."""
    given = (args.get("jurisdiction_id") or "").strip()
    if given and given != configured:
        raise Open311Error(404, _("Unknown jurisdiction_id %(given)s: this endpoint serves "
                                  "%(ours)s.", given=given, ours=configured))


def is_true(value: str | None) -> bool:
    """``true``/``1``/``yes`` (any case) -> True."""
    return (value or "").strip().lower() in ("true", "1", "yes")


def parse_requests_query(args: Mapping[str, str], *, known_codes: Iterable[str],
                         jurisdiction_id: str, now: datetime) -> RequestsQuery:
    """Check every parameter of ``GET requests`` and return a :class:`RequestsQuery`.

    The 90-day rules: with neither date the window is the 90 days before ``now``; with one date
    the other is 90 days away from it; with both they may be at most 90 days apart and
    ``start_date`` not after ``end_date``. Raises :class:`BadParameter` (400) or
    :class:`Open311Error` (404 for another jurisdiction).
    """
    check_jurisdiction(args, jurisdiction_id)
    query = RequestsQuery(extensions=is_true(args.get("extensions")))
    query.page = _positive_int("page", args.get("page"), 1, 10**6)
    query.page_size = _positive_int("page_size", args.get("page_size"), DEFAULT_PAGE_SIZE,
                                    MAX_PAGE_SIZE)
    if (args.get("service_request_id") or "").strip():
        query.ids = _request_ids(args["service_request_id"])
        return query
    known = set(known_codes)
    query.codes = comma_list(args.get("service_code"))
    unknown = [code for code in query.codes if code not in known]
    if unknown:
        raise BadParameter(_("Unknown service_code: %(codes)s. See services.xml for the list.",
                             codes=", ".join(unknown)))
    query.statuses = set(comma_list(args.get("status")))
    if query.statuses - {"open", "closed"}:
        raise BadParameter(_("status must be open or closed."))
    query.start, query.end = _window(args, now)
    return query


def _window(args: Mapping[str, str], now: datetime) -> tuple[datetime, datetime]:
    start = parse_w3c_datetime("start_date", args["start_date"]) if args.get("start_date") else None
    end = parse_w3c_datetime("end_date", args["end_date"]) if args.get("end_date") else None
    if start is None and end is None:
        end, start = now, now - WINDOW
    elif start is None:
        try:
            start = end - WINDOW
        except OverflowError:  # an end in the first 90 days of year 1: an empty, valid window
            start = datetime.min.replace(tzinfo=timezone.utc)
    elif end is None:
        try:
            end = start + WINDOW
        except OverflowError:
            end = datetime.max.replace(tzinfo=timezone.utc)
    if start > end:
        raise BadParameter(_("start_date must not be later than end_date."))
    if end - start > WINDOW:
        raise BadParameter(_("start_date and end_date may be at most 90 days apart."))
    return start, end
