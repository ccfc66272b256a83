"""Outbox benchmark (issue 12): e-mails per second to a local SMTP server, one worker and two.

    .venv/bin/python bench/outbox.py                         # SQLite, 1,000 e-mails, 1 then 2 workers
    .venv/bin/python bench/outbox.py --db postgresql         # database bench_outbox (dropped, created)
    .venv/bin/python bench/outbox.py --messages 2000 --workers 1,2,3 --repeat 3

Makes a fresh database through the project's migrations (SQLite: a temporary file; PostgreSQL:
``--pg-database``, default ``bench_outbox``, dropped and created on the local server, never the
test database) and starts an SMTP server (aiosmtpd) on loopback in this process, which counts
every message by its ``Message-ID``. For each worker count in ``--workers``: the outbox is
emptied, ``--messages`` e-mails are queued (a unit's dispatch e-mail: text and HTML, about 3 kB),
then that many worker processes (``run_worker``, the loop ``flask worker`` runs, with the
shipped configuration: batches of 20, 20 s leases) are started; each builds its app first and
waits, and the clock starts when all are released at once and stops when the SMTP server has
every message. Prints messages/s per run (the median of ``--repeat`` runs, interleaved: 1, 2, 1, 2 ...), the workers' CPU
time per message (what the rate would be on an idle core: 1000 / that), the load average (the
machine may be shared) and the ratio of each worker count's rate to one worker's. Exits 1 when a message is missing, arrives twice, or a row is not ``sent``.
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import re
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
    """aiosmtpd handler counting the Message-IDs it accepts; :meth:`wait_for` blocks on a
    condition until a count is reached."""

    def __init__(self):
        self.ids: Counter = Counter()
        self.total = 0
        self.cond = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        # The header by a regex, not a parse: the sink shares the machine with the workers.
        found = MESSAGE_ID.search(envelope.content)
        with self.cond:
            self.ids[found.group(1) if found else b""] += 1
            self.total += 1
            self.cond.notify_all()
        return "250 OK"

    def reset(self) -> None:
        with self.cond:
            self.ids.clear()
            self.total = 0

    def wait_for(self, count: int, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.total >= count, timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def run(config: dict, app, sink: Sink, n: int, workers: int, timeout: float) -> tuple[float, float]:
    """One measured run; returns (messages per second, worker CPU milliseconds per message)."""
    queue(app, n)
    sink.reset()
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
        start, server_cpu = time.perf_counter(), time.process_time()
        go.set()
        if not sink.wait_for(n, timeout):
            raise SystemExit(f"only {sink.total} of {n} messages within {timeout:.0f} s")
        took, server_cpu = time.perf_counter() - start, time.process_time() - server_cpu
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
    print(f"  {workers} worker(s): {n / took:.0f} messages/s, workers' CPU "
          f"{cpu_seconds * 1000 / n:.1f} ms/message, SMTP server's {server_cpu * 1000 / n:.1f}",
          flush=True)
    return n / took, cpu_seconds * 1000 / n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--pg-database", default="bench_outbox")
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--workers", default="1,2", help="worker counts to run, comma-separated")
    ap.add_argument("--repeat", type=int, default=1, help="runs per worker count (median)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds for one run at most")
    args = ap.parse_args(argv)
    counts = [int(c) for c in args.workers.split(",")]
    if not 1 <= args.messages <= 100_000 or not all(1 <= c <= 16 for c in counts):
        ap.error("--messages 1..100000, --workers 1..16 each")

    tmp = tempfile.mkdtemp(prefix="bench-outbox-")
    if args.db == "postgresql":
        db_url = generate.prepare_postgres(args.pg_database)
    else:
        db_url = f"sqlite:///{tmp}/outbox.sqlite"
    generate.migrate(db_url)
    port = free_port()
    sink = Sink()
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
                runs[count].append(run(config, app, sink, args.messages, count, args.timeout))
        for count in counts:
            rates = [rate for rate, _cpu in runs[count]]
            results[count] = sorted(rates)[len(rates) // 2]
            each = ", ".join(f"{r:.0f}" for r in rates)
            cpu = sorted(c for _rate, c in runs[count])[len(rates) // 2]
            print(f"{args.db}: {count} worker(s), {args.messages} e-mails: "
                  f"{results[count]:.0f} messages/s (median of runs: {each}); workers' CPU "
                  f"{cpu:.1f} ms/message; load average now {os.getloadavg()[0]:.1f} on "
                  f"{os.cpu_count()} cores", flush=True)
    finally:
        controller.stop()
        if args.db == "postgresql":
            with app.app_context():
                db.engine.dispose()
            generate.drop_postgres(args.pg_database)
    base = results.get(1)
    if base:
        for count, rate in results.items():
            if count != 1:
                print(f"{args.db}: {count} workers / 1 worker = {rate / base:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
