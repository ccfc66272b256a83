"""Benchmark of the city map's bounding-box endpoint (issue 10): ``GET /reports.geojson``.

Fills a throw-away database with ``--count`` reports spread uniformly over Łódź (SQLite file in
a temporary folder, or the PostgreSQL database ``--pg-database``, default ``bench_map``, dropped
and created by this script and dropped again at the end), starts the portal on ``--port`` with
``flask serve`` (as ``make run``), then asks, one request at a time and interleaved, ``/healthz``
and the endpoint for three boxes: the whole city, a district (Śródmieście, ~3.5 x 3.3 km) and a
street (~280 x 330 m). It prints the median and 95th percentile of each (milliseconds, client
side, over ``--requests`` requests each, after a warm-up) and the database's plan of every query
the endpoint runs for each box (EXPLAIN QUERY PLAN on SQLite, EXPLAIN (ANALYZE, BUFFERS) on
PostgreSQL). No If-None-Match is sent: every request runs the queries.

    .venv/bin/python bench/map_bbox.py --db sqlite
    .venv/bin/python bench/map_bbox.py --db postgresql
    .venv/bin/python bench/map_bbox.py --db postgresql --count 1000000
"""
from __future__ import annotations

import argparse
import io
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from sqlalchemy import create_engine, event, text

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

# Łódź's extent, roughly (WGS84): points are drawn uniformly in it.
CITY = (19.32, 51.68, 19.64, 51.86)
BOXES = {
    "city": CITY,
    "district": (19.435, 51.745, 19.485, 51.775),
    "street": (19.4555, 51.7585, 19.4595, 51.7615),
}
CODES = ["ROAD_POTHOLE", "ROAD_SIDEWALK", "STREET_LIGHT", "ILLEGAL_DUMP", "GRAFFITI", "LITTER"]
STATUSES = ["dispatched"] * 4 + ["accepted", "in_progress", "resolved", "resolved", "rejected",
                                  "awaiting_moderation"]
COLUMNS = ("client_id", "service_code", "description", "public_description", "lat", "long",
           "location_source", "status", "agency_responsible", "routing_rule",
           "tracking_token_hash", "requested_at", "updated_at", "version_id")


def rows(count: int, seed: int = 10):
    """``count`` report rows as tuples in :data:`COLUMNS` order (deterministic for a seed)."""
    rnd = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    for i in range(count):
        when = start + timedelta(seconds=rnd.randrange(700 * 86400))
        code = rnd.choice(CODES)
        yield (str(uuid.UUID(int=rnd.getrandbits(128))), code, "bench", "bench",
               rnd.uniform(CITY[1], CITY[3]), rnd.uniform(CITY[0], CITY[2]), "manual",
               rnd.choice(STATUSES), "zdit", f"category:{code}", f"{i:064x}", when, when, 1)


