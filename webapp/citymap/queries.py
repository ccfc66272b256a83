"""Read-only spatial queries of the city map: reports in a bounding box (GeoJSON, RFC 7946),
open reports near a point (the "already reported?" hint) and support counts.

Coordinates are WGS84 degrees, distances metres. Every query here uses the composite index
``ix_service_request_lat_long_map`` (``lat``, ``long``): a range on ``lat`` narrowed by ``long``
inside the index, on SQLite and PostgreSQL alike (see bench/README.md for the plans).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timezone

from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import selectinload

from webapp.citymap.models import Support
from webapp.extensions import db
from webapp.reports.models import Report, Status
from webapp.reports.queries import OPEN311_STATUS_VALUES, ReportFilters, parse_filters

#: At most this many single reports in one answer; a box holding more is answered with a grid
#: of counts (server-side clustering) so the browser never draws tens of thousands of markers.
MAX_FEATURES = 500
#: The clustering grid: cells across the longer side of the box.
GRID_CELLS = 12
#: Default radius of the "already reported?" hint (metres); ``DUPLICATE_RADIUS_METRES`` in the
#: app config overrides it.
DUPLICATE_RADIUS_METRES = 50
#: At most this many candidates in the hint.
MAX_NEARBY = 5
EARTH_RADIUS_METRES = 6_371_008.8
METRES_PER_DEGREE_LAT = 111_320.0


@dataclass(frozen=True)
class BBox:
    """A box in WGS84 degrees, ``[min_long, min_lat, max_long, max_lat]`` as in RFC 7946."""

    min_long: float
    min_lat: float
    max_long: float
    max_lat: float


@dataclass
class MapFilters:
    """The list's filters (:class:`ReportFilters`) plus ``since`` (aware UTC datetime or None)
    and the ``bbox`` (None when absent or invalid). ``messages`` explain ignored values."""

    list_filters: ReportFilters
    since: datetime | None = None
    since_text: str = ""
    bbox: BBox | None = None
    messages: list[str] = field(default_factory=list)

    @property
    def service_code(self) -> str | None:
        return self.list_filters.service_code

    @property
    def status(self) -> str | None:
        return self.list_filters.status

    def query_args(self) -> dict[str, str]:
        """URL query arguments for these filters (without the box), empty values left out."""
        args = {"service_code": self.service_code, "status": self.status,
                "since": self.since_text}
        return {k: v for k, v in args.items() if v}


def parse_bbox(raw: str | None) -> BBox | None:
    """``"minLong,minLat,maxLong,maxLat"`` to a :class:`BBox`, or None when it is not four finite
    numbers inside WGS84 with min ≤ max. Never raises."""
    if not raw:
        return None
    parts = raw.split(",")
    if len(parts) != 4:
        return None
    try:
        values = [float(p) for p in parts]
    except ValueError:
        return None
    if not all(math.isfinite(v) for v in values):
        return None
    box = BBox(*values)
    if not (-180 <= box.min_long <= box.max_long <= 180 and -90 <= box.min_lat <= box.max_lat <= 90):
        return None
    return box


def parse_coordinate(raw: str | None) -> float | None:
    """A finite decimal number of degrees (comma or dot), or None. Never raises."""
    try:
        value = float((raw or "").strip().replace(",", "."))
    except ValueError:
        return None
    return value if math.isfinite(value) and abs(value) <= 180 else None


def parse_map_filters(args: Mapping[str, str], known_codes: Iterable[str]) -> MapFilters:
    """Read the list's filters (with the same :func:`~webapp.reports.queries.parse_filters`),
    ``since`` (a date ``YYYY-MM-DD``, UTC midnight) and ``bbox``. Never raises: bad values are
    dropped with a message."""
    list_filters = parse_filters(args, known_codes)
    filters = MapFilters(list_filters=list_filters, messages=list(list_filters.messages))
    raw_since = (args.get("since") or "").strip()
    if raw_since:
        try:
            day = datetime.strptime(raw_since, "%Y-%m-%d").date()
            filters.since = datetime.combine(day, time.min, tzinfo=timezone.utc)
            filters.since_text = raw_since
        except ValueError:
            filters.messages.append(str(_l("Unknown date: showing reports of any age.")))
    raw_box = args.get("bbox")
    filters.bbox = parse_bbox(raw_box)
    if raw_box and filters.bbox is None:
        filters.messages.append(str(_l("The map area could not be read.")))
    return filters


def _filtered(stmt, filters: MapFilters):
    box = filters.bbox
    stmt = stmt.where(Report.lat.between(box.min_lat, box.max_lat),
                      Report.long.between(box.min_long, box.max_long))
    if filters.service_code:
        stmt = stmt.where(Report.service_code == filters.service_code)
    if filters.status:
        stmt = stmt.where(Report.status.in_(
            OPEN311_STATUS_VALUES.get(filters.status, (filters.status,))))
    if filters.since is not None:
        stmt = stmt.where(Report.requested_at >= filters.since)
    return stmt


@dataclass
class BoxContent:
    """What a box holds: ``reports`` (at most :data:`MAX_FEATURES`) or, when there are more,
    ``cells``: ``(lat, long, count)`` tuples (the mean position of each grid cell's reports)."""

    reports: list[Report]
    cells: list[tuple[float, float, int]]

    @property
    def clustered(self) -> bool:
        return bool(self.cells)


def reports_in_box(filters: MapFilters, max_features: int | None = None) -> BoxContent:
    """Reports inside ``filters.bbox`` matching the filters, newest first; when more than
    ``max_features`` (default :data:`MAX_FEATURES`) match, a grid of counts instead
    (:data:`GRID_CELLS` across the box).
    ``filters.bbox`` must be set."""
    max_features = MAX_FEATURES if max_features is None else max_features
    columns = (Report.id, Report.lat, Report.long, Report.status, Report.service_code,
               Report.requested_at)
    # No ORDER BY: the database may stop at the first max_features + 1 rows in the index; when
    # they all fit, they are sorted here (at most MAX_FEATURES rows).
    stmt = _filtered(select(*columns), filters).limit(max_features + 1)
    rows = db.session.execute(stmt).all()
    if len(rows) <= max_features:
        rows.sort(key=lambda r: (r.requested_at, r.id), reverse=True)
        return BoxContent(reports=list(rows), cells=[])
    return BoxContent(reports=[], cells=grid_counts(filters))


def grid_counts(filters: MapFilters) -> list[tuple[float, float, int]]:
    """Counts of matching reports per grid cell of ``filters.bbox`` (one GROUP BY on the
    database; cell indexes are whole numbers since every row is inside the box)."""
    box = filters.bbox
    side = max(box.max_lat - box.min_lat, box.max_long - box.min_long, 1e-9)
    cell = side / GRID_CELLS
    row = cast((Report.lat - box.min_lat) / cell, Integer)
    col = cast((Report.long - box.min_long) / cell, Integer)
    stmt = _filtered(select(func.avg(Report.lat), func.avg(Report.long), func.count()),
                     filters).group_by(row, col)
    return [(float(lat), float(long), int(n)) for lat, long, n in db.session.execute(stmt)]


def distance_metres(lat1: float, long1: float, lat2: float, long2: float) -> float:
    """Great-circle (haversine) distance in metres between two WGS84 points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(long2 - long1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_METRES * math.asin(math.sqrt(min(1.0, a)))


def nearby_open_reports(service_code: str, lat: float, long: float,
                        radius: float = DUPLICATE_RADIUS_METRES,
                        limit: int = MAX_NEARBY) -> list[tuple[Report, float]]:
    """Open reports (GeoReport ``open``) of ``service_code`` within ``radius`` metres of the
    point, nearest first, as ``(report, distance in metres)``; at most ``limit``. The box
    around the point uses the index; the exact distance is checked here."""
    dlat = radius / METRES_PER_DEGREE_LAT
    dlong = radius / (METRES_PER_DEGREE_LAT * max(math.cos(math.radians(lat)), 0.01))
    stmt = (select(Report).options(selectinload(Report.photos))
            .where(Report.lat.between(lat - dlat, lat + dlat),
                   Report.long.between(long - dlong, long + dlong),
                   Report.service_code == service_code,
                   Report.status.in_(OPEN311_STATUS_VALUES["open"]))
            .limit(200))
    found = [(r, distance_metres(lat, long, r.lat, r.long)) for r in db.session.scalars(stmt)]
    found = sorted((pair for pair in found if pair[1] <= radius), key=lambda pair: pair[1])
    return found[:limit]


def support_count(report_id: int) -> int:
    """How many phones said "me too" on the report."""
    return db.session.scalar(select(func.count()).select_from(Support)
                             .where(Support.report_id == report_id)) or 0


def support_counts(report_ids: Iterable[int]) -> dict[int, int]:
    """``{report id: supports}`` for the given reports (missing ids have none), one query."""
    ids = list(report_ids)
    if not ids:
        return {}
    stmt = (select(Support.report_id, func.count()).where(Support.report_id.in_(ids))
            .group_by(Support.report_id))
    return {rid: n for rid, n in db.session.execute(stmt)}


def is_open(report: Report) -> bool:
    """Whether a report can still be supported (GeoReport ``open``)."""
    return Status(report.status).open311 == "open"


def supporters_to_notify(report_id: int) -> list[Support]:
    """Supports of the report that gave an e-mail address *with* consent (both stored), oldest
    first: the residents to be told of its status changes like its author."""
    return list(db.session.scalars(
        select(Support).where(Support.report_id == report_id, Support.email.is_not(None),
                              Support.consent_version.is_not(None))
        .order_by(Support.id)))
