"""Static-ish pages: home, rules, how procedures are handled, health check."""
from __future__ import annotations

from webapp.pages import views


def init_app(app) -> None:
    """Register the pages blueprint (home, about, rules, privacy, healthz)."""
    app.register_blueprint(views.bp)
