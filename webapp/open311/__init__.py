"""Open311 GeoReport v2 read API."""
from __future__ import annotations


def init_app(app) -> None:
    from webapp.open311.views import bp
    app.register_blueprint(bp)
