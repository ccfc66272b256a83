"""Cost of the public statistics at scale: one cold computation of every figure.

    .venv/bin/python bench/statistics_rebuild.py --reports 1000000            # SQLite in a temp dir
    .venv/bin/python bench/statistics_rebuild.py --reports 1000000 --database-url postgresql://postgres@127.0.0.1:5432/bench

Fills a throw-away database (migrated with Alembic; on PostgreSQL a schema of its own, dropped at
the end) with ``--reports`` reports spread evenly over the last two years, each with a dispatch
row and, for two thirds of them, a unit's response and a resolution, then times
:func:`webapp.information.stats.rebuild` (compute every figure from the reports and replace the
summary table: what the worker pays every ``STATS_REFRESH_SECONDS``, in a thread of its own),
the page's only query (:func:`webapp.information.stats.load`, reading the summary table; median
of 50) and whole ``GET /statistics`` requests (mean of 20). Prints the figures as JSON.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--database-url")
    parser.add_argument("--existing", metavar="URL",
                        help="an already filled database (bench/generate.py's): migrate it to the "
                             "head, time the statistics on its rows, drop nothing")
    args = parser.parse_args()

    from flask_migrate import upgrade
    from sqlalchemy import create_engine, insert, text

    from webapp import create_app
    from webapp.clock import utcnow
    from webapp.extensions import db
    from webapp.reports.models import Report, StatusChange

    tmp = Path(tempfile.mkdtemp(prefix="bench-stats-"))
    schema, options = None, {}
    url = args.existing or args.database_url or f"sqlite:///{tmp / 'bench.sqlite'}"
    if args.database_url and not args.existing:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with create_engine(url).begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        options = {"connect_args": {"options": f"-csearch_path={schema}"}}
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": options,
                      "SECRET_KEY": "bench", "INSTANCE_PATH": str(tmp)})
    rng = random.Random(11)
    units = ["zdit", "wgk", "sm", "zzm", "zwik", "animal_patrol"]
    codes = ["ROAD_POTHOLE", "STREET_LIGHT", "ILLEGAL_DUMP", "PARKING", "TREE_HAZARD", "WATER_LEAK"]
    try:
        with app.app_context():
            upgrade()
            now = utcnow()
            started = time.perf_counter()
            batch = 20_000
            for start in range(0, 0 if args.existing else args.reports, batch):
                reports, changes = [], []
                for i in range(start, min(start + batch, args.reports)):
                    at = now - timedelta(minutes=rng.randrange(0, 730 * 24 * 60))
                    k = i % len(units)
                    done = i % 3 != 0
                    reports.append({"id": i + 1, "client_id": str(uuid.UUID(int=i + 1)), "service_code": codes[k],
                                    "description": "x" * 20, "public_description": "x" * 20,
                                    "lat": 51.76, "long": 19.46, "location_source": "manual",
                                    "status": "resolved" if done else "dispatched",
                                    "agency_responsible": units[k], "routing_rule": "", "routing_reason": "",
                                    "tracking_token_hash": f"{i + 1:064x}", "requested_at": at,
                                    "updated_at": at, "version_id": 1})
                    changes.append({"report_id": i + 1, "status": "dispatched", "note": "", "actor_kind": "system",
                                    "agency_responsible": units[k], "created_at": at})
                    if done:
                        first = at + timedelta(minutes=rng.randrange(10, 5 * 24 * 60))
                        changes.append({"report_id": i + 1, "status": "accepted", "note": "", "actor_kind": "unit",
                                        "agency_responsible": units[k], "created_at": first})
                        changes.append({"report_id": i + 1, "status": "resolved", "note": "", "actor_kind": "unit",
                                        "agency_responsible": units[k],
                                        "created_at": first + timedelta(minutes=rng.randrange(10, 30 * 24 * 60))})
                db.session.execute(insert(Report), reports)
                db.session.execute(insert(StatusChange), changes)
                db.session.commit()
            filled = time.perf_counter() - started
            if url.startswith("postgresql"):
                db.session.execute(text("ANALYZE"))
                db.session.commit()
            else:
                db.session.execute(text("ANALYZE"))

            from webapp.information.stats import load, rebuild
            t0 = time.perf_counter()
            summary = rebuild(db.session, utcnow())
            rebuild_s = time.perf_counter() - t0
            reads, cpu = [], []
            for _ in range(50):
                db.session.rollback()  # a fresh transaction, as a request has
                t0, c0 = time.perf_counter(), time.process_time()
                assert load(db.session) is not None
                reads.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            reads.sort()
            cpu.sort()
            reports = db.session.execute(text("SELECT count(*) FROM service_request")).scalar()
        client = app.test_client()
        assert client.get("/statistics").status_code == 200  # warm-up (templates)
        t0 = time.perf_counter()
        for _ in range(20):
            assert client.get("/statistics").status_code == 200
        page = (time.perf_counter() - t0) / 20
        print(json.dumps({"database": url.split(":")[0], "reports": reports,
                          "fill_seconds": round(filled, 1), "rebuild_seconds": round(rebuild_s, 2),
                          "summary_read_ms_median": round(reads[len(reads) // 2] * 1000, 2),
                          "summary_read_ms_max": round(reads[-1] * 1000, 2),
                          "summary_read_cpu_ms_median": round(cpu[len(cpu) // 2] * 1000, 2),
                          "page_ms_mean": round(page * 1000, 1),
                          "reports_last_365_days": summary.periods[365]["total"].count}, indent=2))
    finally:
        if schema:
            with create_engine(url).begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    return 0


if __name__ == "__main__":
    sys.exit(main())
