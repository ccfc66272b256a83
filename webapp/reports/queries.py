"""Read-only queries behind the public pages and the Open311 API.

Reports come back as :class:`~webapp.reports.models.Report` objects, or as plain rows of
chosen columns where a page shows many (the list's :class:`ListItem`, Open311's rows); what of
them may be shown publicly is decided by :func:`public_description` and :func:`public_photos`
(never ``email``, ``consent_*``, ``client_id``, the raw ``description`` nor
``tracking_token_hash``).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from flask import current_app
from flask_babel import lazy_gettext as _l
from jinja2.filters import do_truncate
from sqlalchemy import Integer, bindparam, func, literal, select, text, tuple_
from sqlalchemy.orm import selectinload

from webapp.clock import UTCDateTime, utcnow
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
    :class:`Status` values, ``"open"``/``"closed"`` (Open311 grouping) or None. ``before`` /
    ``after`` is the keyset cursor (:class:`Cursor`) of the page asked for: reports older than
    it, or newer than it; neither means the newest page. ``messages`` holds translated, gentle
    explanations of values that were ignored.
    """

    service_code: str | None = None
    status: str | None = None
    before: Cursor | None = None
    after: Cursor | None = None
    messages: list[str] = field(default_factory=list)

    def query_args(self, **changes) -> dict[str, str]:
        """URL query arguments reproducing these filters (for links; no cursor unless given in
        ``changes``, e.g. ``before=cursor.token``); empty values are left out."""
        args = {"service_code": self.service_code, "status": self.status, **changes}
        return {k: v for k, v in args.items() if v not in (None, "")}


@dataclass(frozen=True)
class Cursor:
    """A place in the list's order (newest first): a report's ``requested_at`` (aware UTC)
    and ``id``. In URLs as :attr:`token`, ``"<microseconds since 1970 UTC>-<id>"``."""

    requested_at: datetime
    id: int

    @property
    def token(self) -> str:
        delta = self.requested_at - _EPOCH
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        return f"{micros}-{self.id}"

    @classmethod
    def of(cls, report) -> "Cursor":
        """The cursor of a report, a list row or a :class:`ListItem`."""
        return cls(report.requested_at, report.id)

    @classmethod
    def parse(cls, raw: str | None) -> "Cursor | None":
        """The cursor in ``raw`` (a :attr:`token`), or None for anything else (never raises)."""
        match = _CURSOR_RE.fullmatch((raw or "").strip())
        if match is None:
            return None
        micros, ident = int(match.group(1)), int(match.group(2))
        if ident > MAX_ID:
            return None
        try:
            when = _EPOCH + timedelta(microseconds=micros)
        except OverflowError:
            return None
        return cls(when, ident) if 1 <= when.year <= 9999 else None


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Up to year 9999 in microseconds (18 digits) and an id of up to 10 digits.
_CURSOR_RE = re.compile(r"(\d{1,18})-(\d{1,10})")


def status_filter_values() -> tuple[str, ...]:
    """Every value accepted by the ``status`` filter: ``open``, ``closed`` and our statuses."""
    return ("open", "closed", *(s.value for s in Status))


