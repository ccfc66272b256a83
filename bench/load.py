"""Load benchmark: many residents posting reports with a phone-sized photo, plus readers.

Starts the portal itself on 127.0.0.1 (loopback only), with an SMTP sink (aiosmtpd) in this
process standing in for the units' mail server, then for ``--duration`` seconds runs
``--residents`` threads that each post reports (one 2048 px JPEG with GPS inside Łódź) and
``--readers`` threads that read ``/reports`` and ``/open311/v2/requests.json``. Afterwards it
waits (bounded) for the outbox to drain and checks what was stored and sent.

Modes:

- ``production``: ``scripts/serve_production.sh`` (supervisord: gunicorn ``--web-workers``
  processes of ``--web-threads`` threads + ``--outbox-workers`` outbox workers) on PostgreSQL, database ``bench_load``
  (dropped and created anew; never the test database), rate-limit counters in Redis.
- ``run``: what ``make run`` starts: ``flask serve`` (werkzeug, threaded, the outbox worker in a
  thread) on a fresh SQLite file.

Rate limits are raised through the environment (``REPORT_RATE_LIMIT``,
``REPORT_ATTEMPT_RATE_LIMIT``): every simulated resident comes from 127.0.0.1.

Prints requests/s, latency percentiles per kind, the status codes, 5xx count, reports accepted
vs stored (and duplicates), and dispatch e-mails per report. Exits 1 when any 5xx or transport
error happened, stored != accepted, or a report did not get exactly one dispatch e-mail.
Usage: see bench/README.md.
"""
from __future__ import annotations

import argparse
import email
import email.policy
import io
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import requests
from aiosmtpd.controller import Controller
from PIL import Image
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PHOTO = ROOT / "tests" / "fixtures" / "photos" / "derived_lodz_gps_DSCN0025.jpg"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
# ul. Piotrkowska, inside Łódź (the photo's own GPS says the same).
LAT, LONG = "51.7592", "19.4560"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


# ----------------------------------------------------------------------------- SMTP sink

class Sink:
    """aiosmtpd handler keeping the Subject of every message received."""

    def __init__(self):
        self.subjects: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.subjects.append(str(msg["Subject"] or ""))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- the photo

def phone_photo() -> bytes:
    """The Łódź fixture scaled to 2048 px on the long side, EXIF (GPS) kept, quality 90."""
    with Image.open(PHOTO) as im:
        exif = im.info.get("exif", b"")
        w, h = im.size
        scale = 2048 / max(w, h)
        big = im.convert("RGB").resize((round(w * scale), round(h * scale)), Image.LANCZOS)
    buf = io.BytesIO()
    big.save(buf, "JPEG", quality=90, exif=exif)
    return buf.getvalue()


# ----------------------------------------------------------------------------- the server

