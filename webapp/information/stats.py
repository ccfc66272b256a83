"""Public statistics: reports per category and per unit, share resolved, median and 90th
percentile time to first response and to resolution per unit over the last 30/90/365 days, and
reports per month.

How it stays cheap at a million reports: one query reads the last 365 days (an index range scan
on ``service_request.requested_at``, joined to two grouped subqueries on ``status_change``,
which is indexed by ``report_id``), with the hours and months computed by the database, and
every figure is derived from those rows in one pass in Python, so percentiles are the same on
SQLite and PostgreSQL. The result is cached in the process for
``STATS_CACHE_SECONDS`` (300 s): the page and its CSV/JSON cost one query per worker per five
minutes, whatever the traffic, and only a process's first request waits for it (later ones get
the previous figures while a background thread computes new ones).

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
from sqlalchemy import Float, cast, extract, literal_column
from sqlalchemy import case
from webapp.reports.models import Report, StatusChange
from webapp.extensions import db
import logging

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


def _rnd(value):
    return None if value is None else round(value, 2)


def _row(key: str, count: int, resolved: int, first: list[float], resolution: list[float]) -> Row:
    first.sort()
    resolution.sort()
    return Row(key=key, count=count, resolved=resolved,
               share_resolved=round(resolved / count, 4) if count else 0.0,
               first_response_median_h=_rnd(_sorted_percentile(first, .5)),
               first_response_p90_h=_rnd(_sorted_percentile(first, .9)),
               resolution_median_h=_rnd(_sorted_percentile(resolution, .5)),
               resolution_p90_h=_rnd(_sorted_percentile(resolution, .9)))


def _sorted_percentile(xs: list[float], p: float) -> float | None:
    if not xs:
        return None
    pos = p * (len(xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _month_starts(now: datetime) -> list[str]:
    y, m = now.year, now.month
    out = []
    for _ in range(MONTHS):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out[::-1]


def _sql_helpers(dialect: str):
    """Hours between two timestamps and the ``YYYY-MM`` of one, computed by the database so no
    Python ``datetime`` is built per row (the cost that dominated at a million reports)."""

    if dialect == "postgresql":
        def hours(end, start):
            return extract("epoch", end - start) / 3600.0

        def month(col):
            return func.to_char(func.timezone("UTC", col), "YYYY-MM")
    else:  # SQLite stores UTC text; julianday is in days
        def hours(end, start):
            return (func.julianday(end) - func.julianday(start)) * cast(literal_column("24.0"), Float)

        def month(col):
            return func.strftime("%Y-%m", col)
    return hours, month


def compute(session, now: datetime) -> Summary:
    """Compute every figure from the database as of ``now`` (aware UTC datetime)."""

    hours, month = _sql_helpers(session.get_bind().dialect.name)
    cutoffs = sorted(PERIODS)  # 30, 90, 365
    first = (select(StatusChange.report_id, func.min(StatusChange.created_at).label("at"))
             .where(StatusChange.actor_kind == "unit").group_by(StatusChange.report_id).subquery())
    done = (select(StatusChange.report_id, func.min(StatusChange.created_at).label("at"))
            .where(StatusChange.status == "resolved").group_by(StatusChange.report_id).subquery())
    # bucket i: the report falls in cutoffs[i:] (sent within the last cutoffs[i] days).
    bucket = case(*((Report.requested_at >= now - timedelta(days=d), i) for i, d in enumerate(cutoffs[:-1])),
                  else_=len(cutoffs) - 1)
    stmt = (select(bucket, Report.service_code, Report.agency_responsible,
                   case((Report.status == "resolved", 1), else_=0), month(Report.requested_at),
                   hours(first.c.at, Report.requested_at), hours(done.c.at, Report.requested_at))
            .outerjoin(first, first.c.report_id == Report.id)
            .outerjoin(done, done.c.report_id == Report.id)
            .where(Report.requested_at >= now - timedelta(days=cutoffs[-1]), Report.requested_at <= now))

    # groups[(period index, table, key)] = [count, resolved, first hours, resolution hours]
    groups: dict[tuple, list] = {}
    months = _month_starts(now)
    month_counts = dict.fromkeys(months, 0)
    n = len(cutoffs)
    for b, code, unit, resolved, ym, first_h, done_h in session.execute(stmt):
        if ym in month_counts:
            month_counts[ym] += 1
        for i in range(b, n):
            for key in ((i, "categories", code), (i, "units", unit or "-"), (i, "total", "total")):
                g = groups.get(key)
                if g is None:
                    g = groups[key] = [0, 0, [], []]
                g[0] += 1
                g[1] += resolved
                if first_h is not None:
                    g[2].append(round(first_h, 4))
                if done_h is not None:
                    g[3].append(round(done_h, 4))
    periods = {}
    for i, days in enumerate(cutoffs):
        def rows(table):
            found = [_row(k[2], *v) for k, v in groups.items() if k[0] == i and k[1] == table]
            return sorted(found, key=lambda r: (-r.count, r.key))
        total = rows("total")
        periods[days] = {"categories": rows("categories"), "units": rows("units"),
                         "total": total[0] if total else _row("total", 0, 0, [], [])}
    return Summary(computed_at=now, periods=periods, months=[(m, month_counts[m]) for m in months])


_lock = threading.Lock()


def cached_summary(app, session, now_fn) -> Summary:
    """:func:`compute`, cached in ``app.extensions`` for ``STATS_CACHE_SECONDS`` (300; 0 turns
    the cache off). Per process. Only the first request of a process waits for the computation:
    once a summary exists, a stale one is served while one background thread computes the next
    (stale-while-revalidate), so no later request pays the cold cost (tens of seconds at a
    million reports on SQLite, see bench/statistics.py)."""
    ttl = float(app.config.get("STATS_CACHE_SECONDS", 300))
    with _lock:
        hit = app.extensions.get("statistics_cache")
        if hit and ttl > 0:
            if time.monotonic() - hit[0] >= ttl and not app.extensions.get("statistics_refreshing"):
                app.extensions["statistics_refreshing"] = True
                threading.Thread(target=_refresh, args=(app, now_fn), name="statistics-refresh",
                                 daemon=True).start()
            return hit[1]
    summary = compute(session, now_fn())
    with _lock:
        app.extensions["statistics_cache"] = (time.monotonic(), summary)
    return summary


def _refresh(app, now_fn) -> None:
    try:
        with app.app_context():
            summary = compute(db.session, now_fn())
            db.session.remove()
        with _lock:
            app.extensions["statistics_cache"] = (time.monotonic(), summary)
    except Exception:  # noqa: BLE001 - keep serving the old figures; the next request retries
        logging.getLogger(__name__).exception("statistics refresh failed")
    finally:
        with _lock:
            app.extensions["statistics_refreshing"] = False


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
