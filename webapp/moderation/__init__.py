"""The operators' moderation panel (issue 7): the queue at ``/admin/queue`` and its actions,
content rules holding reports (regulamin pkt 6), submitter blocks (pkt 7), runtime switches
(pkt 10), the operators' batched e-mail and dead outbox messages.

Layering: this package sits above reports, routing, departments, dispatch and photos; it
imports them, never the reverse. It reacts to submissions through
``webapp.reports.services.HOLD_CHECKS`` and the ``report_submitted`` signal.
"""
from __future__ import annotations


def init_app(app) -> None:
    """Register models, the panel blueprint, the submission hooks, the gate for blocked
    submitters and switches, and the public banner."""
    from webapp.moderation import models  # noqa: F401
    from webapp.moderation import hooks
    from webapp.moderation.views import bp

    app.config.setdefault("OPERATORS_EMAIL", None)
    app.config.setdefault("OPERATORS_NOTIFY_MINUTES", 15)
    app.register_blueprint(bp)
    hooks.init_app(app)