def prepare_postgres(db_name: str) -> str:
    """Drop and create ``db_name`` on the local server; return its URL."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", db_name):
        raise SystemExit(f"bad database name {db_name!r}")
    if db_name in ("test", "postgres", "root"):
        raise SystemExit(f"refusing to use the {db_name!r} database for the benchmark")
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{db_name}"'))
    admin.dispose()
    return f"postgresql://postgres@127.0.0.1:5432/{db_name}"


def start_server(args, instance: Path, smtp_port: int) -> tuple[subprocess.Popen, str, str]:
    """Start the portal; return (process, base URL, database URL)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RATELIMIT_", "MAIL_", "TRUSTED_"))}
    env.update(
        INSTANCE_PATH=str(instance), SECRET_KEY="bench-secret", PORT=str(args.port),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{args.port}", LOG_LEVEL="WARNING",
        MAIL_SERVER="127.0.0.1", MAIL_PORT=str(smtp_port),
        REPORT_RATE_LIMIT="1000000 per minute", REPORT_ATTEMPT_RATE_LIMIT="1000000 per minute",
        WORKER_POLL_SECONDS="0.5", FLASK_APP="webapp", MEDIA_ROOT=str(instance / "media"),
    )
    log = open(instance / "server.log", "wb")
    if args.mode == "production":
        db_url = prepare_postgres(args.pg_database)
        env.update(DATABASE_URL=db_url, BIN=str(BIN), WEB_WORKERS=str(args.web_workers),
                   WEB_THREADS=str(args.web_threads),
                   OUTBOX_WORKERS=str(args.outbox_workers),
                   SUPERVISOR_DIR=str(instance / "supervisor"))
        if args.redis:
            env["RATELIMIT_STORAGE_URI"] = args.redis
        cmd = [str(ROOT / "scripts" / "serve_production.sh")]
    else:
        db_url = f"sqlite:///{instance / 'bench.sqlite'}"
        env["DATABASE_URL"] = db_url
        subprocess.run([str(BIN / "flask"), "db", "upgrade"], cwd=ROOT, env=env, check=True,
                       stdout=log, stderr=subprocess.STDOUT)
        cmd = [str(BIN / "flask"), "serve", "--host", "127.0.0.1", "--port", str(args.port)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{args.port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early; see {instance / 'server.log'}")
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return proc, base, db_url
        except requests.RequestException:
            pass
        time.sleep(0.3)
    stop_server(proc)
    raise SystemExit("server did not answer /healthz within 120 s")


def stop_server(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# ----------------------------------------------------------------------------- the load

class Results:
    def __init__(self):
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.status: Counter = Counter()
        self.transport_errors: Counter = Counter()
        self.accepted: dict[str, str] = {}  # client_id -> report number
        self.five_xx_samples: list[str] = []
        self.retries = 0

    def record(self, kind: str, seconds: float, status: int, body: str = "") -> None:
        with self.lock:
            self.latency[kind].append(seconds)
            self.status[(kind, status)] += 1
            if status >= 500 and len(self.five_xx_samples) < 5:
                self.five_xx_samples.append(f"{kind} {status}: {body[:300]}")


def resident(base: str, photo: bytes, stop_at: float, results: Results, timeout: float) -> None:
    """One resident: fetch the form once (session cookie + CSRF token), then post reports."""
    session = requests.Session()
    try:
        page = session.get(f"{base}/report", timeout=timeout).text
        token = CSRF_RE.search(page)[1]
    except Exception as e:  # noqa: BLE001
        with results.lock:
            results.transport_errors[f"form: {type(e).__name__}"] += 1
        return
    while time.monotonic() < stop_at:
        client_id = str(uuid.uuid4())
        data = {"csrf_token": token, "client_id": client_id, "service_code": "ROAD_POTHOLE",
                "description": "Głęboka dziura w jezdni przy przejściu dla pieszych (test obciążenia).",
                "lat": LAT, "long": LONG, "location_source": "photo",
                "address_string": "Piotrkowska 104"}
        started = time.perf_counter()
        r = None
        for attempt in (1, 2):
            try:
                r = session.post(f"{base}/report", data=data, timeout=timeout,
                                 files=[("media", ("IMG_0001.jpg", photo, "image/jpeg"))],
                                 headers={"Accept": "application/json", "Origin": base})
                break
            except requests.ConnectionError:
                # A kept-alive connection the server closed as we reused it: send again with
                # the same client_id, as the offline app does (the server answers a repeat
                # with the first report, so this never makes two).
                with results.lock:
                    results.retries += 1
                if attempt == 2:
                    with results.lock:
                        results.transport_errors["post: ConnectionError"] += 1
            except requests.RequestException as e:
                with results.lock:
                    results.transport_errors[f"post: {type(e).__name__}"] += 1
                break
        if r is None:
            continue
        results.record("post /report", time.perf_counter() - started, r.status_code, r.text)
        if r.status_code in (200, 201):
            with results.lock:
                results.accepted[client_id] = r.json()["number"]


def reader(base: str, stop_at: float, results: Results, timeout: float) -> None:
    session = requests.Session()
    paths = ["/reports", "/open311/v2/requests.json"]
    i = 0
    while time.monotonic() < stop_at:
        path = paths[i % 2]
        i += 1
        started = time.perf_counter()
        try:
            r = session.get(f"{base}{path}", timeout=timeout)
        except requests.RequestException as e:
            with results.lock:
                results.transport_errors[f"get {path}: {type(e).__name__}"] += 1
            continue
        results.record(f"get {path}", time.perf_counter() - started, r.status_code, r.text)


def warm_up(base: str, n: int) -> None:
    """Two rounds of ``n`` parallel reads, so every web process has started and served once
    before the clock runs (a gunicorn worker still importing would count as slow requests)."""
    def get(_):
        try:
            requests.get(f"{base}/reports", timeout=120)
        except requests.RequestException:
            pass
    for _ in range(2):
        threads = [threading.Thread(target=get, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def drain_outbox(db_url: str, sink: Sink, expected: int, timeout: float) -> tuple[int, int, float]:
    """Wait until no outbox message is pending (bounded); return (pending, dead, seconds)."""
    engine = create_engine(db_url)
    started = time.monotonic()
    try:
        while True:
            with engine.connect() as conn:
                pending = conn.execute(text(
                    "SELECT count(*) FROM outbox_message WHERE status = 'pending'")).scalar()
                dead = conn.execute(text(
                    "SELECT count(*) FROM outbox_message WHERE status = 'dead'")).scalar()
            if pending == 0 or time.monotonic() - started > timeout:
                return pending, dead, time.monotonic() - started
            time.sleep(0.5)
    finally:
        engine.dispose()


def stored_reports(db_url: str) -> tuple[int, int, set[str]]:
    """(rows, client_ids seen more than once, the set of client_ids) in service_request."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            ids = [row[0] for row in conn.execute(text("SELECT client_id FROM service_request"))]
    finally:
        engine.dispose()
    counts = Counter(ids)
    return len(ids), sum(1 for c in counts.values() if c > 1), set(ids)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["production", "run"], default="production")
    ap.add_argument("--residents", type=int, default=200, help="concurrent posting residents")
    ap.add_argument("--readers", type=int, default=10, help="concurrent readers of the list/Open311")
    ap.add_argument("--duration", type=float, default=60, help="seconds of load (max 600)")
    ap.add_argument("--port", type=int, default=5101)
    ap.add_argument("--web-workers", type=int, default=4, help="gunicorn processes (production)")
    ap.add_argument("--web-threads", type=int, default=4, help="threads per gunicorn process")
    ap.add_argument("--outbox-workers", type=int, default=2, help="outbox workers (production)")
    ap.add_argument("--pg-database", default="bench_load", help="dropped and created anew")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379",
                    help="rate-limit storage in production mode; empty: per-process memory")
    ap.add_argument("--drain-timeout", type=float, default=180)
    ap.add_argument("--timeout", type=float, default=300,
                    help="seconds a client waits for an answer (a queued upload on a busy machine)")
    ap.add_argument("--keep", action="store_true", help="keep the instance folder (logs, media)")
    args = ap.parse_args(argv)
    if not (1 <= args.residents <= 1000 and 0 <= args.readers <= 200 and 0 < args.duration <= 600):
        ap.error("residents 1-1000, readers 0-200, duration up to 600 s")

    photo = phone_photo()
    sink = Sink()
    smtp = Controller(sink, hostname="127.0.0.1", port=free_port())
    smtp.start()
    instance = Path(tempfile.mkdtemp(prefix=f"bench-load-{args.mode}-"))
    proc = None
    try:
        proc, base, db_url = start_server(args, instance, smtp.port)
        print(f"mode {args.mode}: {base}, {args.residents} residents + {args.readers} readers "
              f"for {args.duration:.0f} s; photo {len(photo) / 1024:.0f} KiB (2048 px); "
              f"instance {instance}", flush=True)
        warm_up(base, 2 * max(1, args.web_workers) * max(1, args.web_threads))
        results = Results()
        stop_at = time.monotonic() + args.duration
        threads = [threading.Thread(target=resident, args=(base, photo, stop_at, results, args.timeout),
                                daemon=True)
                   for _ in range(args.residents)]
        threads += [threading.Thread(target=reader, args=(base, stop_at, results, args.timeout), daemon=True)
                    for _ in range(args.readers)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=args.duration + args.timeout + 60)
        elapsed = time.monotonic() - started
        expected = len(results.accepted)
        pending, dead, drain_s = drain_outbox(db_url, sink, expected, args.drain_timeout)
        rows, duplicates, stored_ids = stored_reports(db_url)
    finally:
        if proc is not None:
            stop_server(proc)
        smtp.stop()

    # ------------------------------------------------------------------ report
    total = sum(len(v) for v in results.latency.values())
    five_xx = sum(n for (kind, status), n in results.status.items() if status >= 500)
    errors = sum(results.transport_errors.values())
    print(f"\n{total} requests in {elapsed:.1f} s: {total / elapsed:.1f} requests/s")
    print(f"{'kind':28} {'n':>6} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for kind, values in sorted(results.latency.items()):
        ms = [v * 1000 for v in values]
        print(f"{kind:28} {len(ms):6d} {len(ms) / elapsed:7.1f} {percentile(ms, 50):8.0f} "
              f"{percentile(ms, 95):8.0f} {percentile(ms, 99):8.0f} {max(ms):8.0f}")
    print("status codes:", ", ".join(f"{k} {s}: {n}" for (k, s), n in sorted(results.status.items())))
    print(f"5xx: {five_xx}; no answer (transport errors): {errors} {dict(results.transport_errors)}; "
          f"posts sent again after a dropped connection: {results.retries}")
    for sample in results.five_xx_samples:
        print("  5xx sample:", sample)

    accepted_ids = set(results.accepted)
    missing = accepted_ids - stored_ids
    unexpected = stored_ids - accepted_ids
    print(f"reports accepted {len(accepted_ids)}, stored {rows}, duplicates {duplicates}, "
          f"accepted but missing {len(missing)}, stored but not acknowledged {len(unexpected)}")

    per_report = Counter()
    numbers = {n: cid for cid, n in results.accepted.items()}
    number_re = re.compile(r"\b\d{4}/\d+\b")
    for subject in sink.subjects:
        m = number_re.search(subject)
        if m and m[0] in numbers:
            per_report[m[0]] += 1
    distribution = Counter(per_report.get(n, 0) for n in numbers)
    print(f"outbox drained in {drain_s:.1f} s (pending {pending}, dead {dead}); "
          f"e-mails received {len(sink.subjects)}; dispatch e-mails per report: "
          + ", ".join(f"{k}: {v} reports" for k, v in sorted(distribution.items())))

    ok = (five_xx == 0 and errors == 0 and not missing and duplicates == 0
          and set(distribution) <= {1} and pending == 0)
    print("PASS" if ok else "FAIL")
    if args.keep or not ok:
        print(f"instance kept: {instance}")
    else:
        shutil.rmtree(instance, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
