"""``flask reports ...``: the operator command group (until the operator panel exists).

The commands that touch department links (``release``, ``revoke-links``) belong to
:mod:`webapp.departments.cli`, which adds them to this group in its ``init_app``.
"""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from webapp.extensions import db
from webapp.reports.models import Report

reports_cli = AppGroup("reports", help="Operator commands for reports.")


def load_report(report_id: int) -> Report:
    """The report with ``report_id``; :class:`click.ClickException` when there is none."""
    report = db.session.get(Report, report_id)
    if report is None:
        raise click.ClickException(f"No report with id {report_id}.")
    return report


def init_app(app: Flask) -> None:
    """Register the ``flask reports`` command group."""
    app.cli.add_command(reports_cli)
