"""``flask worker`` (the outbox worker as its own process) and ``flask serve`` (development
server with the worker in a background thread, used by ``make run``)."""
from __future__ import annotations

import os
import signal
import threading

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from werkzeug.serving import run_simple

from webapp.dispatch.worker import run_worker, start_background_worker


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
    # run_simple, not app.run(): Flask ignores app.run() inside a `flask` command.
    run_simple(host, port, app, threaded=True, use_reloader=reload)


def init_app(app: Flask) -> None:
    """Register ``flask worker`` and ``flask serve``."""
    app.cli.add_command(worker_command)
    app.cli.add_command(serve_command)
