"""Read-only queries behind the public pages and the Open311 API.

Everything here returns :class:`~webapp.reports.models.Report` objects; what of them may be shown
publicly is decided by :func:`public_description` and :func:`public_photos` (never ``email``,
``consent_*``, ``client_id``, the raw ``description`` nor ``tracking_token_hash``).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from flask_babel import lazy_gettext as _l
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.clock import utcnow
from webapp.extensions import db
# Ids are 32-bit integers in PostgreSQL (MAX_ID = 2**31 - 1); larger numbers cannot name a
# report (and would make the database raise instead of answering "not found").
from webapp.inputs import MAX_ID
from webapp.reports.models import Report, Status

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


def list_reports(filters: ReportFilters, per_page: int = PER_PAGE) -> Pagination:
    """One page of reports matching ``filters``, newest first (``requested_at``, then id).

    Returns a Flask-SQLAlchemy :class:`Pagination` (``items``, ``page``, ``pages``, ``total``,
    ``has_prev``, ``has_next``). A page past the last one is replaced by the last page, and
    ``filters.page`` and ``filters.messages`` are updated to say so.
    """
    stmt = (select(Report)
            .options(selectinload(Report.photos))
            .order_by(Report.requested_at.desc(), Report.id.desc()))
    if filters.service_code:
        stmt = stmt.where(Report.service_code == filters.service_code)
    if filters.status:
        stmt = stmt.where(Report.status.in_(_status_values(filters.status)))
    page = db.paginate(stmt, page=filters.page, per_page=per_page, max_per_page=per_page,
                       error_out=False)
    if filters.page > 1 and filters.page > page.pages:
        last = max(page.pages, 1)
        filters.messages.append(str(_l("There is no page %(asked)s: showing page %(page)s.",
                                       asked=filters.asked_page or filters.page, page=last)))
        filters.page = last
        page = db.paginate(stmt, page=last, per_page=per_page, max_per_page=per_page,
                           error_out=False)
    return page


def get_report(report_id: int) -> Report | None:
    """The report with this id with its photos and history loaded, or None (also for ids
    outside the database's integer range)."""
    if not 1 <= report_id <= MAX_ID:
        return None
    stmt = (select(Report).where(Report.id == report_id)
            .options(selectinload(Report.photos), selectinload(Report.history)))
    return db.session.execute(stmt).scalar_one_or_none()


def open311_requests(*, ids: list[int] | None = None, codes: list[str] | None = None,
                     start: datetime | None = None, end: datetime | None = None,
                     status: str | None = None,
                     limit: int = OPEN311_MAX_RESULTS, offset: int = 0) -> list[Report]:
    """Reports for GeoReport v2 ``GET requests``, newest first, at most ``limit``.

    ``start``/``end`` are aware datetimes bounding ``requested_at`` (inclusive). As the
    GeoReport v2 spec says, when ``ids`` is given (not None) every other filter is ignored. Otherwise,
    without ``start``, the window is the ``OPEN311_DEFAULT_DAYS`` days before ``end`` (or now).
    ``status`` is ``"open"`` or ``"closed"``. ``offset`` skips that many (paging).
    """
    stmt = (select(Report)
            .options(selectinload(Report.photos), selectinload(Report.history))
            .order_by(Report.requested_at.desc(), Report.id.desc())
            .limit(limit).offset(offset))
    if ids is not None:
        stmt = stmt.where(Report.id.in_([i for i in ids if 1 <= i <= MAX_ID]))
    else:
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
    return list(db.session.execute(stmt).scalars())


def description_is_public(report: Report) -> bool:
    """Whether the report's text and photos may be shown: not while an operator has still to
    check it (status ``awaiting_moderation``; regulamin pkt 6 forbids unlawful content)."""
    return report.status != Status.AWAITING_MODERATION.value


def public_description(report: Report) -> str | None:
    """The moderated description (``public_description``), or None while awaiting moderation."""
    return report.public_description if description_is_public(report) else None


def public_photos(report: Report) -> list:
    """The report's photos whose public copies may be shown (none while awaiting moderation)."""
    return list(report.photos) if description_is_public(report) else []


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
