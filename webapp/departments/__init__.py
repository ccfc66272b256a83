"""Departments: signed links through which a unit's staff update a report without an account.

Listens to the report lifecycle (:mod:`webapp.reports.signals`): a dispatched report gets a
link for its unit, a forwarded one has the old unit's links revoked and a link for the new
unit; each issued link is announced as :data:`webapp.departments.signals.link_issued`.
"""
from __future__ import annotations

from webapp.departments import cli, models, services, views  # noqa: F401  (models: the table)
from webapp.reports import signals as report_signals


def init_app(app) -> None:
    """Register the link model, the ``departments`` blueprint, the link commands of
    ``flask reports`` and the listeners to the report lifecycle."""
    app.register_blueprint(views.bp)
    cli.init_app(app)
    report_signals.report_dispatched.connect(services.on_report_dispatched)
    report_signals.report_forwarded.connect(services.on_report_forwarded)
