"""Point-in-polygon against the Łódź boundary (PRG, GUGiK), using shapely."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from flask_babel import lazy_gettext as _l
from shapely.geometry import Point, shape
from shapely.prepared import prep


class LocationError(ValueError):
    """A location that cannot be accepted; ``message`` is a translatable, user-facing text."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


@dataclass
class Boundary:
    """A polygon (or multipolygon) in WGS84 degrees, prepared for fast ``contains`` checks."""

    geometry: object

    @classmethod
    def from_file(cls, path: str | Path) -> "Boundary":
        """Read a GeoJSON file (Feature, FeatureCollection or bare geometry, CRS84 lon/lat).

        Raises ``ValueError`` when the file holds no polygon.
        """
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("type") == "FeatureCollection":
            geoms = [shape(f["geometry"]) for f in data["features"]]
        elif data.get("type") == "Feature":
            geoms = [shape(data["geometry"])]
        else:
            geoms = [shape(data)]
        geoms = [g for g in geoms if g.geom_type in ("Polygon", "MultiPolygon")]
        if not geoms:
            raise ValueError(f"{path}: no Polygon or MultiPolygon")
        geometry = geoms[0]
        for g in geoms[1:]:
            geometry = geometry.union(g)
        return cls(geometry)

    def __post_init__(self):
        self._prepared = prep(self.geometry)

    def contains(self, lat: float, long: float) -> bool:
        """True when (``lat``, ``long``), WGS84 degrees, lies inside or on the boundary."""
        p = Point(long, lat)
        return self._prepared.contains(p) or self.geometry.touches(p)


def parse_coordinate(value, low: float, high: float) -> float | None:
    """Parse a decimal-degree value (a dot or a Polish decimal comma); None when not a finite
    number within [low, high]."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip().replace(",", ".")
        if not value:
            return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number) or not (low <= number <= high):
        return None
    return number


def validate_location(lat, long, boundary: Boundary) -> tuple[float, float]:
    """Return (lat, long) as floats when they name a point inside Łódź.

    Accepts strings or numbers in WGS84 degrees. Raises :class:`LocationError` for a missing,
    non-numeric (said as such) or out-of-range value, for (0, 0), and for a point outside ``boundary``.
    """
    if (lat is None or lat == "") and (long is None or long == ""):
        raise LocationError(_l("Give the location: use your location, pick it on the map, "
                               "or attach a photo with a GPS position."))
    if lat is None or lat == "" or long is None or long == "":
        raise LocationError(_l("Give both the latitude and the longitude."))
    flat = parse_coordinate(lat, -90.0, 90.0)
    flong = parse_coordinate(long, -180.0, 180.0)
    # "abc" is not out of range: say what is wrong with it, before the range.
    if parse_coordinate(lat, -math.inf, math.inf) is None:
        raise LocationError(_l("The latitude is not a number. Give it in degrees, e.g. 51.7592."))
    if parse_coordinate(long, -math.inf, math.inf) is None:
        raise LocationError(_l("The longitude is not a number. Give it in degrees, e.g. 19.4560."))
    if flat is None or flong is None:
        raise LocationError(_l("The coordinates are not valid. Latitude must be between -90 and 90 "
                               "and longitude between -180 and 180 degrees."))
    if flat == 0.0 and flong == 0.0:
        raise LocationError(_l("The location (0, 0) is not a real place. Set the location again."))
    if not boundary.contains(flat, flong):
        raise LocationError(_l("This location is outside Łódź. The portal accepts reports only "
                               "from within the city limits."))
    return flat, flong
