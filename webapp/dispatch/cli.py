"""``flask worker`` (the outbox worker as its own process), ``flask serve`` (development
server with the worker in a background thread, used by ``make run``) and ``flask outbox``
(``list [--dead]``, ``retry ID``: seeing and re-sending messages that could not be delivered)."""
from __future__ import annotations

import os
import signal
import threading

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from werkzeug.serving import run_simple

from webapp.dispatch.worker import run_worker, start_background_worker
from webapp.dispatch.services import list_messages
from webapp.dispatch.services import RetryError, retry


@click.command("worker")
@click.option("--once", is_flag=True, help="Send what is due now, then exit.")
@with_appcontext
def worker_command(once: bool) -> None:
    """Send outbox e-mails until stopped (SIGINT/SIGTERM). Several may run at once."""
    app = current_app._get_current_object()
    stop = threading.Event()

    def _stop(signum, frame):
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    if not once:
        click.echo("Outbox worker started; stop with Ctrl+C.")
    run_worker(app, stop=stop, once=once)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", "5000")),
              show_default="5000 or $PORT")
@click.option("--reload/--no-reload", default=False, show_default=True,
              help="Restart on code changes (the worker then runs in the reloaded child only).")
@with_appcontext
def serve_command(host: str, port: int, reload: bool) -> None:
    """Serve the app (threaded) with the outbox worker in the same process."""
    app = current_app._get_current_object()
    # With the reloader, the parent process only watches files; the child (WERKZEUG_RUN_MAIN)
    # serves. Starting the worker in both would run two.
    if not reload or os.environ.get("WERKZEUG_RUN_MAIN") == "true":
        start_background_worker(app)
    if not reload or os.environ.get("WERKZEUG_RUN_MAIN") == "true":
        # werkzeug's own banner and request lines are off (webapp.logs logs each request).
        click.echo(f"Serving on http://{host}:{port}/ (Ctrl+C to stop)")
    # run_simple, not app.run(): Flask ignores app.run() inside a `flask` command.
    run_simple(host, port, app, threaded=True, use_reloader=reload)


@click.group("outbox")
def outbox_group() -> None:
    """See and re-send outbox e-mails (dispatches to units, notices to residents, alerts)."""


def _one_line(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


@outbox_group.command("list")
@click.option("--dead", "dead_only", is_flag=True,
              help="Only messages that could not be delivered.")
@click.option("--limit", type=click.IntRange(1, 10000), default=100, show_default=True)
@with_appcontext
def outbox_list_command(dead_only: bool, limit: int) -> None:
    """List outbox messages, newest first: id, status, kind, recipient, attempts, report id and
    the last error (times UTC)."""

    rows = list_messages(dead_only=dead_only, limit=limit)
    if not rows:
        click.echo("No dead messages." if dead_only else "The outbox is empty.")
        return
    click.echo(f"{'ID':>6}  {'STATUS':<7}  {'KIND':<13}  {'RECIPIENT':<32}  {'TRIES':>5}  "
               f"{'REPORT':>6}  LAST ERROR")
    for row in rows:
        to = ", ".join((row.payload or {}).get("to") or [])
        report = "" if row.report_id is None else str(row.report_id)
        click.echo(f"{row.id:>6}  {row.status:<7}  {row.kind:<13}  {_one_line(to, 32):<32}  "
                   f"{row.attempts:>5}  {report:>6}  {_one_line(row.last_error, 200)}")


@outbox_group.command("retry")
@click.argument("message_id", type=int)
@click.option("--to", "to", multiple=True, metavar="ADDRESS",
              help="Send to this address instead (repeat for several), e.g. a unit's corrected "
                   "address.")
@with_appcontext
def outbox_retry_command(message_id: int, to: tuple[str, ...]) -> None:
    """Send message MESSAGE_ID again as soon as a worker runs (a dead one gets a fresh set of
    attempts). Fails for an unknown id, a message already sent or a bad --to address."""

    try:
        row = retry(message_id, to=list(to) or None)
    except RetryError as exc:
        raise click.ClickException(str(exc)) from None
    to = ", ".join((row.payload or {}).get("to") or [])
    click.echo(f"Message {row.id} ({row.kind} to {to}) is pending again; a worker will send it.")


def init_app(app: Flask) -> None:
    """Register ``flask worker``, ``flask serve`` and ``flask outbox``."""
    app.cli.add_command(worker_command)
    app.cli.add_command(serve_command)
    app.cli.add_command(outbox_group)
