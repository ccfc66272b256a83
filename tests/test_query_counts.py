"""The public pages stay cheap as data grows (issue 12): the number of SQL statements per page
does not grow with the number of reports, and on PostgreSQL the list and Open311 queries read
through an index instead of scanning and sorting the table. Not timed: bench/read.py times."""
from __future__ import annotations

import os
from datetime import timedelta

import pytest

from tests.factories import make_report
from tests.helpers import statements
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.photos.models import Photo

# Cursors: "older than 1 Jan 2100" (the keyset query, every report) and "newer than" it (none:
# the newest page, the same queries however many reports there are).
BEFORE_2100 = "before=4102444800000000-2147483647"
AFTER_2100 = "after=4102444800000000-1"

PAGES = [
    "/reports", f"/reports?{BEFORE_2100}", f"/reports?{AFTER_2100}", "/reports?page=2",
    "/reports?service_code=ROAD_POTHOLE&status=open",
    f"/reports?service_code=ROAD_POTHOLE&status=open&{BEFORE_2100}",
    "/reports?status=closed", "/reports/{id}", "/", "/rules", "/about", "/privacy",
    "/open311/v2/requests.json", "/open311/v2/requests.json?page_size=1000",
    "/open311/v2/requests.json?service_code=ROAD_POTHOLE&status=open",
    "/open311/v2/requests/{id}.json", "/healthz",
]


def add_reports(app, n: int, start: int = 0) -> int:
    """``n`` reports with a history of three changes and a photo each, an hour apart."""
    with app.app_context():
        base = utcnow() - timedelta(days=5)
        for i in range(start, start + n):
            status = "resolved" if i % 3 == 0 else "dispatched"
            report = make_report(
                requested_at=base + timedelta(hours=i), status=status, commit=False,
                history=[("dispatched", "", "system", None, "zdit", 0),
                         ("accepted", "", "unit", "zdit", "zdit", 30),
                         (status, "Naprawione", "unit", "zdit", "zdit", 60)])
            report.photos.append(Photo(
                position=0, sha256="0" * 64, content_type="image/jpeg", original_key=f"o{i}",
                public_key=f"p{i}", thumb_key=f"t{i}", width=2048, height=1536))
        db.session.commit()
        return report.id


def count_per_page(app, client, report_id: int) -> dict[str, int]:
    counts = {}
    for page in PAGES:
        path = page.format(id=report_id)
        client.get(path)  # first: fills per-data-version caches (the list's count)
        with statements(app) as seen:
            response = client.get(path)
        assert response.status_code == 200, path
        counts[page] = len(seen)
    return counts


def test_queries_per_public_page_do_not_grow_with_the_data(app, client):
    last = add_reports(app, 5)
    few = count_per_page(app, client, last)
    last = add_reports(app, 45, start=5)
    many = count_per_page(app, client, last)
    assert many == few
    # and they are few: no query per row
    # (a report page: the report, history, photos, hidden photos, supports, delivery, session)
    assert max(few.values()) <= 8, few


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="PostgreSQL plans only")
def test_list_and_open311_queries_use_an_index_on_postgresql(app, client):
    last = add_reports(app, 30)
    paths = ["/reports", f"/reports?{BEFORE_2100}", "/reports?after=0-1",
             "/reports?service_code=ROAD_POTHOLE&status=open",
             f"/reports?service_code=ROAD_POTHOLE&status=open&{BEFORE_2100}",
             "/reports?service_code=ROAD_POTHOLE&after=0-1",
             "/open311/v2/requests.json",
             "/open311/v2/requests.json?service_code=ROAD_POTHOLE&start_date=2026-01-01&status=open",
             f"/reports/{last}"]
    with statements(app) as seen:
        for path in paths:
            assert client.get(path).status_code == 200
    ordered = [(s, p) for s, p in seen
               if "FROM service_request" in s and "ORDER BY" in s]
    assert len(ordered) >= 5
    with app.app_context():
        with db.engine.connect() as conn:
            # A tiny table is cheaper to scan: forbid that, so the plan shows whether an index
            # matches at all (without one PostgreSQL still scans, whatever the settings).
            conn.exec_driver_sql("SET enable_seqscan = off")
            conn.exec_driver_sql("SET enable_bitmapscan = off")
            # Likewise a sort of the one row the statistics of an earlier test promise: with
            # sorting discouraged, a Sort is left in the plan only when no index gives the order.
            conn.exec_driver_sql("SET enable_sort = off")
            for statement, parameters in ordered:
                plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement,
                                                                    parameters))
                assert "Index" in plan, plan
                assert "Seq Scan on service_request" not in plan, plan
                # the order comes from the index: no sort of every match
                assert "Sort" not in plan, plan
