"""``flask statistics rebuild``: compute the public statistics now and publish them (the worker
does it every ``STATS_REFRESH_SECONDS``; use this after a deploy or a data import)."""
from __future__ import annotations

import time

import click
from flask.cli import AppGroup

from webapp.clock import utcnow
from webapp.extensions import db
from webapp.information.stats import rebuild

statistics_cli = AppGroup("statistics", help="The public statistics' summary table.")


@statistics_cli.command("rebuild")
def rebuild_command() -> None:
    """Recompute every published figure from the reports and replace the summary table."""
    started = time.perf_counter()
    summary = rebuild(db.session, utcnow())
    click.echo(f"Statistics rebuilt as of {summary.computed_at.isoformat()} "
               f"({summary.periods[365]['total'].count} reports in the last 365 days, "
               f"{time.perf_counter() - started:.1f} s).")


def init_app(app) -> None:
    app.cli.add_command(statistics_cli)
