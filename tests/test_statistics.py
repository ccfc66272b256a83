"""Public statistics against a small data set whose figures are worked out by hand below
(medians and 90th percentiles by linear interpolation, as PostgreSQL's percentile_cont)."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

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
    app = make_app(STATS_CACHE_SECONDS=0)
    with app.app_context():
        statistics_world()
    client = app.test_client()
    page = client.get("/statistics?days=30&lang=pl").get_data(as_text=True)
    assert page.count('<svg class="chart"') == 3 and 'aria-hidden="true"' in page
    assert " style=" not in page  # the CSP forbids inline styles
    assert '<tr data-unit="zdit"><th scope="row">ZDiT</th><td>3</td><td>67%</td>' in page
    assert "<td>2.0</td><td>2.8</td>" in page and "<td>17.0</td><td>22.6</td>" in page

    data = client.get("/statistics.json").get_json()
    zdit = next(r for r in data["periods"]["90"]["units"] if r["key"] == "zdit")
    assert (zdit["resolution_median_h"], zdit["resolution_p90_h"]) == (24.0, 68.8)

    rows = list(csv.DictReader(io.StringIO(client.get("/statistics.csv").get_data(as_text=True))))
    row = next(r for r in rows if r["table"] == "unit" and r["period_days"] == "30" and r["key"] == "zdit")
    assert (row["count"], row["first_response_median_h"], row["first_response_p90_h"]) == ("3", "2.0", "2.8")
    assert sum(int(r["count"]) for r in rows if r["table"] == "month") == 6


def test_summary_is_cached_until_its_time_is_up(make_app):
    app = make_app(STATS_CACHE_SECONDS=300)
    client = app.test_client()
    assert client.get("/statistics.json").get_json()["periods"]["30"]["total"]["count"] == 0
    with app.app_context():
        make_report()
    assert client.get("/statistics.json").get_json()["periods"]["30"]["total"]["count"] == 0
    fresh = make_app(STATS_CACHE_SECONDS=0).test_client()
    assert fresh.get("/statistics.json").get_json()["periods"]["30"]["total"]["count"] == 1


@pytest.mark.parametrize("values,p,expected", [([], .5, None), ([4], .9, 4), ([1, 3], .5, 2), ([5, 1, 3], .5, 3)])
def test_percentile_is_percentile_cont(values, p, expected):
    from webapp.information.stats import percentile
    assert percentile(values, p) == expected


def test_stale_summary_is_served_while_a_new_one_is_computed(make_app):
    import time as clock
    app = make_app(STATS_CACHE_SECONDS=0.2)
    client = app.test_client()
    assert client.get("/statistics.json").get_json()["periods"]["30"]["total"]["count"] == 0
    with app.app_context():
        make_report()
    deadline = clock.monotonic() + 10
    counts = []
    while clock.monotonic() < deadline:
        counts.append(client.get("/statistics.json").get_json()["periods"]["30"]["total"]["count"])
        if counts[-1] == 1:
            break
        clock.sleep(0.05)
    assert counts[-1] == 1  # refreshed in the background
