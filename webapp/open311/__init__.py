"""Open311 GeoReport v2 read API."""
from __future__ import annotations


def init_app(app) -> None:
    """Register the Open311 GeoReport v2 blueprint (``/open311/v2``)."""
    from webapp.open311.views import bp
    app.register_blueprint(bp)
