"""Audit trail of staff actions (issue 7): who, when (UTC), what, before and after.

Append-only: the panel shows and filters it; no route edits or deletes an entry.
"""
from __future__ import annotations


def init_app(app) -> None:
    """Register the audit model and the admin's read-only view."""
    from webapp.audit import models  # noqa: F401
    from webapp.audit.views import bp
    app.register_blueprint(bp)
