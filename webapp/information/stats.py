"""Public statistics: reports per category and per unit, share resolved, median and 90th
percentile time to first response and to resolution per unit over the last 30/90/365 days, and
reports per month.

How it stays cheap at a million reports: one query reads the last 365 days (an index range scan
on ``service_request.requested_at``, joined to two grouped subqueries on ``status_change``,
which is indexed by ``report_id``), and every figure is derived from those rows in Python, so
percentiles are the same on SQLite and PostgreSQL. The result is cached in the process for
``STATS_CACHE_SECONDS`` (300 s): the page and its CSV/JSON cost one query per worker per five
minutes, whatever the traffic.

Definitions (times in hours, UTC):

- *first response*: the first status change made by a unit (``actor_kind = "unit"``) minus the
  time the report was sent;
- *resolution*: the first change to ``resolved`` minus the time the report was sent;
- *share resolved*: reports now ``resolved`` / reports sent in the period;
- percentiles by linear interpolation between closest ranks (PostgreSQL's ``percentile_cont``).
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

PERIODS = (30, 90, 365)
MONTHS = 12


def percentile(values: list[float], p: float) -> float | None:
    """The ``p``-quantile (0 ≤ p ≤ 1) of ``values`` by linear interpolation, as
    ``percentile_cont(p)``; ``None`` for no values."""
    if not values:
        return None
    xs = sorted(values)
    pos = p * (len(xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass(frozen=True)
class Row:
    """Figures of one group (a category or a unit) in one period; times in hours (``None``
    when no report of the group had that event)."""

    key: str
    count: int
    resolved: int
    share_resolved: float
    first_response_median_h: float | None
    first_response_p90_h: float | None
    resolution_median_h: float | None
    resolution_p90_h: float | None


@dataclass(frozen=True)
class Summary:
    """All figures at ``computed_at``: ``periods[days] = {"categories": [Row], "units": [Row],
    "total": Row}``, and ``months`` = ``[(YYYY-MM, count)]`` for the last 12 months, oldest first."""

    computed_at: datetime
    periods: dict
    months: list

    def as_dict(self) -> dict:
        """JSON-ready shape (the open-data export)."""
        return {
            "computed_at": self.computed_at.isoformat(),
            "definitions": {"time_unit": "hours", "percentile": "linear interpolation (percentile_cont)"},
            "periods": {str(d): {k: ([asdict(r) for r in v] if isinstance(v, list) else asdict(v))
                                 for k, v in p.items()} for d, p in self.periods.items()},
            "months": [{"month": m, "count": c} for m, c in self.months],
        }


def _hours(start, end) -> float | None:
    return None if end is None else round((end - start).total_seconds() / 3600, 4)


def _row(key: str, items: list) -> Row:
    first = [r[4] for r in items if r[4] is not None]
    resolution = [r[5] for r in items if r[5] is not None]
    resolved = sum(1 for r in items if r[2] == "resolved")

    def rnd(v):
        return None if v is None else round(v, 2)
    return Row(key=key, count=len(items), resolved=resolved,
               share_resolved=round(resolved / len(items), 4) if items else 0.0,
               first_response_median_h=rnd(percentile(first, .5)), first_response_p90_h=rnd(percentile(first, .9)),
               resolution_median_h=rnd(percentile(resolution, .5)), resolution_p90_h=rnd(percentile(resolution, .9)))


def _groups(items: list, index: int) -> list[Row]:
    by: dict[str, list] = {}
    for r in items:
        by.setdefault(r[index] or "-", []).append(r)
    return sorted((_row(k, v) for k, v in by.items()), key=lambda row: (-row.count, row.key))


def _month_starts(now: datetime) -> list[str]:
    y, m = now.year, now.month
    out = []
    for _ in range(MONTHS):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out[::-1]


def compute(session, now: datetime) -> Summary:
    """Compute every figure from the database as of ``now`` (aware UTC datetime)."""
    from webapp.reports.models import Report, StatusChange
    since = now - timedelta(days=max(PERIODS))
    first = (select(StatusChange.report_id, func.min(StatusChange.created_at).label("at"))
             .where(StatusChange.actor_kind == "unit").group_by(StatusChange.report_id).subquery())
    done = (select(StatusChange.report_id, func.min(StatusChange.created_at).label("at"))
            .where(StatusChange.status == "resolved").group_by(StatusChange.report_id).subquery())
    stmt = (select(Report.service_code, Report.agency_responsible, Report.status, Report.requested_at,
                   first.c.at, done.c.at)
            .outerjoin(first, first.c.report_id == Report.id)
            .outerjoin(done, done.c.report_id == Report.id)
            .where(Report.requested_at >= since, Report.requested_at <= now))
    rows = []
    for code, unit, status, at, first_at, done_at in session.execute(stmt):
        first_at, done_at = _utc(first_at), _utc(done_at)
        rows.append((code, unit, status, at, _hours(at, first_at), _hours(at, done_at)))
    periods = {}
    for days in PERIODS:
        start = now - timedelta(days=days)
        items = [r for r in rows if r[3] >= start]
        periods[days] = {"categories": _groups(items, 0), "units": _groups(items, 1),
                         "total": _row("total", items)}
    months = _month_starts(now)
    counts = dict.fromkeys(months, 0)
    for r in rows:
        key = f"{r[3].year:04d}-{r[3].month:02d}"
        if key in counts:
            counts[key] += 1
    return Summary(computed_at=now, periods=periods, months=[(m, counts[m]) for m in months])


def _utc(value):
    """Aggregates (``min``) lose the column type on SQLite: parse and mark them UTC."""
    from datetime import timezone
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


_lock = threading.Lock()


def cached_summary(app, session, now_fn) -> Summary:
    """:func:`compute`, cached in ``app.extensions`` for ``STATS_CACHE_SECONDS`` (300; 0 turns
    the cache off). Per process: each gunicorn worker computes its own copy at most every TTL."""
    ttl = float(app.config.get("STATS_CACHE_SECONDS", 300))
    with _lock:
        hit = app.extensions.get("statistics_cache")
        if hit and ttl > 0 and time.monotonic() - hit[0] < ttl:
            return hit[1]
    summary = compute(session, now_fn())
    with _lock:
        app.extensions["statistics_cache"] = (time.monotonic(), summary)
    return summary


CSV_HEADER = ["table", "period_days", "key", "count", "resolved", "share_resolved",
              "first_response_median_h", "first_response_p90_h", "resolution_median_h", "resolution_p90_h"]


def as_csv_rows(summary: Summary) -> list[list]:
    """Rows of the CSV export (header :data:`CSV_HEADER`): one per category, unit and total per
    period, then one ``month`` row per month (``key`` = YYYY-MM, ``count``)."""
    out = []
    for days, p in summary.periods.items():
        for table in ("categories", "units"):
            for r in p[table]:
                out.append(["category" if table == "categories" else "unit", days, *_values(r)])
        out.append(["total", days, *_values(p["total"])])
    for month, count in summary.months:
        out.append(["month", "", month, count, "", "", "", "", "", ""])
    return out


def _values(r: Row) -> list:
    return [r.key, r.count, r.resolved, r.share_resolved,
            *("" if v is None else v for v in (r.first_response_median_h, r.first_response_p90_h,
                                               r.resolution_median_h, r.resolution_p90_h))]


@dataclass(frozen=True)
class Bar:
    """One bar of a horizontal bar chart in SVG user units: ``y`` top, ``width`` length."""

    label: str
    value: float
    y: int
    width: float


def bars(pairs: list[tuple[str, float]], *, width: int = 200, row: int = 22) -> list[Bar]:
    """Geometry of a horizontal bar chart: one bar per ``(label, value)``, the largest value
    ``width`` units long, rows ``row`` units apart."""
    top = max((v for _, v in pairs), default=0) or 1
    return [Bar(label=label, value=value, y=i * row, width=round(width * value / top, 2))
            for i, (label, value) in enumerate(pairs)]
