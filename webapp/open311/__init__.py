"""Open311 GeoReport v2 API (XML and JSON): discovery, services, requests."""
from __future__ import annotations

from webapp.open311 import cli, views


def init_app(app) -> None:
    """Register the Open311 GeoReport v2 blueprint (``/open311/v2``) and discovery (``/open311``)."""
    app.register_blueprint(views.bp)
    app.register_blueprint(views.discovery_bp)
    cli.init_app(app)
