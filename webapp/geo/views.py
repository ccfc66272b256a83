"""URLs of the geo domain: ``GET /geo/boundary.geojson``, the city outline drawn on the form's map."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, send_file

bp = Blueprint("geo", __name__, url_prefix="/geo")

#: Simplified Łódź boundary (218 vertices, about 4.7 kB; see data/SOURCES.md). Only for drawing
#: the outline and the map's instant "outside Łódź" hint: the server validates every report
#: against the full polygon (``BOUNDARY_FILE``).
SIMPLIFIED_BOUNDARY = Path(__file__).parent / "data" / "lodz_boundary_simplified.geojson"

#: A day: the outline changes only with a release.
MAX_AGE_SECONDS = 24 * 3600


@bp.get("/boundary.geojson")
def boundary():
    """The simplified city boundary as a GeoJSON FeatureCollection (one Polygon, CRS84 lon/lat
    degrees), ``application/geo+json`` (RFC 7946), cacheable for a day with an ETag."""
    return send_file(SIMPLIFIED_BOUNDARY, mimetype="application/geo+json",
                     max_age=MAX_AGE_SECONDS, conditional=True, etag=True)