def fill_sqlite(path: Path, count: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    sql = (f"INSERT INTO service_request ({', '.join(COLUMNS)}) "
           f"VALUES ({', '.join('?' * len(COLUMNS))})")
    conn.executemany(sql, ((*r[:11], r[11].strftime("%Y-%m-%d %H:%M:%S.%f"),
                            r[12].strftime("%Y-%m-%d %H:%M:%S.%f"), r[13]) for r in rows(count)))
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def fill_postgres(url: str, count: int) -> None:
    """COPY in chunks (the fast way into PostgreSQL), then VACUUM ANALYZE (statistics and the
    visibility map, so index-only scans are possible)."""
    import psycopg  # only needed for PostgreSQL
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        with conn.cursor() as cur:
            with cur.copy(f"COPY service_request ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows(count):
                    copy.write_row(row)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE service_request")


def prepare_postgres(name: str) -> str:
    if name in ("test", "postgres", "root"):
        raise SystemExit(f"refusing to use the {name!r} database for the benchmark")
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_postgres(name: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def explain(db_url: str, instance: Path, is_pg: bool) -> str:
    """The plans of the queries the endpoint runs for each box (captured from the app itself)."""
    os.environ.update(DATABASE_URL=db_url, INSTANCE_PATH=str(instance), SECRET_KEY="bench")
    from webapp import create_app
    from webapp.citymap import queries
    from webapp.extensions import db
    app = create_app()
    out = io.StringIO()
    with app.app_context():
        captured = []
        event.listen(db.engine, "before_cursor_execute",
                     lambda conn, cur, stmt, params, ctx, many: captured.append((stmt, params)))
        for name, box in BOXES.items():
            captured.clear()
            filters = queries.parse_map_filters({"bbox": ",".join(map(str, box))}, [])
            content = queries.reports_in_box(filters)
            out.write(f"--- {name} box {box}: {'grid of ' + str(len(content.cells)) + ' cells' if content.clustered else str(len(content.reports)) + ' reports'}\n")
            for stmt, params in list(captured):
                prefix = "EXPLAIN (ANALYZE, BUFFERS) " if is_pg else "EXPLAIN QUERY PLAN "
                out.write(" ".join(stmt.split()) + "\n")
                with db.engine.connect() as conn:
                    result = conn.exec_driver_sql(prefix + stmt, params)
                    for row in result:
                        out.write("    " + " | ".join(str(c) for c in row) + "\n")
    return out.getvalue()


def start_server(db_url: str, instance: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RATELIMIT_", "MAIL_"))}
    env.update(DATABASE_URL=db_url, INSTANCE_PATH=str(instance), SECRET_KEY="bench-secret",
               FLASK_APP="webapp", LOG_LEVEL="WARNING", MEDIA_ROOT=str(instance / "media"))
    log = open(instance / "server.log", "wb")
    proc = subprocess.Popen([str(BIN / "flask"), "serve", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early; see {instance / 'server.log'}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except requests.RequestException:
            pass
        time.sleep(0.3)
    stop_server(proc)
    raise SystemExit("server did not answer /healthz within 120 s")


def stop_server(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def measure(port: int, n: int) -> dict[str, list[float]]:
    base = f"http://127.0.0.1:{port}"
    urls = {"healthz": f"{base}/healthz"}
    urls.update({name: f"{base}/reports.geojson?bbox={','.join(map(str, box))}"
                 for name, box in BOXES.items()})
    session = requests.Session()
    times: dict[str, list[float]] = {name: [] for name in urls}
    features: dict[str, str] = {}
    for i in range(n + 5):
        for name, url in urls.items():
            t0 = time.perf_counter()
            response = session.get(url, timeout=30)
            elapsed = (time.perf_counter() - t0) * 1000
            response.raise_for_status()
            if i >= 5:  # warm-up
                times[name].append(elapsed)
            if name != "healthz" and name not in features:
                body = response.json()
                features[name] = (f"{'grid' if body['clustered'] else 'reports'}: "
                                  f"{len(body['features'])} features, {body['count']} reports, "
                                  f"{len(response.content) // 1024} KiB")
    for name, text_ in features.items():
        print(f"  {name}: {text_}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--port", type=int, default=5201)
    parser.add_argument("--pg-database", default="bench_map")
    args = parser.parse_args()
    is_pg = args.db == "postgresql"
    with tempfile.TemporaryDirectory(prefix="bench-map-") as tmp:
        instance = Path(tmp)
        db_url = prepare_postgres(args.pg_database) if is_pg else f"sqlite:///{instance / 'bench.sqlite'}"
        env = {**os.environ, "DATABASE_URL": db_url, "INSTANCE_PATH": str(instance),
               "SECRET_KEY": "bench", "FLASK_APP": "webapp"}
        proc = None
        try:
            subprocess.run([str(BIN / "flask"), "db", "upgrade"], cwd=ROOT, env=env, check=True,
                           capture_output=True)
            t0 = time.perf_counter()
            if is_pg:
                fill_postgres(db_url, args.count)
            else:
                fill_sqlite(instance / "bench.sqlite", args.count)
            print(f"{args.db}: {args.count:,} reports inserted in {time.perf_counter() - t0:.1f} s")
            print(explain(db_url, instance, is_pg))
            proc = start_server(db_url, instance, args.port)
            times = measure(args.port, args.requests)
        finally:
            if proc is not None:
                stop_server(proc)
            if is_pg:
                drop_postgres(args.pg_database)
    print(f"\n{'request':<10} {'p50 ms':>8} {'p95 ms':>8}   ({args.requests} each, {args.db}, {args.count:,} reports)")
    for name, values in times.items():
        print(f"{name:<10} {statistics.median(values):>8.1f} {percentile(values, 95):>8.1f}")


if __name__ == "__main__":
    main()
