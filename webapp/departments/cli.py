"""The department-link commands of ``flask reports`` (operator tools until the operator panel
exists; issue 2: "an operator one waits with status awaiting moderation ... until then a CLI
command may release it").

``flask reports release <id> [--unit U] [--note N] [--operator O]`` dispatches a report
awaiting moderation and prints the unit's signed link; ``flask reports revoke-links <id>
[--unit U]`` withdraws links. They are added to the ``reports`` group
(:data:`webapp.reports.cli.reports_cli`) here because printing and revoking links is this
domain's business, and reports must not import departments.
"""
from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from webapp.departments.models import DepartmentLink
from webapp.departments.services import link_url, revoke_links
from webapp.extensions import db
from webapp.reports.cli import load_report, reports_cli
from webapp.reports.lifecycle import StatusError, dispatch_report
from webapp.routing.services import current_routing


@click.command("release")
@click.argument("report_id", type=int)
@click.option("--unit", "unit_id", default=None,
              help="Unit id from routing.toml (default: the report's responsible unit).")
@click.option("--note", default="", help="Note for the unit, quoted in the dispatch e-mail.")
@click.option("--operator", "operator_id", default="cli", show_default=True,
              help="Who releases it, recorded in the report's history.")
@with_appcontext
def release_command(report_id: int, unit_id: str | None, note: str, operator_id: str) -> None:
    """Dispatch a report awaiting moderation to its unit (or to --unit)."""
    report = load_report(report_id)
    routing = current_routing()
    if unit_id is not None:
        if unit_id not in routing.units:
            raise click.ClickException(f"Unknown unit {unit_id!r}; see routing.toml [units].")
        report.agency_responsible = unit_id
    try:
        dispatch_report(report, routing=routing, actor_kind="operator", actor_id=operator_id,
                        note=note)
    except StatusError as exc:
        db.session.rollback()
        with current_app.test_request_context("/"):  # a locale for the lazy message
            message = str(exc.message)
        raise click.ClickException(message) from None
    link = db.session.scalars(select(DepartmentLink).where(DepartmentLink.report_id == report.id)
                              .order_by(DepartmentLink.created_at.desc())).first()
    url = link_url(link)
    db.session.commit()
    click.echo(f"Report {report.number} dispatched to {report.agency_responsible}; "
               f"link valid until {link.expires_at:%Y-%m-%d %H:%M} UTC:")
    click.echo(url)


@click.command("revoke-links")
@click.argument("report_id", type=int)
@click.option("--unit", "unit_id", default=None, help="Only this unit's links.")
@with_appcontext
def revoke_links_command(report_id: int, unit_id: str | None) -> None:
    """Withdraw the department links of a report (all, or one unit's)."""
    report = load_report(report_id)
    count = revoke_links(report, unit_id)
    db.session.commit()
    click.echo(f"Revoked {count} link(s) of report {report.number}.")


def init_app(app: Flask) -> None:
    """Add ``release`` and ``revoke-links`` to the ``flask reports`` group."""
    reports_cli.add_command(release_command)
    reports_cli.add_command(revoke_links_command)
