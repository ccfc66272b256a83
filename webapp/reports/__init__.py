"""Reports: the resident's form, submission, status lifecycle, public pages and tracking.

Imports no domain above it: departments and dispatch react to what it announces
(:mod:`webapp.reports.signals`).
"""
from __future__ import annotations

from webapp.reports import cli, models, views  # noqa: F401  (models: the tables)
from webapp.routing.services import current_routing


def init_app(app) -> None:
    """Register the report models, the ``reports`` blueprint, the ``current_routing``
    template global and the ``flask reports`` command group."""
    app.register_blueprint(views.bp)
    app.jinja_env.globals["current_routing"] = current_routing
    cli.init_app(app)
