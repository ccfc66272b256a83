"""Public statistics against a small data set whose figures are worked out by hand below
(medians and 90th percentiles by linear interpolation, as PostgreSQL's percentile_cont), and
against a larger random one computed directly in the test; the page reads a summary table
that the worker, ``flask statistics rebuild`` or the first visit builds."""
from __future__ import annotations

import csv
import io
import random
import re
import threading
import time
from datetime import timedelta

import pytest
from babel.numbers import format_decimal

from tests.factories import make_report, statistics_world
from webapp.clock import utcnow

DAY = 24 * 60  # minutes


def _by_key(rows):
    return {r.key: r for r in rows}


def test_figures_match_the_hand_computed_ones(app):
    from webapp.extensions import db
    from webapp.information.stats import compute
    with app.app_context():
        summary = compute(db.session, statistics_world() + timedelta(seconds=1))

    d30 = _by_key(summary.periods[30]["units"])
    assert (d30["zdit"].count, d30["zdit"].resolved, d30["zdit"].share_resolved) == (3, 2, 0.6667)
    # first responses [1, 2, 3]: median 2; p90 at rank 0.9 * 2 = 1.8 -> 2 + 0.8 * (3 - 2) = 2.8
    assert (d30["zdit"].first_response_median_h, d30["zdit"].first_response_p90_h) == (2.0, 2.8)
    # resolutions [10, 24]: median 17; p90 at rank 0.9 -> 10 + 0.9 * 14 = 22.6
    assert (d30["zdit"].resolution_median_h, d30["zdit"].resolution_p90_h) == (17.0, 22.6)
    assert (d30["wgk"].count, d30["wgk"].resolved, d30["wgk"].first_response_median_h) == (1, 0, None)
    assert summary.periods[30]["total"].count == 4

    d90 = _by_key(summary.periods[90]["units"])
    # first responses [1, 2, 3, 10]: median (2 + 3) / 2 = 2.5; p90 rank 2.7 -> 3 + 0.7 * 7 = 7.9
    assert (d90["zdit"].first_response_median_h, d90["zdit"].first_response_p90_h) == (2.5, 7.9)
    # resolutions [10, 24, 80]: median 24; p90 rank 1.8 -> 24 + 0.8 * 56 = 68.8
    assert (d90["zdit"].resolution_median_h, d90["zdit"].resolution_p90_h) == (24.0, 68.8)

    d365 = _by_key(summary.periods[365]["units"])
    assert (d365["wgk"].count, d365["wgk"].resolved, d365["wgk"].resolution_median_h) == (2, 1, 0.5)
    assert summary.periods[365]["total"].count == 6

    cats = _by_key(summary.periods[30]["categories"])
    assert {k: r.count for k, r in cats.items()} == {"ROAD_POTHOLE": 2, "STREET_LIGHT": 1, "ILLEGAL_DUMP": 1}
    assert len(summary.months) == 12 and sum(c for _, c in summary.months) == 6


def test_page_draws_charts_with_tables_and_exports_the_same_figures(make_app):
    app = make_app()
    with app.app_context():
        statistics_world()
    client = app.test_client()
    page = client.get("/statistics?days=30&lang=pl").get_data(as_text=True)
    assert page.count('<svg class="chart"') == 3 and 'aria-hidden="true"' in page
    assert " style=" not in page  # the CSP forbids inline styles
    # Units by name (the charts' abbreviations explained); hours with the Polish decimal comma.
    assert ('<tr data-unit="zdit"><th scope="row">Zarząd Dróg i Transportu w Łodzi (ZDiT)</th>'
            '<td>3</td><td>67%</td>') in page
    assert '<th scope="row"><abbr title="Zarząd Dróg i Transportu w Łodzi">ZDiT</abbr></th>' in page
    assert "<td>2,0</td><td>2,8</td>" in page and "<td>17,0</td><td>22,6</td>" in page
    ukrainian = client.get("/statistics?days=30&lang=uk").get_data(as_text=True)
    assert "<td>2,0</td><td>2,8</td>" in ukrainian
    english = client.get("/statistics?days=30&lang=en").get_data(as_text=True)
    assert "<td>2.0</td><td>2.8</td>" in english

    data = client.get("/statistics.json").get_json()
    zdit = next(r for r in data["periods"]["90"]["units"] if r["key"] == "zdit")
    assert (zdit["resolution_median_h"], zdit["resolution_p90_h"]) == (24.0, 68.8)

    rows = list(csv.DictReader(io.StringIO(client.get("/statistics.csv").get_data(as_text=True))))
    row = next(r for r in rows if r["table"] == "unit" and r["period_days"] == "30" and r["key"] == "zdit")
    assert (row["count"], row["first_response_median_h"], row["first_response_p90_h"]) == ("3", "2.0", "2.8")
    assert sum(int(r["count"]) for r in rows if r["table"] == "month") == 6