def parse_filters(args: Mapping[str, str], known_codes: Iterable[str]) -> ReportFilters:
    """Read ``service_code``, ``status`` and the cursor ``before`` or ``after`` from query
    ``args``.

    Never raises: an unknown category code, an unknown status or a cursor that is not one is
    dropped (the newest page is shown) with a message saying so. ``page`` (the old numbered
    pages) is ignored, with a message unless it is 1.
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
    for key in ("before", "after"):
        raw = args.get(key)
        if raw:
            cursor = Cursor.parse(raw)
            if cursor is None:
                filters.messages.append(str(_l("This link is out of date: showing the newest reports.")))
                break
            setattr(filters, key, cursor)
    if filters.before and filters.after:
        filters.after = None  # a hand-made URL: "older" wins, it is the way down the list
    page = (args.get("page") or "").strip()
    if page and page != "1" and not (filters.before or filters.after):
        # Page numbers (OFFSET) were replaced by cursors; an old link or bookmark still works.
        filters.messages.append(str(_l("Page numbers are no longer used: showing the newest "
                                       "reports. Go on with “Older reports”.")))
    return filters


def _status_values(status: str) -> tuple[str, ...]:
    return OPEN311_STATUS_VALUES.get(status, (status,))


@dataclass
class Page:
    """One page of the public list, newest first: ``items`` (:class:`ListItem`),
    ``per_page``, ``total`` (matching reports, counted once per data version), and the cursors
    of the neighbouring pages, ``newer`` and ``older`` (None at either end)."""

    items: list
    per_page: int
    total: int
    newer: Cursor | None = None
    older: Cursor | None = None


@dataclass(frozen=True)
class DataVersion:
    """What changes whenever a public answer may change: the newest report id, the newest
    status change id, the latest ``updated_at`` (aware UTC, None on an empty table) and the
    newest id of each table in :data:`VERSION_TABLES` (``extra``). Each is one index lookup
    (primary keys and ``ix_service_request_updated_at``)."""

    report_id: int
    change_id: int
    updated_at: datetime | None
    extra: tuple[int, ...] = ()

    @property
    def tag(self) -> str:
        stamp = self.updated_at.timestamp() if self.updated_at else 0
        return "-".join((str(self.report_id), str(self.change_id), f"{stamp:.6f}",
                         *(str(n) for n in self.extra)))


#: Tables of domains above whose new rows change a public answer (Open311's ``support_count``
#: extension: citymap adds ``report_support``); each needs an integer primary key ``id``.
#: Appended to in ``init_app``, before any request.
VERSION_TABLES: list[str] = []
_VERSION_SQL: dict[tuple[str, ...], object] = {}


def _version_sql(tables: tuple[str, ...]):
    found = _VERSION_SQL.get(tables)
    if found is None:
        parts = ["(SELECT max(id) FROM service_request)", "(SELECT max(id) FROM status_change)",
                 "(SELECT max(updated_at) FROM service_request)"]
        parts += [f"(SELECT max(id) FROM {name})" for name in tables]  # names from code only
        found = _VERSION_SQL[tables] = text("SELECT " + ", ".join(parts))
    return found


def data_version() -> DataVersion:
    """The current :class:`DataVersion` (one query of index lookups)."""
    # Plain SQL: the same statement built with select() cost ~8 ms a call to compile and type.
    row = db.session.execute(_version_sql(tuple(VERSION_TABLES))).one()
    updated = row[2]
    if isinstance(updated, str):  # SQLite hands max() of the column back as text
        updated = datetime.fromisoformat(updated)
    if updated is not None and updated.tzinfo is None:
        updated = updated.replace(tzinfo=timezone.utc)
    return DataVersion(row[0] or 0, row[1] or 0, updated, tuple(n or 0 for n in row[3:]))


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
    """One page of reports matching ``filters``, newest first (``requested_at``, then id),
    paged by keyset: ``filters.before`` gives the ``per_page`` reports just older than that
    cursor, ``filters.after`` the ones just newer, neither the newest. No OFFSET, so any page
    costs the same; a page reached "newer" that is the top is the newest page (the list never
    starts short).

    Returns a :class:`Page`. Queries: the data version, the count (only when the data changed
    since it was last counted), the page (``per_page + 1`` plain rows of :data:`LIST_COLUMNS`,
    the extra one says whether there is more; no ORM objects: loading them was a quarter of the
    page's time, issue 12), its photos' ids and sizes; read through the composite indexes ``(service_code, status,
    requested_at, id)`` and friends (migration ``e1f2a3b4c5d6``).
    """
    where = []
    if filters.service_code:
        where.append(Report.service_code == filters.service_code)
    if filters.status:
        where.append(Report.status.in_(_status_values(filters.status)))
    version = data_version()
    total = _cached_count(select(Report.id).where(*where),
                          (filters.service_code, filters.status, version.tag))
    key = tuple_(Report.requested_at, Report.id)
    if filters.after is not None:
        newer = _rows(where + [key > _bound(filters.after)], per_page + 1, ascending=True)
        if len(newer) > per_page:
            items = _list_items(list(reversed(newer[:per_page])))
            return Page(items, per_page, total, newer=Cursor.of(items[0]),
                        older=Cursor.of(items[-1]))
        filters.after = None  # reached the top: show the newest page
    rows = _rows(where + [key < _bound(filters.before)], per_page + 1) \
        if filters.before is not None else []
    if not rows:  # the newest page, or a cursor past the end (its reports are gone)
        filters.before = None
        rows = _rows(where, per_page + 1)
    items = _list_items(rows[:per_page])
    return Page(items, per_page, total,
                newer=Cursor.of(items[0]) if items and filters.before is not None else None,
                older=Cursor.of(items[-1]) if len(rows) > per_page else None)


def _bound(cursor: Cursor):
    """The cursor as a typed row value (the column types convert the time for SQLite)."""
    return tuple_(literal(cursor.requested_at, UTCDateTime()), literal(cursor.id, Integer()))


#: Columns of a report that the public list shows (never email, consent, client_id, the raw
#: description nor the tracking hash).
LIST_COLUMNS = (Report.id, Report.service_code, Report.status, Report.requested_at,
                Report.address_string, Report.lat, Report.long, Report.public_description)

# The list's summary: the first characters of the public description, as Jinja's
# ``truncate(140)`` cut them before (same leeway and ellipsis, so the same HTML).
SUMMARY_LENGTH = 140
THUMB_BOX = 96


@dataclass(frozen=True, slots=True)
class ListItem:
    """One row of the public list, ready to show (no ORM object, nothing language-dependent):
    ``id``, ``number`` (e.g. ``"2026/42"``), ``service_code``, ``status`` (a :class:`Status`
    value), ``requested_at`` (aware UTC) and its ``iso`` text, ``place`` (the address, else
    "lat, long" to 5 decimals), ``summary`` (the public description cut to about 140
    characters, None while awaiting moderation) and ``thumb``: ``(photo id, width, height)`` of
    the first public photo scaled into a 96 px box, or None."""

    id: int
    number: str
    service_code: str
    status: str
    requested_at: datetime
    iso: str
    place: str
    summary: str | None
    thumb: tuple[int, int, int] | None


def _rows(where: list, limit: int, *, ascending: bool = False) -> list:
    order = ((Report.requested_at.asc(), Report.id.asc()) if ascending
             else (Report.requested_at.desc(), Report.id.desc()))
    stmt = select(*LIST_COLUMNS).where(*where).order_by(*order).limit(limit)
    return list(db.session.execute(stmt).all())


_LIST_PHOTOS = (select(Photo.id, Photo.report_id, Photo.width, Photo.height)
                .where(Photo.report_id.in_(bindparam("ids", expanding=True)))
                .order_by(Photo.position, Photo.id))


def _list_items(rows: list) -> list[ListItem]:
    """The page's plain rows as :class:`ListItem` (one query for the page's photos)."""
    if not rows:
        return []
    shown_ids = [r.id for r in rows if r.status != Status.AWAITING_MODERATION.value]
    photos: dict[int, list] = {}
    if shown_ids:
        found = db.session.execute(_LIST_PHOTOS, {"ids": shown_ids}).all()
        # The whole page through the filters at once (they drop photos one by one).
        for photo in _filtered_photos(found):
            photos.setdefault(photo.report_id, []).append(photo)
    env = current_app.jinja_env
    items = []
    for r in rows:
        shown = photos.get(r.id)
        thumb = None
        if shown:
            photo = shown[0]
            scale = THUMB_BOX / (max(photo.width, photo.height) or 1)
            thumb = (photo.id, int(round(photo.width * scale)), int(round(photo.height * scale)))
        text = r.public_description if r.status != Status.AWAITING_MODERATION.value else None
        summary = do_truncate(env, text, SUMMARY_LENGTH) if text is not None else None
        place = r.address_string or f"{r.lat:.5f}, {r.long:.5f}"
        items.append(ListItem(r.id, f"{r.requested_at.year}/{r.id}", r.service_code, r.status,
                              r.requested_at, r.requested_at.isoformat(), place, summary, thumb))
    return items


def get_report(report_id: int) -> Report | None:
    """The report with this id with its photos and history loaded, or None (also for ids
    outside the database's integer range)."""
    if not 1 <= report_id <= MAX_ID:
        return None
    stmt = (select(Report).where(Report.id == report_id)
            .options(selectinload(Report.photos), selectinload(Report.history)))
    return db.session.execute(stmt).scalar_one_or_none()


@dataclass
class ReportPage:
    """What the public page of one report shows: ``report`` (a :class:`Report`; its
    ``photos`` and ``history`` relationships are not loaded, read these instead), ``photos``
    (rows ``id, width, height`` of the photos that may be shown, in order) and ``history``
    (rows of its status changes, oldest first: ``status, created_at, note, actor_kind,
    actor_id, agency_responsible``)."""

    report: Report
    photos: list
    history: list


def report_page(report_id: int) -> ReportPage | None:
    """The :class:`ReportPage` of report ``report_id``, or None (also for ids outside the
    database's integer range). Three queries, the photos and history as plain rows: loading
    them as related objects (``selectinload``) was a quarter of the page's time (issue 12)."""
    if not 1 <= report_id <= MAX_ID:
        return None
    report = db.session.get(Report, report_id)
    if report is None:
        return None
    photos = [] if report.status == Status.AWAITING_MODERATION.value else \
        db.session.execute(_PAGE_PHOTOS, {"report_id": report_id}).all()
    history = db.session.execute(_PAGE_HISTORY, {"report_id": report_id}).all()
    return ReportPage(report, _filtered_photos(photos), history)


# Built once: constructing a select() costs more than running it on an index (issue 12).
_PAGE_PHOTOS = (select(Photo.id, Photo.width, Photo.height)
                .where(Photo.report_id == bindparam("report_id"))
                .order_by(Photo.position, Photo.id))
_PAGE_HISTORY = (select(StatusChange.status, StatusChange.created_at, StatusChange.note,
                        StatusChange.actor_kind, StatusChange.actor_id,
                        StatusChange.agency_responsible)
                 .where(StatusChange.report_id == bindparam("report_id"))
                 .order_by(StatusChange.id))


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
    return _filtered_photos(photos)


def _filtered_photos(photos) -> list:
    """``photos`` (objects or rows with an ``id``) that every :data:`PHOTO_FILTERS` keeps."""
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


def timeline(config, report, history=None) -> list[tuple]:
    """The report's status history for ``_timeline.html``: ``(StatusChange, who, unit after the
    change)`` triples, oldest first, with names from the routing ``config``. ``history``: the
    changes (objects or rows, oldest first) when already read, else ``report.history``."""
    return [(change, actor_label(config, change), config.unit_name(change.agency_responsible))
            for change in (report.history if history is None else history)]
