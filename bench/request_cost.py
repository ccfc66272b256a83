"""Fixed per-request cost of the portal, in process: CPU milliseconds per request through
Flask's test client (no server, no network), and where they go.

    .venv/bin/python bench/request_cost.py --database-url sqlite:////tmp/b10k.sqlite
    .venv/bin/python bench/request_cost.py --database-url ... --profile /reports --top 40

Builds the app on an existing benchmark database (``bench/generate.py --out``), warms every
endpoint up, then runs ``--requests`` GETs of each and prints the median and the minimum of the
per-request *CPU* time (``time.process_time``, in ms) and the median wall time. CPU time is what
a request costs the server; on a shared machine it moves far less with other processes' load
than wall time or a throughput benchmark (bench/read.py), so before/after changes of a few
hundred microseconds show. ``--profile PATH`` runs that path under cProfile instead and prints
the ``--top`` functions by cumulative time; ``--plans`` prints every endpoint's SQL with its plan
(EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on SQLite). Exits 1 on any unexpected status.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_app(db_url: str):
    """The portal as gunicorn would build it (environment config), on ``db_url``."""
    work = Path(tempfile.mkdtemp(prefix="bench_cost_"))
    os.environ.update({"DATABASE_URL": db_url, "SECRET_KEY": "bench", "LOG_LEVEL": "WARNING",
                       "MEDIA_ROOT": str(work / "media"), "MAIL_OUTBOX_DIR": str(work / "outbox")})
    from webapp import create_app  # noqa: PLC0415 - after the environment is set
    return create_app()


def endpoints(app) -> list[tuple[str, str, dict, int]]:
    """``(label, path, headers, expected status)``; the report id is the middle one."""
    from sqlalchemy import text  # noqa: PLC0415 - only here
    from webapp.extensions import db  # noqa: PLC0415 - only here
    from webapp.reports.queries import Cursor  # noqa: PLC0415 - only here
    with app.app_context():
        top = db.session.execute(text("SELECT max(id) FROM service_request")).scalar()
        code = db.session.execute(text("SELECT service_code FROM service_request GROUP BY "
                                       "service_code ORDER BY count(*) DESC LIMIT 1")).scalar()
        # The cursor 25 pages (of 20) down the unfiltered list, as its "older" links lead.
        deep = db.session.execute(text("SELECT requested_at, id FROM service_request ORDER BY "
                                       "requested_at DESC, id DESC LIMIT 1 OFFSET 499")).one()
    when = deep[0] if not isinstance(deep[0], str) else datetime.fromisoformat(deep[0])
    token = Cursor(when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when, deep[1]).token
    client = app.test_client()
    etag = client.get("/open311/v2/requests.json").headers.get("ETag", "")
    return [
        ("/healthz", "/healthz", {}, 200),
        ("/", "/", {}, 200),
        ("/about", "/about", {}, 200),
        ("/reports", "/reports", {}, 200),
        ("/reports filtered", f"/reports?service_code={code}&status=open", {}, 200),
        ("/reports deep", f"/reports?before={token}", {}, 200),
        ("/reports/<id>", f"/reports/{top // 2}", {}, 200),
        ("open311 default", "/open311/v2/requests.json", {}, 200),
        ("open311 304", "/open311/v2/requests.json", {"If-None-Match": etag}, 304),
    ]


def measure(client, path: str, headers: dict, status: int, n: int) -> tuple[list[float], list[float]]:
    cpu, wall = [], []
    for _ in range(n):
        c, w = time.process_time(), time.perf_counter()
        response = client.get(path, headers=headers)
        response.get_data()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
        if response.status_code != status:
            raise SystemExit(f"{path}: {response.status_code}, expected {status}")
    return cpu, wall


def print_plans(app, client, points, base_headers: dict) -> None:
    """Each endpoint's SQL statements (one request, captured from the app) with their plans:
    ``EXPLAIN (ANALYZE, BUFFERS)`` on PostgreSQL, ``EXPLAIN QUERY PLAN`` on SQLite."""
    from sqlalchemy import event  # noqa: PLC0415 - only here
    from webapp.extensions import db  # noqa: PLC0415 - only here
    with app.app_context():
        engine = db.engine
    prefix = ("EXPLAIN (ANALYZE, BUFFERS) " if engine.dialect.name == "postgresql"
              else "EXPLAIN QUERY PLAN ")
    for label, path, headers, status in points:
        seen = []

        def record(conn, cursor, statement, parameters, context, executemany):
            seen.append((statement, parameters))

        event.listen(engine, "before_cursor_execute", record)
        try:
            measure(client, path, {**base_headers, **headers}, status, 1)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        print(f"=== {label}: {path} ({len(seen)} statements)")
        with engine.connect() as conn:
            for statement, parameters in seen:
                print("  " + " ".join(statement.split())[:400])
                for row in conn.exec_driver_sql(prefix + statement, parameters):
                    print("      " + " | ".join(str(c) for c in row))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a database made by generate.py")
    parser.add_argument("--requests", type=int, default=300, help="per endpoint")
    parser.add_argument("--profile", metavar="PATH", help="cProfile this endpoint (label or path)")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--plans", action="store_true", help="print the plan of every SQL "
                        "statement each endpoint runs (EXPLAIN ANALYZE on PostgreSQL)")
    parser.add_argument("--only", metavar="TEXT", help="measure only the endpoints whose label "
                        "contains TEXT (e.g. reports)")
    args = parser.parse_args(argv)
    app = make_app(args.database_url)
    points = endpoints(app)
    if args.only:
        points = [p for p in points if args.only in p[0]]
    # The browser's usual request: gzip accepted, a Polish Accept-Language, no cookie.
    base_headers = {"Accept-Encoding": "gzip, deflate", "Accept-Language": "pl,en;q=0.8"}
    client = app.test_client()
    for _label, path, headers, status in points:
        measure(client, path, {**base_headers, **headers}, status, 20)
    if args.plans:
        print_plans(app, client, points, base_headers)
        return 0
    if args.profile:
        label, path, headers, status = next(p for p in points if args.profile in (p[0], p[1]))
        profiler = cProfile.Profile()
        profiler.enable()
        measure(client, path, {**base_headers, **headers}, status, args.requests)
        profiler.disable()
        print(f"cProfile of {args.requests} x {path}")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.top)
        return 0
    print(f"{'endpoint':<18}{'CPU p50 ms':>11}{'CPU min ms':>11}{'wall p50 ms':>12}  ({args.requests} each)")
    for label, path, headers, status in points:
        cpu, wall = measure(client, path, {**base_headers, **headers}, status, args.requests)
        print(f"{label:<18}{statistics.median(cpu) * 1000:>11.2f}{min(cpu) * 1000:>11.2f}"
              f"{statistics.median(wall) * 1000:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
