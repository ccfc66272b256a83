"""Geography: is a point inside Łódź? (the official PRG boundary)."""
from __future__ import annotations

from webapp.geo.boundary import Boundary, LocationError, validate_location  # noqa: F401


def init_app(app) -> None:
    """Load the boundary once at start-up into ``app.extensions["boundary"]``; register the
    ``geo`` blueprint (the simplified outline for the form's map)."""
    from webapp.geo.views import bp

    app.extensions["boundary"] = Boundary.from_file(app.config["BOUNDARY_FILE"])
    app.register_blueprint(bp)
