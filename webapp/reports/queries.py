"""Read-only queries behind the public pages and the Open311 API.

Everything here returns :class:`~webapp.reports.models.Report` objects; what of them may be shown
publicly is decided by :func:`public_description` and :func:`public_photos` (never ``email``,
``consent_*``, ``client_id``, the raw ``description`` nor ``tracking_token_hash``).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, text
from sqlalchemy.orm import selectinload

from webapp.clock import utcnow
from webapp.extensions import db
# Ids are 32-bit integers in PostgreSQL (MAX_ID = 2**31 - 1); larger numbers cannot name a
# report (and would make the database raise instead of answering "not found").
from webapp.inputs import MAX_ID
from webapp.photos.models import Photo
from webapp.reports.models import Report, Status, StatusChange

PER_PAGE = 20
# GeoReport v2: "the default query should return the last 90 days"; we also cap one answer.
OPEN311_DEFAULT_DAYS = 90
OPEN311_MAX_RESULTS = 1000

#: The two Open311 statuses as sets of our own status values.
OPEN311_STATUS_VALUES: dict[str, tuple[str, ...]] = {
    "open": tuple(s.value for s in Status if s.open311 == "open"),
    "closed": tuple(s.value for s in Status if s.open311 == "closed"),
}


@dataclass
class ReportFilters:
    """Filters of the public list, already checked.

    ``service_code`` is a code known to the routing config or None; ``status`` is one of our
    :class:`Status` values, ``"open"``/``"closed"`` (Open311 grouping) or None; ``page`` counts
    from 1. ``messages`` holds translated, gentle explanations of values that were ignored.
    """

    service_code: str | None = None
    status: str | None = None
    page: int = 1
    messages: list[str] = field(default_factory=list)
    asked_page: int | None = None  # the page number as asked, before clamping

    def query_args(self, **changes) -> dict[str, str | int]:
        """URL query arguments reproducing these filters (for links), with ``changes`` applied;
        empty values are left out so URLs stay short."""
        args = {"service_code": self.service_code, "status": self.status, "page": self.page}
        args.update(changes)
        if args.get("page") == 1:
            args.pop("page")
        return {k: v for k, v in args.items() if v not in (None, "")}


def status_filter_values() -> tuple[str, ...]:
    """Every value accepted by the ``status`` filter: ``open``, ``closed`` and our statuses."""
    return ("open", "closed", *(s.value for s in Status))


def parse_filters(args: Mapping[str, str], known_codes: Iterable[str]) -> ReportFilters:
    """Read ``service_code``, ``status`` and ``page`` from query ``args``.

    Never raises: an unknown category code, an unknown status, or a page that is not a whole
    number of at least 1 is dropped (page falls back to 1) and a message saying so is added.
    """
    filters = ReportFilters()
    code = (args.get("service_code") or "").strip()
    if code:
        if code in set(known_codes):
            filters.service_code = code
        else:
            filters.messages.append(str(_l("Unknown category: showing all categories.")))
    status = (args.get("status") or "").strip()
    if status:
        if status in status_filter_values():
            filters.status = status
        else:
            filters.messages.append(str(_l("Unknown status: showing every status.")))
    raw_page = (args.get("page") or "").strip()
    if raw_page:
        try:
            page = int(raw_page)
        except ValueError:
            page = 0
        if page >= 1:
            # A huge page would overflow OFFSET; list_reports clamps it to the last page.
            filters.page = min(page, MAX_ID // PER_PAGE)
            filters.asked_page = page
        else:
            filters.messages.append(str(_l("There is no such page: showing the first page.")))
    return filters


def _status_values(status: str) -> tuple[str, ...]:
    return OPEN311_STATUS_VALUES.get(status, (status,))


@dataclass
class Page:
    """One page of the public list: ``items`` (reports, photos loaded), ``page`` (from 1),
    ``per_page``, ``total`` (matching reports) and the derived ``pages``, ``has_prev``,
    ``has_next``, ``prev_num``, ``next_num`` (the names of Flask-SQLAlchemy's Pagination)."""

    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None


@dataclass(frozen=True)
class DataVersion:
    """What changes whenever a public answer may change: the newest report id, the newest
    status change id and the latest ``updated_at`` (aware UTC, None on an empty table). Each is
    one index lookup (primary keys and ``ix_service_request_updated_at``)."""

    report_id: int
    change_id: int
    updated_at: datetime | None

    @property
    def tag(self) -> str:
        stamp = self.updated_at.timestamp() if self.updated_at else 0
        return f"{self.report_id}-{self.change_id}-{stamp:.6f}"


_VERSION_SQL = text("SELECT (SELECT max(id) FROM service_request), (SELECT max(id) FROM status_change),"
                    " (SELECT max(updated_at) FROM service_request)")


def data_version() -> DataVersion:
    """The current :class:`DataVersion` (one query of three index lookups)."""
    # Plain SQL: the same statement built with select() cost ~8 ms a call to compile and type.
    row = db.session.execute(_VERSION_SQL).one()
    updated = row[2]
    if isinstance(updated, str):  # SQLite hands max() of the column back as text
        updated = datetime.fromisoformat(updated)
    if updated is not None and updated.tzinfo is None:
        updated = updated.replace(tzinfo=timezone.utc)
    return DataVersion(row[0] or 0, row[1] or 0, updated)


# Counts of the public list per (filters, data version), per app and process: counting every
# matching row costs a scan (120 ms at a million on PostgreSQL); it is only redone after a change.
_COUNT_CACHE_SIZE = 256


def _cached_count(stmt, key: tuple) -> int:
    cache = current_app.extensions.setdefault("reports.list_counts", {})
    total = cache.get(key)
    if total is None:
        total = db.session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        if len(cache) >= _COUNT_CACHE_SIZE:
            cache.clear()
        cache[key] = total
    return total


def list_reports(filters: ReportFilters, per_page: int = PER_PAGE) -> Page:
    """One page of reports matching ``filters``, newest first (``requested_at``, then id).

    Returns a :class:`Page`. A page past the last one is replaced by the last page, and
    ``filters.page`` and ``filters.messages`` are updated to say so. Queries: the data version,
    the count (only when the data changed since it was last counted), the page, its photos;
    the page is read through the composite indexes ``(service_code, status, requested_at,
    id)`` and friends (migration ``e1f2a3b4c5d6``).
    """
    where = []
    if filters.service_code:
        where.append(Report.service_code == filters.service_code)
    if filters.status:
        where.append(Report.status.in_(_status_values(filters.status)))
    version = data_version()
    total = _cached_count(select(Report.id).where(*where),
                          (filters.service_code,
                           filters.status, version.tag))
    pages = max(1, -(-total // per_page))
    if filters.page > pages:
        if filters.page > 1:
            filters.messages.append(str(_l("There is no page %(asked)s: showing page %(page)s.",
                                           asked=filters.asked_page or filters.page, page=pages)))
        filters.page = pages
    stmt = (select(Report).where(*where)
            .options(selectinload(Report.photos))
            .order_by(Report.requested_at.desc(), Report.id.desc())
            .limit(per_page).offset((filters.page - 1) * per_page))
    items = list(db.session.execute(stmt).scalars())
    return Page(items=items, page=filters.page, per_page=per_page, total=total)


def get_report(report_id: int) -> Report | None:
    """The report with this id with its photos and history loaded, or None (also for ids
    outside the database's integer range)."""
    if not 1 <= report_id <= MAX_ID:
        return None
    stmt = (select(Report).where(Report.id == report_id)
            .options(selectinload(Report.photos), selectinload(Report.history)))
    return db.session.execute(stmt).scalar_one_or_none()


#: Columns of a report that Open311 ``requests.json`` shows (never email, consent, client_id,
#: the raw description nor the tracking hash).
OPEN311_COLUMNS = (Report.id, Report.status, Report.service_code, Report.public_description,
                   Report.agency_responsible, Report.requested_at, Report.updated_at,
                   Report.address_string, Report.lat, Report.long)


@dataclass
class Open311Row:
    """One report of an Open311 answer: ``report`` (a :class:`Report` with photos and history
    loaded when asked ``full``, else a plain row of :data:`OPEN311_COLUMNS`), ``note`` (the
    latest status change's public note or None) and ``photo_id`` (the first public photo's id,
    as :func:`public_photos` decides, or None)."""

    report: object
    note: str | None
    photo_id: int | None

    @classmethod
    def of(cls, report: Report) -> "Open311Row":
        """The row of a loaded report (its history and photos are read)."""
        photos = public_photos(report)
        return cls(report, latest_note(report), photos[0].id if photos else None)


def open311_requests(*, ids: list[int] | None = None, codes: list[str] | None = None,
                     start: datetime | None = None, end: datetime | None = None,
                     status: str | None = None, page: int = 1,
                     page_size: int = OPEN311_MAX_RESULTS, full: bool = False) -> list[Open311Row]:
    """Reports for GeoReport v2 ``GET requests`` as :class:`Open311Row`, newest first, page
    ``page`` (from 1) of ``page_size``.

    ``start``/``end`` are aware datetimes bounding ``requested_at`` (inclusive). As the
    GeoReport v2 spec says, when ``ids`` is given (not None) every other filter is ignored.
    Otherwise, without ``start``, the window is the ``OPEN311_DEFAULT_DAYS`` days before ``end``
    (or now). ``status`` is ``"open"`` or ``"closed"``.

    ``full`` (the ``extensions=true`` answer, which needs every status change) loads whole
    reports. Without it, three queries whatever the page size: the needed columns only
    (through the composite indexes), the notes of the latest status changes, the photos.
    """
    stmt = (select(Report).options(selectinload(Report.photos), selectinload(Report.history))
            if full else select(*OPEN311_COLUMNS))
    stmt = _open311_where(stmt.order_by(Report.requested_at.desc(), Report.id.desc())
                          .limit(page_size).offset((page - 1) * page_size),
                          ids=ids, codes=codes, start=start, end=end, status=status)
    if full:
        return [Open311Row.of(report) for report in db.session.execute(stmt).scalars()]
    reports = db.session.execute(stmt).all()
    if not reports:
        return []
    page_ids = [r.id for r in reports]
    latest = (select(func.max(StatusChange.id)).where(StatusChange.report_id.in_(page_ids))
              .group_by(StatusChange.report_id))
    notes = dict(db.session.execute(select(StatusChange.report_id, StatusChange.note)
                                    .where(StatusChange.id.in_(latest))).all())
    photos: dict[int, list[Photo]] = {}
    for photo in db.session.scalars(select(Photo).where(Photo.report_id.in_(page_ids))
                                    .order_by(Photo.position, Photo.id)):
        photos.setdefault(photo.report_id, []).append(photo)
    rows = []
    for r in reports:
        shown = _shown_photos(r.status, photos.get(r.id, []))
        rows.append(Open311Row(r, notes.get(r.id) or None, shown[0].id if shown else None))
    return rows


def _open311_where(stmt, *, ids, codes, start, end, status):
    if ids is not None:
        return stmt.where(Report.id.in_([i for i in ids if 1 <= i <= MAX_ID]))
    if start is None:
        try:
            start = (end or utcnow()) - timedelta(days=OPEN311_DEFAULT_DAYS)
        except OverflowError:  # an end in the first 90 days of year 1
            start = datetime.min.replace(tzinfo=timezone.utc)
    stmt = stmt.where(Report.requested_at >= start)
    if end is not None:
        stmt = stmt.where(Report.requested_at <= end)
    if codes:
        stmt = stmt.where(Report.service_code.in_(codes))
    if status:
        stmt = stmt.where(Report.status.in_(OPEN311_STATUS_VALUES[status]))
    return stmt


def description_is_public(report: Report) -> bool:
    """Whether the report's text and photos may be shown: not while an operator has still to
    check it (status ``awaiting_moderation``; regulamin pkt 6 forbids unlawful content)."""
    return report.status != Status.AWAITING_MODERATION.value


def public_description(report: Report) -> str | None:
    """The moderated description (``public_description``), or None while awaiting moderation."""
    return report.public_description if description_is_public(report) else None


#: Callables ``filter(photos) -> photos`` registered by the packages above this one (the
#: moderation panel drops the photos an operator hid), so this package imports none of them.
PHOTO_FILTERS: list = []


def public_photos(report: Report) -> list:
    """The report's photos whose public copies may be shown (none while awaiting moderation,
    none that :data:`PHOTO_FILTERS` drop)."""
    return _shown_photos(report.status, report.photos)


def _shown_photos(status: str, photos) -> list:
    if status == Status.AWAITING_MODERATION.value:
        return []
    photos = list(photos)
    for keep in PHOTO_FILTERS:
        photos = keep(photos)
    return photos


def latest_note(report: Report) -> str | None:
    """The public note of the latest status change (GeoReport ``status_notes``: why the status
    became what it is), or None when that change carried no note."""
    if not report.history:
        return None
    return report.history[-1].note or None


def actor_label(config, change) -> str:
    """Who made a status change, for the public: the unit's name (from the routing ``config``),
    "operator" or "system".

    Operators are never named publicly (they are people; only their role is shown)."""
    if change.actor_kind == "unit":
        return config.unit_name(change.actor_id or change.agency_responsible) or \
            str(_l("city unit"))
    if change.actor_kind == "operator":
        return str(_l("operator"))
    return str(_l("system"))


def timeline(config, report) -> list[tuple]:
    """The report's status history for ``_timeline.html``: ``(StatusChange, who, unit after the
    change)`` triples, oldest first, with names from the routing ``config``."""
    return [(change, actor_label(config, change), config.unit_name(change.agency_responsible))
            for change in report.history]
