"""Public statistics: reports per category and per unit, share resolved, median and 90th
percentile time to first response and to resolution per unit over the last 30/90/365 days, and
reports per month.

Computing the figures: one query reads the last 365 days (an index range scan
on ``service_request.requested_at``, joined to two grouped subqueries on ``status_change``,
which is indexed by ``report_id``), with the hours and months computed by the database, and
every figure is derived from those rows in one pass in Python, so percentiles are the same on
SQLite and PostgreSQL. That still takes tens of seconds at a million reports, so no request
pays it: the figures are published in a summary table (:class:`StatisticsFigure`, about 200
rows), rebuilt by the outbox worker every ``STATS_REFRESH_SECONDS`` (600 s) and by
``flask statistics rebuild``; the page and its CSV/JSON read only that table and show when the
figures were computed.

Definitions (times in hours, UTC):

- *first response*: the first status change made by a unit (``actor_kind = "unit"``) minus the
  time the report was sent;
- *resolution*: the first change to ``resolved`` minus the time the report was sent;
- *share resolved*: reports now ``resolved`` / reports sent in the period;
- percentiles by linear interpolation between closest ranks (PostgreSQL's ``percentile_cont``).
"""
from __future__ import annotations

import logging
import math
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Float, case, cast, delete, extract, func, insert, literal_column, select, text

from webapp.clock import utcnow
from webapp.extensions import db
from webapp.information.models import StatisticsFigure
from webapp.reports.models import Report, StatusChange

log = logging.getLogger(__name__)

PERIODS = (30, 90, 365)
MONTHS = 12
#: pg_advisory_xact_lock key serialising summary rebuilds ("stat" in ASCII).
ADVISORY_LOCK = 0x73746174


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


def store(session, summary: Summary) -> None:
    """Replace the published figures (:class:`StatisticsFigure`) with ``summary``, in one
    transaction (commits). Readers see the old figures or the new ones, never a mix; on
    PostgreSQL an advisory lock makes two workers' rebuilds take turns instead of colliding on
    the primary key."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK})
    session.execute(delete(StatisticsFigure))
    rows = [{"kind": "month", "period_days": 0, "key": m, "count": c, "resolved": 0,
             "share_resolved": 0.0, "first_response_median_h": None, "first_response_p90_h": None,
             "resolution_median_h": None, "resolution_p90_h": None, "computed_at": summary.computed_at}
            for m, c in summary.months]
    for days, p in summary.periods.items():
        for kind, found in (("category", p["categories"]), ("unit", p["units"]), ("total", [p["total"]])):
            rows += [{**asdict(r), "kind": kind, "period_days": days, "computed_at": summary.computed_at}
                     for r in found]
    session.execute(insert(StatisticsFigure), rows)
    session.commit()


def load(session) -> Summary | None:
    """The published figures as a :class:`Summary` (same order as :func:`compute`), or
    ``None`` when the summary was never built. Reads only the summary table (about 200 rows)."""
    # Plain rows, not ORM objects: a page view should not build 200 tracked instances.
    figures = session.execute(select(StatisticsFigure.__table__)).all()
    if not figures:
        return None
    periods = {d: {"categories": [], "units": [], "total": _row("total", 0, 0, [], [])} for d in PERIODS}
    months = []
    for f in figures:
        if f.kind == "month":
            months.append((f.key, f.count))
            continue
        if f.period_days not in periods:
            continue
        row = Row(key=f.key, count=f.count, resolved=f.resolved, share_resolved=f.share_resolved,
                  first_response_median_h=f.first_response_median_h,
                  first_response_p90_h=f.first_response_p90_h,
                  resolution_median_h=f.resolution_median_h, resolution_p90_h=f.resolution_p90_h)
        if f.kind == "total":
            periods[f.period_days]["total"] = row
        else:
            periods[f.period_days]["categories" if f.kind == "category" else "units"].append(row)
    for p in periods.values():
        for table in ("categories", "units"):
            p[table].sort(key=lambda r: (-r.count, r.key))
    return Summary(computed_at=figures[0].computed_at, periods=periods, months=sorted(months))


def rebuild(session, now: datetime) -> Summary:
    """Compute every figure as of ``now`` (aware UTC) and publish them (:func:`store`)."""
    summary = compute(session, now)
    store(session, summary)
    return summary


_lock = threading.Lock()


def start_rebuild(app, now_fn) -> threading.Thread:
    """Rebuild the summary in a background thread of this process, unless one is already
    running (then return that one). The thread logs its errors; the next request or worker
    job tries again."""
    with _lock:
        running = app.extensions.get("statistics_rebuild")
        if running is not None and running.is_alive():
            return running
        thread = threading.Thread(target=_rebuild_in_thread, args=(app, now_fn),
                                  name="statistics-rebuild", daemon=True)
        app.extensions["statistics_rebuild"] = thread
        thread.start()
        return thread


def _rebuild_in_thread(app, now_fn) -> None:
    with app.app_context():
        try:
            rebuild(db.session, now_fn())
        except Exception:  # noqa: BLE001 - logged; the figures stay as they were
            db.session.rollback()
            log.exception("statistics rebuild failed")
        finally:
            db.session.remove()


def published_summary(app, session, now_fn) -> Summary | None:
    """The figures for the page and the exports: the summary table, or, when it was never
    built, a rebuild started now and awaited for at most ``STATS_BUILD_WAIT_SECONDS`` (2 s;
    enough for a small database); ``None`` when it is still running (the page says the
    figures are being prepared)."""
    summary = load(session)
    if summary is not None:
        return summary
    thread = start_rebuild(app, now_fn)
    thread.join(float(app.config.get("STATS_BUILD_WAIT_SECONDS", 2)))
    if thread.is_alive():
        return None
    session.rollback()  # end the read transaction so the new rows are visible
    return load(session)


def refresh_job() -> None:
    """The worker's periodic job (run in the worker's app context): start a rebuild in a
    background thread (tens of seconds at a million reports, and the worker must keep sending
    meanwhile), unless the published figures are younger than half of
    ``STATS_REFRESH_SECONDS`` (another worker process has just rebuilt them)."""
    app = current_app._get_current_object()
    every = float(app.config.get("STATS_REFRESH_SECONDS", 600))
    newest = db.session.execute(select(func.max(StatisticsFigure.computed_at))).scalar()
    if newest is not None and (utcnow() - newest).total_seconds() < every / 2:
        return
    start_rebuild(app, utcnow)


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


def bars(pairs: list[tuple[str, float]], *, width: int = 280, row: int = 40) -> list[Bar]:
    """Geometry of a horizontal bar chart: one bar per ``(label, value)``, the largest value
    ``width`` units long, rows ``row`` units apart (defaults: the stacked layout of
    ``templates/information/_chart.html``, label above bar; 210 and 26 for the side-by-side one)."""
    top = max((v for _, v in pairs), default=0) or 1
    return [Bar(label=label, value=value, y=i * row, width=round(width * value / top, 2))
            for i, (label, value) in enumerate(pairs)]
