"""The operators' moderation panel (issue 7): the queue at ``/admin/queue`` and its actions,
content rules holding reports (regulamin pkt 6), submitter blocks (pkt 7), runtime switches
(pkt 10), the operators' batched e-mail and dead outbox messages.

Layering: this package sits above reports, routing, departments, dispatch and photos; it
imports them, never the reverse. It reacts to submissions through
``webapp.reports.services.HOLD_CHECKS`` and the ``report_submitted`` signal, and stops notices
to residents through ``webapp.dispatch.services.NOTICE_CHECKS`` (the "notices" switch).
"""
from __future__ import annotations

import os

from webapp.moderation import audit_labels, hooks, minimap, models  # noqa: F401  (models: the tables)
from webapp.moderation.ratelimit_text import describe as describe_rate_limits
from webapp.moderation.apikey_views import bp as apikeys_bp
from webapp.moderation.audit_views import bp as audit_bp
from webapp.moderation.views import bp


def init_app(app) -> None:
    """Register models, the panel blueprint, the submission hooks, the gate for blocked
    submitters and switches, the public banner, the queue's small maps
    (``moderation_minimap(lat, long)``, :func:`webapp.moderation.minimap.minimap`) and the
    ``rate_limits`` filter (:func:`webapp.moderation.ratelimit_text.describe`), and the audit
    page's words (``audit_action``, ``audit_changes``, ``audit_object``:
    :mod:`webapp.moderation.audit_labels`)."""
    # Read here rather than in webapp/config.py so this package brings its own settings.
    app.config.setdefault("OPERATORS_EMAIL", os.environ.get("OPERATORS_EMAIL") or None)
    app.config.setdefault("OPERATORS_NOTIFY_MINUTES", int(os.environ.get("OPERATORS_NOTIFY_MINUTES", "15")))
    app.config.setdefault("CONTENT_RULES_FILE", os.environ.get("CONTENT_RULES_FILE") or None)
    for key in ("PHOTOS_ENABLED",):
        if key in os.environ:
            app.config.setdefault(key, os.environ[key].strip().lower() in {"1", "true", "yes", "on"})
    app.register_blueprint(bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(apikeys_bp)
    hooks.init_app(app)
    app.add_template_global(minimap.minimap, "moderation_minimap")
    app.add_template_filter(describe_rate_limits, "rate_limits")
    app.add_template_filter(audit_labels.action_label, "audit_action")
    app.add_template_filter(audit_labels.change_items, "audit_changes")
    app.add_template_global(audit_labels.object_label, "audit_object")