@pytest.mark.parametrize("values,p,expected", [([], .5, None), ([4], .9, 4), ([1, 3], .5, 2), ([5, 1, 3], .5, 3)])
def test_percentile_is_percentile_cont(values, p, expected):
    from webapp.information.stats import percentile
    assert percentile(values, p) == expected




# --------------------------------------------------------------------------- a realistic set

UNITS = {"ROAD_POTHOLE": "zdit", "STREET_LIGHT": "zdit", "ROAD_SIGN": "zdit", "ILLEGAL_DUMP": "wgk",
         "TREE_HAZARD": "zzm", "WATER_LEAK": "zwik", "PARKING": "sm"}
# Days ago, away from the 30/90/365-day edges (the rebuild runs seconds after the fixture).
AGES = [d for d in range(0, 420) if all(abs(d - edge) > 1 for edge in (30, 90, 365))]


def _realistic_world(seed=11, n=90):
    """``n`` reports over 14 months in seven categories and five units, in every status: some
    untouched, some answered by the unit, resolved (one reopened after resolution), rejected,
    or touched only by an operator (no unit response). Times are whole multiples of 6 minutes
    (0.1 h), so every figure has an exact decimal value. Returns the reports as dicts."""
    rng = random.Random(seed)
    now = utcnow()
    made = []
    for _ in range(n):
        code = rng.choice(sorted(UNITS))
        unit = UNITS[code] if rng.random() > .1 else "wgk"  # some forwarded elsewhere
        at = now - timedelta(days=rng.choice(AGES), minutes=6 * rng.randrange(0, 200))
        history, first, done = [("dispatched", "", "system", None, unit, 0)], None, None
        fate = rng.choice(["open", "operator", "accepted", "resolved", "resolved", "rejected", "reopened"])
        status = "dispatched"
        if fate == "operator":
            history.append(("dispatched", "", "operator", None, unit, 6 * rng.randrange(1, 50)))
        if fate in ("accepted", "resolved", "rejected", "reopened"):
            first = 6 * rng.randrange(1, 400)
            status = {"accepted": "accepted", "rejected": "rejected"}.get(fate, "resolved")
            history.append((status if fate == "rejected" else "accepted", "", "unit", unit, unit, first))
        if fate in ("resolved", "reopened"):
            done = first + 6 * rng.randrange(1, 2000)
            history.append(("resolved", "", "unit", unit, unit, done))
        if fate == "reopened":
            history.append(("in_progress", "", "operator", None, unit, done + 60))
            status = "in_progress"
        make_report(service_code=code, unit=unit, status=status, requested_at=at, history=history)
        made.append({"code": code, "unit": unit, "at": at, "status": status,
                     "first_h": None if first is None else first / 60,
                     "done_h": None if done is None else done / 60})
    return made


def _quantile(values, p):
    """percentile_cont(p), written out independently of the application's code."""
    if not values:
        return None
    xs = sorted(values)
    k = (len(xs) - 1) * p
    f = int(k)
    c = min(f + 1, len(xs) - 1)
    return round(xs[f] * (1 - (k - f)) + xs[c] * (k - f), 2) if c != f else round(xs[f], 2)


def _expected(made, days, now):
    """{(table, key): {...JSON row fields...}} for the reports sent in the last ``days`` days."""
    recent = [r for r in made if r["at"] >= now - timedelta(days=days)]
    groups = {}
    for r in recent:
        for key in (("categories", r["code"]), ("units", r["unit"]), ("total", "total")):
            groups.setdefault(key, []).append(r)
    out = {}
    for key, rows in groups.items():
        firsts = [r["first_h"] for r in rows if r["first_h"] is not None]
        dones = [r["done_h"] for r in rows if r["done_h"] is not None]
        resolved = sum(r["status"] == "resolved" for r in rows)
        out[key] = {"key": key[1], "count": len(rows), "resolved": resolved,
                    "share_resolved": round(resolved / len(rows), 4),
                    "first_response_median_h": _quantile(firsts, .5),
                    "first_response_p90_h": _quantile(firsts, .9),
                    "resolution_median_h": _quantile(dones, .5),
                    "resolution_p90_h": _quantile(dones, .9)}
    return out


def _hours(v):
    return "–" if v is None else format_decimal(v, "#,##0.0", locale="en")


