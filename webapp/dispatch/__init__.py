"""Dispatch: the outbox table, the worker that sends it, and e-mail."""
from __future__ import annotations


def init_app(app) -> None:
    """Register the outbox model, the ``flask worker`` / ``flask serve`` / ``flask outbox``
    commands, and the template global ``dispatch_delivery(report)``
    (:func:`webapp.dispatch.queries.delivery_of`) that report pages use to say whether the
    e-mail to the unit has really gone out. A template global keeps the dependency one-way:
    the reports package never imports dispatch."""
    from webapp.dispatch import models  # noqa: F401
    from webapp.dispatch import cli, queries
    cli.init_app(app)
    app.add_template_global(queries.delivery_of, "dispatch_delivery")
