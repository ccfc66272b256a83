"""Dispatch: the outbox table, the worker that sends it, and e-mail.

Listens to :data:`webapp.departments.signals.link_issued` (the e-mail with a unit's link) and
:data:`webapp.reports.signals.report_status_changed` (the notice to the resident).
"""
from __future__ import annotations

from webapp.departments.signals import link_issued
from webapp.dispatch import cli, models, queries, services  # noqa: F401  (models: the table)
from webapp.reports.signals import report_status_changed


def init_app(app) -> None:
    """Register the outbox model, the ``flask worker`` / ``flask serve`` / ``flask outbox``
    commands, the listeners that queue e-mails, and the template global
    ``dispatch_delivery(report)`` (:func:`webapp.dispatch.queries.delivery_of`) that report
    pages use to say whether the e-mail to the unit has really gone out. A template global keeps
    the dependency one-way: the reports package never imports dispatch."""
    cli.init_app(app)
    app.add_template_global(queries.delivery_of, "dispatch_delivery")
    link_issued.connect(services.on_link_issued)
    report_status_changed.connect(services.on_report_status_changed)
