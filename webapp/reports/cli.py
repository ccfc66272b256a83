"""``flask reports ...``: operator commands until the operator panel exists (issue 2: "an
operator one waits with status awaiting moderation ... until then a CLI command may release
it")."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

reports_cli = AppGroup("reports", help="Operator commands for reports.")


def _load_report(report_id: int):
    from webapp.extensions import db
    from webapp.reports.models import Report

    report = db.session.get(Report, report_id)
    if report is None:
        raise click.ClickException(f"No report with id {report_id}.")
    return report


@reports_cli.command("release")
@click.argument("report_id", type=int)
@click.option("--unit", "unit_id", default=None,
              help="Unit id from routing.toml (default: the report's responsible unit).")
@click.option("--note", default="", help="Note for the unit, quoted in the dispatch e-mail.")
@click.option("--operator", "operator_id", default="cli", show_default=True,
              help="Who releases it, recorded in the report's history.")
def release_command(report_id: int, unit_id: str | None, note: str, operator_id: str) -> None:
    """Dispatch a report awaiting moderation to its unit (or to --unit)."""
    from webapp.departments.services import get_unit, link_url
    from webapp.dispatch.services import mail_context
    from webapp.extensions import db
    from webapp.reports.lifecycle import StatusError, dispatch_report

    report = _load_report(report_id)
    if unit_id is not None:
        if get_unit(unit_id) is None:
            raise click.ClickException(f"Unknown unit {unit_id!r}; see routing.toml [units].")
        report.agency_responsible = unit_id
    try:
        link = dispatch_report(report, actor_kind="operator", actor_id=operator_id, note=note)
    except StatusError as exc:
        db.session.rollback()
        with mail_context():  # a locale for the lazy message outside a request
            message = str(exc.message)
        raise click.ClickException(message) from None
    url = link_url(link)
    db.session.commit()
    click.echo(f"Report {report.number} dispatched to {report.agency_responsible}; "
               f"link valid until {link.expires_at:%Y-%m-%d %H:%M} UTC:")
    click.echo(url)


@reports_cli.command("revoke-links")
@click.argument("report_id", type=int)
@click.option("--unit", "unit_id", default=None, help="Only this unit's links.")
def revoke_links_command(report_id: int, unit_id: str | None) -> None:
    """Withdraw the department links of a report (all, or one unit's)."""
    from webapp.departments.services import revoke_links
    from webapp.extensions import db

    report = _load_report(report_id)
    count = revoke_links(report, unit_id)
    db.session.commit()
    click.echo(f"Revoked {count} link(s) of report {report.number}.")


def init_app(app: Flask) -> None:
    """Register the ``flask reports`` command group."""
    app.cli.add_command(reports_cli)
