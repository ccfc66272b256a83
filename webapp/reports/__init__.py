"""Reports: the resident's form, submission, status lifecycle, public pages and tracking.

Imports no domain above it: departments and dispatch react to what it announces
(:mod:`webapp.reports.signals`).
"""
from __future__ import annotations

from flask_babel import get_locale
from markupsafe import Markup

from webapp.reports import cli, forms, models, views  # noqa: F401  (models: the tables)
from webapp.routing.services import current_routing


#: The badge's colour and shape per status value (templates/reports/_macros.html status_badge).
BADGE_KINDS = {"awaiting_moderation": "new", "dispatched": "new", "accepted": "active",
               "in_progress": "active", "forwarded": "active", "resolved": "done",
               "rejected": "closed"}


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
    app.jinja_env.globals["status_label"] = _status_label

    badges: dict[tuple[str, str], Markup] = {}

    def _status_badge(status, lang: str | None = None) -> Markup:
        """A status (a :class:`~webapp.reports.models.Status` or its value) as a badge: its
        label plus a colour and a shape (never colour alone). ``lang``: the page's language
        when the caller knows it (else looked up). Kept per language: the list shows twenty,
        and a macro call each was a tenth of its render time (issue 12)."""
        value = getattr(status, "value", status)
        key = (value, lang or str(get_locale()))
        badge = badges.get(key)
        if badge is None:
            label = _status_label(value) if value in models.STATUS_VALUES else value
            badge = Markup('<span class="badge badge-{} status status-{}">{}</span>').format(
                BADGE_KINDS.get(value, "new"), value, label)
            if value in models.STATUS_VALUES:  # never a key per unknown stored string
                badges[key] = badge
        return badge
    app.jinja_env.globals["status_badge_html"] = _status_badge  # for the status_badge macro
    cli.init_app(app)