def test_page_and_exports_equal_a_direct_computation_over_a_realistic_set(make_app):
    app = make_app()
    with app.app_context():
        made = _realistic_world()
    result = app.test_cli_runner().invoke(args=["statistics", "rebuild"])
    assert result.exit_code == 0 and "Statistics rebuilt" in result.output
    now = utcnow()
    assert {r["status"] for r in made} >= {"dispatched", "accepted", "resolved", "rejected", "in_progress"}

    client = app.test_client()
    data = client.get("/statistics.json").get_json()
    for days in (30, 90, 365):
        expected = _expected(made, days, now)
        got = {("total", "total"): data["periods"][str(days)]["total"],
               **{(table, r["key"]): r for table in ("categories", "units")
                  for r in data["periods"][str(days)][table]}}
        assert got == expected, days

        page = client.get(f"/statistics?days={days}&lang=en").get_data(as_text=True)
        units = dict(re.findall(r'<tr data-unit="([^"]+)"><th scope="row">.*?</th>(.*?)</tr>', page, re.S))
        times = dict(re.findall(r'<tr data-unit-times="([^"]+)"><th scope="row">.*?</th>(.*?)</tr>', page, re.S))
        assert set(units) == set(times) == {k for t, k in expected if t == "units"}
        for key, cells in units.items():
            e = expected[("units", key)]
            assert re.findall(r"<td>([^<]*)</td>", cells) == [
                str(e["count"]), "%.0f%%" % (e["share_resolved"] * 100)], (days, key)
            assert re.findall(r"<td>([^<]*)</td>", times[key]) == [
                _hours(e[f]) for f in ("first_response_median_h", "first_response_p90_h",
                                       "resolution_median_h", "resolution_p90_h")], (days, key)
        codes = dict(re.findall(r'<tr data-code="([^"]+)"><th scope="row">.*?</th>(.*?)</tr>', page, re.S))
        assert {k: re.findall(r"<td>([^<]*)</td>", v)[0] for k, v in codes.items()} == {
            k: str(e["count"]) for (t, k), e in expected.items() if t == "categories"}
        total = expected[("total", "total")]
        assert f"Reports in the last {days} days: {total['count']}," in page

    months = {}
    for r in made:
        months[r["at"].strftime("%Y-%m")] = months.get(r["at"].strftime("%Y-%m"), 0) + 1
    assert {m["month"]: m["count"] for m in data["months"]} == {
        m["month"]: months.get(m["month"], 0) for m in data["months"]}
    assert len(data["months"]) == 12 and data["months"][-1]["month"] == now.strftime("%Y-%m")


def test_page_shows_the_summary_until_it_is_rebuilt_and_when_it_is_from(make_app):
    app = make_app()
    client = app.test_client()
    assert client.get("/statistics.json").get_json()["periods"]["30"]["total"]["count"] == 0  # first build
    page = client.get("/statistics?lang=en").get_data(as_text=True)
    assert re.search(r'id="statistics-as-of">Data as of [^<]*\d{1,2}:\d{2}', page)
    with app.app_context():
        make_report()
    assert client.get("/statistics.json").get_json()["periods"]["30"]["total"]["count"] == 0
    assert "Statistics rebuilt" in app.test_cli_runner().invoke(args=["statistics", "rebuild"]).output
    assert client.get("/statistics.json").get_json()["periods"]["30"]["total"]["count"] == 1


def test_the_worker_rebuilds_the_summary(make_app):
    from webapp.dispatch.worker import run_worker
    app = make_app(STATS_REFRESH_SECONDS=600)
    client = app.test_client()
    assert client.get("/statistics.json").get_json()["periods"]["30"]["total"]["count"] == 0
    with app.app_context():
        make_report()
        from webapp.extensions import db
        # The figures are older than half the interval: due for a rebuild.
        db.session.execute(db.text("UPDATE statistics_figure SET computed_at = :t"),
                           {"t": utcnow() - timedelta(minutes=6)})
        db.session.commit()
    run_worker(app, once=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the worker rebuilds in a thread of its own
        if client.get("/statistics.json").get_json()["periods"]["30"]["total"]["count"] == 1:
            break
        time.sleep(.1)
    assert client.get("/statistics.json").get_json()["periods"]["30"]["total"]["count"] == 1


def test_a_slow_first_build_says_the_figures_are_being_prepared(make_app, monkeypatch):
    from webapp.information import stats
    released = threading.Event()
    real_compute = stats.compute

    def slow_compute(session, now):  # a first build that takes longer than a request may wait
        released.wait(20)
        return real_compute(session, now)
    monkeypatch.setattr(stats, "compute", slow_compute)
    app = make_app(STATS_BUILD_WAIT_SECONDS=0.2)
    with app.app_context():
        make_report()
    client = app.test_client()
    response = client.get("/statistics?lang=en")
    assert response.status_code == 200
    assert "The statistics are being prepared" in response.get_data(as_text=True)
    response = client.get("/statistics.json")
    assert response.status_code == 202 and response.headers["Retry-After"] == "30"
    assert response.get_json() == {"computed_at": None}
    assert client.get("/statistics.csv").status_code == 202
    released.set()
    app.extensions["statistics_rebuild"].join(20)
    assert client.get("/statistics.json").get_json()["periods"]["30"]["total"]["count"] == 1
