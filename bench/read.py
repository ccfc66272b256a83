"""Read benchmark: the public pages and Open311 against a bare-Flask ceiling, in one run.

    .venv/bin/python bench/read.py                           # make bench: 10k reports, SQLite
    .venv/bin/python bench/read.py --size 100k --db sqlite
    .venv/bin/python bench/read.py --size 1M --db postgresql --requests 400

Generates the data (bench/generate.py, seeded) unless ``--database-url`` names an existing
benchmark database, then starts two gunicorn servers with the same configuration (2 sync
workers, loopback, ports ``--port`` and ``--port``+1): the portal on that database and
``bench/bare_app.py`` (Flask rendering a tiny template: the framework's own ceiling). For each
endpoint, ``--connections`` threads (one keep-alive ``requests.Session`` each) send
``--requests`` GETs in total, after a warm-up; the bare app is measured the same way, in
between. Prints req/s, p50/p95/p99 in ms and the ratio of req/s to the ceiling's; exits 1 when
any answer is not 200 (or 304 where asked).

``--single`` also measures one client alone (one request at a time: latency without queueing).
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate  # noqa: E402  (bench/ is not a package)

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def endpoints(base: str, db_url: str) -> list[tuple[str, str]]:
    """``(label, path)`` of every measured endpoint; ids and codes picked from the data."""
    from sqlalchemy import create_engine, text  # noqa: PLC0415 - only here
    engine = create_engine(db_url)
    with engine.connect() as con:
        top = con.execute(text("SELECT max(id) FROM service_request")).scalar()
        code = con.execute(text("SELECT service_code FROM service_request GROUP BY service_code "
                                "ORDER BY count(*) DESC LIMIT 1")).scalar()
        rare = con.execute(text("SELECT service_code FROM service_request GROUP BY service_code "
                                "ORDER BY count(*) ASC LIMIT 1")).scalar()
    engine.dispose()
    first = requests.get(f"{base}/reports", timeout=60).text
    older = _older_link(first)
    deep = older or "/reports?page=500"
    # A link 25 pages deep: follow "older" links (keyset) or a page number (OFFSET).
    if older:
        page = first
        for _ in range(25):
            link = _older_link(page)
            if not link:
                break
            deep = link
            page = requests.get(base + link, timeout=60).text
    return [
        ("/reports", "/reports"),
        ("/reports deep", deep),
        ("/reports filtered", f"/reports?service_code={code}&status=open"),
        ("/reports rare filter", f"/reports?service_code={rare}&status=closed"),
        ("/reports/<id>", f"/reports/{top // 2}"),
        ("/", "/"),
        ("/rules", "/rules"),
        ("/about", "/about"),
        ("open311 default", "/open311/v2/requests.json"),
        ("open311 filtered", f"/open311/v2/requests.json?service_code={code}"
                             f"&start_date=2026-06-01T00:00:00Z&status=open"),
        ("/healthz", "/healthz"),
    ]


def _older_link(html: str) -> str | None:
    import html as html_mod  # noqa: PLC0415 - only here
    import re  # noqa: PLC0415 - only here
    match = re.search(r'<a[^>]*href="([^"]*(?:before|after)=[^"]*)"[^>]*rel="next"', html) or \
        re.search(r'<a[^>]*rel="next"[^>]*href="([^"]*)"', html)
    return html_mod.unescape(match.group(1)) if match else None


def start(app: str, port: int, env: dict, log: Path) -> subprocess.Popen:
    """gunicorn with 2 sync workers on 127.0.0.1:``port``; waits until it answers. Refuses a
    port something else already answers on (it would measure that server instead)."""
    try:
        requests.get(f"http://127.0.0.1:{port}/", timeout=2)
        raise SystemExit(f"port {port} is already in use: stop that server or pass --port")
    except requests.RequestException:
        pass
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), "--workers", "2", "--worker-class", "sync", "--bind",
         f"127.0.0.1:{port}", app],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
            return proc
        except requests.RequestException:
            time.sleep(0.2)
    stop(proc)
    raise SystemExit(f"{app} did not start; see {log}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def load(url: str, total: int, connections: int, headers: dict | None = None,
         ok=(200,)) -> tuple[float, list[float], int]:
    """``total`` GETs of ``url`` over ``connections`` threads; (req/s, latencies s, failures)."""
    lock = threading.Lock()
    remaining = [total]
    latencies: list[float] = []
    failures = [0]

    def worker():
        session = requests.Session()
        mine = []
        while True:
            with lock:
                if remaining[0] <= 0:
                    break
                remaining[0] -= 1
            t = time.perf_counter()
            try:
                r = session.get(url, headers=headers, timeout=60)
                r.content
                good = r.status_code in ok
            except requests.RequestException:
                good = False
            mine.append(time.perf_counter() - t)
            if not good:
                with lock:
                    failures[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return total / (time.perf_counter() - started), latencies, failures[0]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="10k", help="10k, 100k, 1M or a number")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--database-url", help="use this generated database as it is")
    parser.add_argument("--requests", type=int, default=400, help="per endpoint")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--port", type=int, default=5211)
    parser.add_argument("--single", action="store_true", help="also one client, one at a time")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    args = parser.parse_args(argv)
    size = generate.SIZES.get(args.size) or int(args.size)
    db_url = args.database_url or generate.generate(size, args.db)
    work = Path(tempfile.mkdtemp(prefix="bench_read_"))
    env = {**os.environ, "DATABASE_URL": db_url, "PORT": str(args.port),
           "SECRET_KEY": "bench", "LOG_LEVEL": "WARNING", "MEDIA_ROOT": str(work / "media"),
           "MAIL_OUTBOX_DIR": str(work / "outbox")}
    app = start("webapp:create_app()", args.port, env, work / "app.log")
    try:
        bare = start("bare_app:app", args.port + 1, {**env, "PYTHONPATH": str(ROOT / "bench")},
                     work / "bare.log")
    except BaseException:
        stop(app)
        raise
    base, ceiling_url = f"http://127.0.0.1:{args.port}", f"http://127.0.0.1:{args.port + 1}/"
    failed = 0
    try:
        points = endpoints(base, db_url)
        if args.database_url:
            from sqlalchemy import create_engine, text  # noqa: PLC0415 - only here
            engine = create_engine(db_url)
            with engine.connect() as con:
                size = con.execute(text("SELECT count(*) FROM service_request")).scalar()
            engine.dispose()
        print(f"{size} reports on {db_url.split(':')[0]}; gunicorn 2 sync workers; "
              f"{args.connections} connections, {args.requests} requests per endpoint")
        header = f"{'endpoint':<24}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'ratio':>8}"
        print(header)
        print("-" * len(header))
        load(ceiling_url, 200, args.connections)
        ceiling, lat, _ = load(ceiling_url, args.requests * 2, args.connections)
        print(f"{'bare Flask (ceiling)':<24}{ceiling:>8.0f}{pct(lat, 50):>9.1f}{pct(lat, 95):>9.1f}"
              f"{pct(lat, 99):>9.1f}{1:>8.2f}")
        rows = []
        for label, path in points:
            load(base + path, args.connections * 3, args.connections)  # warm-up
            rate, lat, bad = load(base + path, args.requests, args.connections)
            failed += bad
            rows.append((label, path, rate, lat))
            print(f"{label:<24}{rate:>8.0f}{pct(lat, 50):>9.1f}{pct(lat, 95):>9.1f}"
                  f"{pct(lat, 99):>9.1f}{rate / ceiling:>8.2f}" + (f"  {bad} failed" if bad else ""))
        # A poll that repeats the validator: should be a 304 and cheap.
        first = requests.get(base + "/open311/v2/requests.json", timeout=60)
        if first.headers.get("ETag"):
            hdr = {"If-None-Match": first.headers["ETag"]}
            rate, lat, bad = load(base + "/open311/v2/requests.json", args.requests,
                                  args.connections, hdr, ok=(304,))
            failed += bad
            print(f"{'open311 304 (ETag)':<24}{rate:>8.0f}{pct(lat, 50):>9.1f}{pct(lat, 95):>9.1f}"
                  f"{pct(lat, 99):>9.1f}{rate / ceiling:>8.2f}")
        ceiling2, lat, _ = load(ceiling_url, args.requests * 2, args.connections)
        print(f"{'bare Flask (again)':<24}{ceiling2:>8.0f}{pct(lat, 50):>9.1f}{pct(lat, 95):>9.1f}"
              f"{pct(lat, 99):>9.1f}{ceiling2 / ceiling:>8.2f}")
        if args.single:
            print("\none client, one request at a time (50 each): p50 / p95 ms")
            for label, path, _, _ in rows:
                _, lat, _ = load(base + path, 50, 1)
                print(f"{label:<24}{pct(lat, 50):>9.1f}{pct(lat, 95):>9.1f}")
        print("paths: " + ", ".join(p for _, p, _, _ in rows))
    finally:
        stop(app)
        stop(bare)
        if db_url.startswith("postgresql") and not args.keep and not args.database_url:
            generate.drop_postgres()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
