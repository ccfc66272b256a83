"""Open311 GeoReport v2 read API."""
from __future__ import annotations

from webapp.open311 import views


def init_app(app) -> None:
    """Register the Open311 GeoReport v2 blueprint (``/open311/v2``)."""
    app.register_blueprint(views.bp)
