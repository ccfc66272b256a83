"""Outbox benchmark (issue 12): e-mails per second to a local SMTP server, one worker and two.

    .venv/bin/python bench/outbox.py                         # SQLite, 1,000 e-mails, 1 then 2 workers
    .venv/bin/python bench/outbox.py --db postgresql         # database bench_outbox (dropped, created)
    .venv/bin/python bench/outbox.py --messages 2000 --workers 1,2,3 --repeat 3
    .venv/bin/python bench/outbox.py --smtp-latency-ms 5     # the server answers each message 5 ms late

Makes a fresh database through the project's migrations (SQLite: a temporary file; PostgreSQL:
``--pg-database``, default ``bench_outbox``, dropped and created on the local server, never the
test database) and starts an SMTP server (aiosmtpd) on loopback in this process, which counts
every message by its ``Message-ID``. ``--smtp-latency-ms N`` (default 0) makes it answer each
message N ms after its data arrived (an asyncio sleep: sessions wait in parallel), as a relay
across a network does; with 0 the workers compute, with a few ms they mostly wait. For each
worker count in ``--workers``: the outbox is emptied, ``--messages`` e-mails are queued (a
unit's dispatch e-mail: text and HTML, about 4 kB), then that many worker processes
(``run_worker``, the loop ``flask worker`` runs, with the shipped configuration: batches of 20,
20 s leases) are started; each builds its app first and waits, and the clock starts when all
are released at once and stops when the SMTP server has every message.

Each run prints messages/s and where the CPU went per message: the workers', the SMTP server's
(this process) and, on PostgreSQL, the backends serving the database (Linux ``/proc``); how
many of the machine's cores were busy meanwhile (``/proc/stat``: the machine may be shared,
and a run that finds it full measures the machine); and each worker's claims (how many, rows
per claim) and the rows claimed more than once (``attempts`` > 1: colliding claims would
show). Then, per worker count, the median of ``--repeat`` runs (interleaved: 1, 2, 1, 2 ...),
the load average and the ratio of each count's rate to one worker's. Exits 1 when a message
is missing, arrives twice, or a row is not ``sent``.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate  # noqa: E402  (bench/ is not a package)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.dispatch.models import OutboxMessage  # noqa: E402
from webapp.dispatch.services import enqueue  # noqa: E402
from webapp.dispatch.worker import run_worker  # noqa: E402
from webapp.extensions import db  # noqa: E402


MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.MULTILINE | re.IGNORECASE)


class Sink:
    """aiosmtpd handler counting the Message-IDs it accepts, each answered ``latency`` seconds
    after its data arrived (an asyncio sleep: sessions wait in parallel, as with a relay across
    a network); :meth:`wait_for` blocks until :meth:`reset`'s ``target`` is reached."""

    def __init__(self, latency: float = 0.0):
        self.latency = latency
        self.ids: Counter = Counter()
        self.total = 0
        self.target = 0
        self.done = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        if self.latency:
            await asyncio.sleep(self.latency)
        # The header by a regex, not a parse: the sink shares the machine with the workers.
        found = MESSAGE_ID.search(envelope.content)
        self.ids[found.group(1) if found else b""] += 1  # only the server's event loop writes
        self.total += 1
        if self.total >= self.target:
            self.done.set()  # not a wake-up per message: that cost the server's process CPU
        return "250 OK"

    def reset(self, target: int) -> None:
        """Forget what arrived; :meth:`wait_for` waits for ``target`` messages from now on."""
        self.done.clear()
        self.ids.clear()
        self.total = 0
        self.target = target

    def wait_for(self, timeout: float) -> bool:
        return self.done.wait(timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_cpu(database: str | None) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend serving ``database`` (Linux: its
    process title names the database), by process id; empty elsewhere or for SQLite."""
    if not database or not os.path.isdir("/proc/self"):
        return {}
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                title = f.read().decode(errors="replace")
            if not title.startswith("postgres:") or f" {database} " not in title:
                continue
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        found[int(pid)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


def machine_busy() -> float:
    """CPU seconds all cores have spent busy so far (Linux ``/proc/stat``; 0 elsewhere)."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return 0.0
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # not idle, iowait


def app_config(db_url: str, smtp_port: int, instance: str) -> dict:
    return {"SQLALCHEMY_DATABASE_URI": db_url, "SECRET_KEY": "bench-outbox",
            "INSTANCE_PATH": instance, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_port,
            "MAIL_USE_TLS": False, "MAIL_USERNAME": None, "MAIL_PASSWORD": None,
            "RATELIMIT_ENABLED": False, "PUBLIC_BASE_URL": "https://lckzm.lodz.example"}


def worker_process(config: dict, ready, go, stop, cpu) -> None:
    """One outbox worker: build the app, say ready, wait for ``go``, run until ``stop``, then
    put the CPU seconds the run took on the queue ``cpu``."""
    app = create_app(config)
    with app.app_context():  # open the engine before the clock starts
        db.session.execute(text("SELECT 1"))
        db.session.remove()
    ready.release()
    go.wait()
    start = time.process_time()
    run_worker(app, stop=stop)
    cpu.put(time.process_time() - start)


def queue(app, n: int) -> None:
    """Empty the outbox and queue ``n`` dispatch-like e-mails (text and HTML)."""
    text = ("Dzień dobry,\n\nmieszkaniec zgłosił problem w Waszym obszarze: ubytek w nawierzchni "
            "jezdni, ul. Piotrkowska 104, 90-001 Łódź.\n\n" + "Opis zgłoszenia. " * 60 +
            "\n\nLink do zgłoszenia: https://lckzm.lodz.example/u/abc\n")
    html = "<p>" + text.replace("\n\n", "</p><p>") + "</p>"
    with app.app_context():
        db.session.query(OutboxMessage).delete()
        db.session.commit()
        for i in range(n):
            enqueue("dispatch", f"bench:{time.monotonic_ns()}:{i}",
                    {"to": [f"zgloszenia{i % 7}@zdit.lodz.example"],
                     "subject": f"[ŁCKzM] Zgłoszenie ŁDZ-2026-{i:06d}: ubytek w nawierzchni",
                     "text": text, "html": html, "headers": {}, "report_id": None})
        db.session.commit()


def claims(app) -> tuple[dict[str, list[int]], int]:
    """The claims behind the rows just sent: ``{worker process id: [rows of each claim]}`` (a
    sent row keeps its claim's token, ``host:pid:random``), and how many rows were claimed
    more than once (``attempts`` counts claims: two workers taking the same row would show)."""
    with app.app_context():
        tokens = db.session.execute(select(OutboxMessage.claimed_by, func.count())
                                    .group_by(OutboxMessage.claimed_by)).all()
        twice = db.session.scalar(select(func.count()).where(OutboxMessage.attempts > 1))
        db.session.remove()
    by_worker: dict[str, list[int]] = {}
    for token, count in tokens:
        parts = (token or "").rsplit(":", 2)
        by_worker.setdefault(parts[1] if len(parts) == 3 else "?", []).append(count)
    return by_worker, twice


def check(app, sink: Sink, n: int) -> list[str]:
    """What went wrong in the run just finished (empty when every message arrived once)."""
    problems = []
    with app.app_context():
        statuses = dict(db.session.execute(select(OutboxMessage.status, func.count())
                                           .group_by(OutboxMessage.status)).all())
        db.session.remove()
    if statuses != {"sent": n}:
        problems.append(f"outbox rows by status: {statuses}")
    twice = sum(1 for c in sink.ids.values() if c > 1)
    if twice or len(sink.ids) != n:
        problems.append(f"{len(sink.ids)} distinct messages of {n}, {twice} received twice")
    return problems


def run(config: dict, app, sink: Sink, n: int, workers: int, timeout: float,
        pg_database: str | None) -> tuple[float, float]:
    """One measured run; returns (messages per second, worker CPU milliseconds per message)."""
    queue(app, n)
    sink.reset(n)
    ctx = multiprocessing.get_context("spawn")
    ready, go, stop, cpu = ctx.Semaphore(0), ctx.Event(), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=worker_process, args=(config, ready, go, stop, cpu), daemon=True)
             for _ in range(workers)]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            if not ready.acquire(timeout=120):
                raise SystemExit("a worker did not start within 120 s")
        pg_before, busy = postgres_cpu(pg_database), machine_busy()
        start, server_cpu = time.perf_counter(), time.process_time()
        go.set()
        if not sink.wait_for(timeout):
            raise SystemExit(f"only {sink.total} of {n} messages within {timeout:.0f} s")
        took, server_cpu = time.perf_counter() - start, time.process_time() - server_cpu
        busy = machine_busy() - busy
        pg_cpu = sum(cpu - pg_before.get(pid, 0.0)
                     for pid, cpu in postgres_cpu(pg_database).items())
    finally:
        stop.set()
        cpu_seconds = sum(cpu.get(timeout=60) for _ in procs)
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
    problems = check(app, sink, n)
    if problems:
        raise SystemExit("; ".join(problems))
    by_worker, twice = claims(app)
    per_worker = "; ".join(f"{len(c)} claims of {sum(c) / len(c):.1f} rows"
                           for c in by_worker.values())
    database = f", PostgreSQL backends {pg_cpu * 1000 / n:.2f}" if pg_database else ""
    print(f"  {workers} worker(s): {n / took:.0f} messages/s; CPU ms/message: workers "
          f"{cpu_seconds * 1000 / n:.2f}, SMTP server {server_cpu * 1000 / n:.2f}{database}; "
          f"machine busy {busy / took:.2f} of {os.cpu_count()} cores; claims per worker: "
          f"{per_worker}; rows claimed twice: {twice}", flush=True)
    return n / took, cpu_seconds * 1000 / n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--pg-database", default="bench_outbox")
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--workers", default="1,2", help="worker counts to run, comma-separated")
    ap.add_argument("--repeat", type=int, default=1, help="runs per worker count (median)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds for one run at most")
    ap.add_argument("--smtp-latency-ms", type=float, default=0,
                    help="the SMTP server answers each message this long after its data "
                         "(a relay across a network: a few ms)")
    args = ap.parse_args(argv)
    counts = [int(c) for c in args.workers.split(",")]
    if not 1 <= args.messages <= 100_000 or not all(1 <= c <= 16 for c in counts):
        ap.error("--messages 1..100000, --workers 1..16 each")
    if not 0 <= args.smtp_latency_ms <= 10_000:
        ap.error("--smtp-latency-ms 0..10000")

    tmp = tempfile.mkdtemp(prefix="bench-outbox-")
    if args.db == "postgresql":
        db_url = generate.prepare_postgres(args.pg_database)
    else:
        db_url = f"sqlite:///{tmp}/outbox.sqlite"
    generate.migrate(db_url)
    port = free_port()
    sink = Sink(args.smtp_latency_ms / 1000)
    controller = Controller(sink, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    config = app_config(db_url, port, tmp)
    os.environ.pop("DATABASE_URL", None)
    app = create_app(config)
    results: dict[int, float] = {}
    try:
        runs: dict[int, list[tuple[float, float]]] = {count: [] for count in counts}
        for _ in range(args.repeat):  # interleaved, so each count sees the same load
            for count in counts:
                runs[count].append(run(config, app, sink, args.messages, count, args.timeout,
                                       args.pg_database if args.db == "postgresql" else None))
        for count in counts:
            rates = [rate for rate, _cpu in runs[count]]
            results[count] = sorted(rates)[len(rates) // 2]
            each = ", ".join(f"{r:.0f}" for r in rates)
            cpu = sorted(c for _rate, c in runs[count])[len(rates) // 2]
            print(f"{args.db}: {count} worker(s), {args.messages} e-mails, SMTP answers after "
                  f"{args.smtp_latency_ms:g} ms: "
                  f"{results[count]:.0f} messages/s (median of runs: {each}); workers' CPU "
                  f"{cpu:.1f} ms/message; load average now {os.getloadavg()[0]:.1f} on "
                  f"{os.cpu_count()} cores", flush=True)
    finally:
        controller.stop()
        if args.db == "postgresql":
            with app.app_context():
                db.engine.dispose()
            generate.drop_postgres(args.pg_database)
        shutil.rmtree(tmp, ignore_errors=True)  # the SQLite file, the app's instance folder
    base = results.get(1)
    if base:
        for count, rate in results.items():
            if count != 1:
                print(f"{args.db}, SMTP answers after {args.smtp_latency_ms:g} ms: {count} "
                      f"workers / 1 worker = {rate / base:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
