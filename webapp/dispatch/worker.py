"""The outbox worker loop: in its own process (``flask worker``, production: several at once) or
as a daemon thread next to the development server (``flask serve``)."""
from __future__ import annotations

import logging
import threading
import time

from flask import Flask

from webapp.dispatch.services import next_due_in, process_batch
from webapp.extensions import db

log = logging.getLogger(__name__)

#: Jobs the worker runs now and then besides sending (``name -> (every seconds, function())``),
#: registered by the packages that own them (e.g. the e-mail retention job of ``webapp.push``).
#: Each runs in an app context at the worker's start and then every ``every`` seconds.
PERIODIC: dict = {}


def register_periodic(name: str, every: float, job) -> None:
    """Have every worker run ``job()`` (in an app context) every ``every`` seconds."""
    PERIODIC[name] = (float(every), job)


def _run_periodic(app: Flask, last_run: dict) -> None:

    for name, (every, job) in list(PERIODIC.items()):
        if time.monotonic() - last_run.get(name, float("-inf")) < every:
            continue
        last_run[name] = time.monotonic()
        try:
            with app.app_context():
                try:
                    job()
                finally:
                    db.session.remove()
        except Exception:
            log.exception("periodic job %s failed", name)


def run_worker(app: Flask, *, stop: threading.Event | None = None, once: bool = False) -> None:
    """Send due outbox messages until ``stop`` is set (or one batch when ``once``).

    Each pass runs :func:`webapp.dispatch.services.process_batch` (up to ``WORKER_BATCH_SIZE``
    rows, 20) in a fresh app context. A pass that claimed anything is followed by the next at
    once, however little it got (rows lost to other workers' claims, or queued meanwhile: issue
    12, two workers sent less than one when each slept after every partial batch). Only when
    nothing was due does the loop wait: until the earliest pending row becomes due (back-off or
    a dead worker's lease ending) but at most ``WORKER_POLL_SECONDS`` (2 s; new rows are
    noticed within that). An error outside a single message (database down) is logged and the
    loop waits, doubling the wait up to one minute, instead of dying. A ``stop`` set mid-batch
    ends the batch after the message in flight and gives back the rest.
    """
    stop = stop or threading.Event()
    poll = float(app.config.get("WORKER_POLL_SECONDS", 2))
    batch = int(app.config.get("WORKER_BATCH_SIZE", 20))
    error_wait = poll
    last_run: dict = {}
    while not stop.is_set():
        _run_periodic(app, last_run)
        try:
            with app.app_context():
                try:
                    claimed = process_batch(limit=batch, stop=stop).claimed
                    wait = 0.0 if claimed else _idle_wait(poll)
                finally:
                    db.session.remove()
            error_wait = poll
        except Exception:
            log.exception("outbox worker pass failed; retrying in %.0f s", error_wait)
            if once:
                raise
            stop.wait(error_wait)
            error_wait = min(60.0, error_wait * 2)
            continue
        if once:
            return
        if wait:
            stop.wait(wait)


def _idle_wait(poll: float) -> float:
    """Seconds to wait when nothing was due: until the next pending row is due, at most
    ``poll``, at least 10 ms (a row due "now" that the claim missed is another worker's)."""
    due_in = next_due_in()
    return poll if due_in is None else min(poll, max(0.01, due_in))


def start_background_worker(app: Flask) -> threading.Thread:
    """Start :func:`run_worker` in a daemon thread (for ``flask serve``) and return it.

    The thread's ``stop`` attribute is the :class:`threading.Event` that ends the loop.
    """
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(app,), kwargs={"stop": stop},
                              name="outbox-worker", daemon=True)
    thread.stop = stop  # type: ignore[attr-defined]
    thread.start()
    return thread
