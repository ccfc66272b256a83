"""Geography: is a point inside Łódź? (the official PRG boundary)."""
from __future__ import annotations

from webapp.geo import views
from webapp.geo.boundary import Boundary, LocationError, validate_location  # noqa: F401


def osm_url(lat: float, long: float) -> str:
    """OpenStreetMap link centred on WGS84 ``lat``/``long`` (degrees) with a marker, zoom 18."""
    return (f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={long:.6f}"
            f"#map=18/{lat:.6f}/{long:.6f}")


def init_app(app) -> None:
    """Load the boundary once at start-up into ``app.extensions["boundary"]``; register the
    ``geo`` blueprint (the simplified outline for the form's map) and the ``city_bbox`` and
    ``osm_url`` template globals."""
    boundary = Boundary.from_file(app.config["BOUNDARY_FILE"])
    app.extensions["boundary"] = boundary
    app.register_blueprint(views.bp)
    # The city's bounding box "west,south,east,north" (WGS84 degrees) for a first check on the
    # phone: a photo taken far away is named at once; the server still checks the polygon.
    bbox = ",".join(f"{v:.5f}" for v in boundary.geometry.bounds)
    app.jinja_env.globals["city_bbox"] = bbox
    app.jinja_env.globals["osm_url"] = osm_url
