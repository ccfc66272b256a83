"""Static-ish pages: home, rules, how procedures are handled, health check."""
from __future__ import annotations


def init_app(app) -> None:
    """Register the pages blueprint (home, about, rules, privacy, healthz)."""
    from webapp.pages.views import bp
    app.register_blueprint(bp)
