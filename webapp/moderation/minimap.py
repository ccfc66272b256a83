"""The small map in each queue row: a report's spot on four map tiles with a marker, worked out
on the server.

A queue page holds up to 100 rows, so the map is no Leaflet instance: it is four plain
``<img loading="lazy">`` tiles from ``MAP_TILE_URL`` (the CSP ``img-src`` already names that
origin, see :func:`webapp.security.build_csp`) laid out by the stylesheet as a 2 x 2 grid, and
an SVG on top whose ``viewBox`` is the block's 512 x 512 tile pixels, so the marker is placed
with SVG attributes (no inline style). Rows below the fold fetch nothing until scrolled to.

Tiles are the Web Mercator (EPSG:3857) "slippy map" scheme: 256 px tiles, ``2**zoom`` per side.
The block is the 2 x 2 one whose middle corner is nearest the point, so the marker always lies
in the block's middle half (at least 64 m of map on every side at zoom 17 in Łódź).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from flask import current_app

#: Tile size in pixels and the zoom of the queue's maps (17: a tile is about 190 m across in Łódź).
TILE_SIZE = 256
ZOOM = 17
#: Leaflet's default subdomains for a ``{s}`` in the URL template.
SUBDOMAINS = "abc"


@dataclass(frozen=True)
class MapTile:
    """One tile of the block: slippy-map ``x``/``y`` at ``zoom`` and its URL."""

    x: int
    y: int
    url: str


@dataclass(frozen=True)
class MiniMap:
    """A 2 x 2 tile block around a point. ``tiles`` are row by row (top-left first);
    ``marker_x``/``marker_y`` are the point's position in block pixels (0..512, the SVG's
    ``viewBox``); ``zoom``, ``lat``, ``long`` (WGS84 degrees) as given."""

    zoom: int
    lat: float
    long: float
    tiles: tuple[MapTile, ...]
    marker_x: float
    marker_y: float

    @property
    def size(self) -> int:
        """The block's side in tile pixels (512)."""
        return 2 * TILE_SIZE


def world_position(lat: float, long: float, zoom: int) -> tuple[float, float]:
    """The point's position in tiles (fractional ``x``, ``y``) at ``zoom``, Web Mercator.
    ``lat`` is clamped to the projection's limit (about ±85.0511°)."""
    lat = max(-85.05112878, min(85.05112878, lat))
    n = 2 ** zoom
    x = (long + 180.0) / 360.0 * n
    phi = math.radians(lat)
    y = (1.0 - math.log(math.tan(phi) + 1.0 / math.cos(phi)) / math.pi) / 2.0 * n
    return x, y


def tile_url(template: str, zoom: int, x: int, y: int) -> str:
    """Fill a Leaflet tile URL template: ``{z}``, ``{x}``, ``{y}``, ``{s}`` (a subdomain picked by
    position, as Leaflet does) and ``{r}`` (no retina suffix)."""
    return (template.replace("{z}", str(zoom)).replace("{x}", str(x)).replace("{y}", str(y))
            .replace("{s}", SUBDOMAINS[(x + y) % len(SUBDOMAINS)]).replace("{r}", ""))


def minimap(lat: float | None, long: float | None, zoom: int = ZOOM) -> MiniMap | None:
    """The tile block and marker position for ``lat``/``long`` with the configured
    ``MAP_TILE_URL``; None when the map is switched off (empty URL) or the point is missing.
    Tile columns wrap round the antimeridian; rows are kept inside the world."""
    template = (current_app.config.get("MAP_TILE_URL") or "").strip()
    if not template or lat is None or long is None:
        return None
    x, y = world_position(float(lat), float(long), zoom)
    n = 2 ** zoom
    left = round(x) - 1  # may be -1 or n - 1: the column wraps (modulo n) below
    top = min(max(round(y) - 1, 0), n - 2)
    tiles = tuple(MapTile(x=(left + dx) % n, y=top + dy,
                          url=tile_url(template, zoom, (left + dx) % n, top + dy))
                  for dy in (0, 1) for dx in (0, 1))
    return MiniMap(zoom=zoom, lat=float(lat), long=float(long), tiles=tiles,
                   marker_x=round((x - left) * TILE_SIZE, 1),
                   marker_y=round((y - top) * TILE_SIZE, 1))
