"""Reports: the resident's form, submission, public pages and tracking."""
from __future__ import annotations


def init_app(app) -> None:
    """Register the report models, the form/tracking/browse routes, the ``current_routing``
    template global and the ``flask reports`` commands."""
    from webapp.reports import models  # noqa: F401
    from webapp.reports import views, browse  # noqa: F401  (browse adds routes to views.bp)
    app.register_blueprint(views.bp)

    def _current_routing():
        from webapp.routing.services import current_routing
        return current_routing()
    app.jinja_env.globals["current_routing"] = _current_routing

    def _status_label(value: str) -> str:
        return models.Status(value).label
    app.jinja_env.globals["status_label"] = _status_label  # for the status_badge macro
    from webapp.reports import cli
    cli.init_app(app)
