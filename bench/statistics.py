"""Cost of the public statistics at scale: one cold computation of every figure.

    .venv/bin/python bench/statistics.py --reports 1000000            # SQLite in a temp dir
    .venv/bin/python bench/statistics.py --reports 1000000 --database-url postgresql://postgres@127.0.0.1:5432/bench

Fills a throw-away database (migrated with Alembic; on PostgreSQL a schema of its own, dropped at
the end) with ``--reports`` reports spread evenly over the last two years, each with a dispatch
row and, for two thirds of them, a unit's response and a resolution, then times
:func:`webapp.information.stats.compute` (the cold path: what one process pays once per
``STATS_CACHE_SECONDS``) and a cached request. Prints the figures as JSON.
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
    args = parser.parse_args()

    from flask_migrate import upgrade
    from sqlalchemy import create_engine, insert, text

    from webapp import create_app
    from webapp.clock import utcnow
    from webapp.extensions import db
    from webapp.reports.models import Report, StatusChange

    tmp = Path(tempfile.mkdtemp(prefix="bench-stats-"))
    schema, options = None, {}
    url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite'}"
    if args.database_url:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with create_engine(url).begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        options = {"connect_args": {"options": f"-csearch_path={schema}"}}
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": options,
                      "SECRET_KEY": "bench", "INSTANCE_PATH": str(tmp), "STATS_CACHE_SECONDS": 300})
    rng = random.Random(11)
    units = ["zdit", "wgk", "sm", "zzm", "zwik", "animal_patrol"]
    codes = ["ROAD_POTHOLE", "STREET_LIGHT", "ILLEGAL_DUMP", "PARKING", "TREE_HAZARD", "WATER_LEAK"]
    try:
        with app.app_context():
            upgrade()
            now = utcnow()
            started = time.perf_counter()
            batch = 20_000
            for start in range(0, args.reports, batch):
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

            from webapp.information.stats import compute
            t0 = time.perf_counter()
            summary = compute(db.session, utcnow())
            cold = time.perf_counter() - t0
        client = app.test_client()
        client.get("/statistics.json")  # fills the cache
        t0 = time.perf_counter()
        for _ in range(20):
            assert client.get("/statistics").status_code == 200
        cached = (time.perf_counter() - t0) / 20
        print(json.dumps({"database": url.split(":")[0], "reports": args.reports,
                          "fill_seconds": round(filled, 1), "compute_cold_seconds": round(cold, 2),
                          "page_cached_ms": round(cached * 1000, 1),
                          "reports_last_365_days": summary.periods[365]["total"].count}, indent=2))
    finally:
        if schema:
            with create_engine(url).begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    return 0


if __name__ == "__main__":
    sys.exit(main())
