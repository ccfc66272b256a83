"""Reports: the resident's form, submission, status lifecycle, public pages and tracking.

Imports no domain above it: departments and dispatch react to what it announces
(:mod:`webapp.reports.signals`).
"""
from __future__ import annotations

from flask_babel import get_locale

from webapp.reports import cli, forms, models, views  # noqa: F401  (models: the tables)
from webapp.routing.services import current_routing


def init_app(app) -> None:
    """Register the report models, the ``reports`` blueprint, the ``current_routing``,
    ``description_min`` and ``description_max`` template globals and the ``flask reports``
    command group."""
    app.register_blueprint(views.bp)
    app.jinja_env.globals["current_routing"] = current_routing
    app.jinja_env.globals.update(description_min=forms.DESCRIPTION_MIN,
                                 description_max=forms.DESCRIPTION_MAX)

    labels: dict[tuple[str, str], str] = {}

    def _status_label(value: str) -> str:
        # Kept per language: a list asks for twenty labels, each a catalogue lookup through
        # Flask-Babel otherwise (issue 12).
        key = (value, str(get_locale()))
        label = labels.get(key)
        if label is None:
            label = labels[key] = models.Status(value).label
        return label
    app.jinja_env.globals["status_label"] = _status_label  # for the status_badge macro
    cli.init_app(app)
