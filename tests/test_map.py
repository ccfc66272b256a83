"""The form's map, server side: the CSP lets in the tile server's images and nothing else new,
MAP_TILE_URL drives it (and switches the map off when empty), the page carries the map's
settings and translated strings without loading Leaflet, and the city outline is served."""
from __future__ import annotations

import json
import re

import pytest
from shapely.geometry import Point, shape

from webapp.security import CSP, build_csp, tile_origin

OSM = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


def _directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def test_csp_adds_the_tile_origin_to_img_src_only(client):
    header = client.get("/report").headers["Content-Security-Policy"]
    got, strict = _directives(header), _directives(CSP)
    assert got["img-src"] == strict["img-src"] + ["https://tile.openstreetmap.org"]
    assert {k: v for k, v in got.items() if k != "img-src"} == {k: v for k, v in strict.items() if k != "img-src"}
    assert got["script-src"] == ["'self'"] and got["style-src"] == ["'self'"]
    assert got["connect-src"] == ["'self'"]   # Leaflet's tiles are <img>s: no fetch to the tile server


def test_another_tile_server_changes_the_csp_and_the_page(make_app):
    app = make_app(MAP_TILE_URL="https://{s}.tiles.example.org/styles/{z}/{x}/{y}.png?key=abc",
                   MAP_TILE_ATTRIBUTION="© Example Maps", MAP_TILE_ATTRIBUTION_URL="https://example.org/terms")
    r = app.test_client().get("/report")
    img_src = _directives(r.headers["Content-Security-Policy"])["img-src"]
    assert img_src == ["'self'", "data:", "blob:", "https://*.tiles.example.org"]
    html = r.get_data(as_text=True)
    assert 'data-tile-url="https://{s}.tiles.example.org/styles/{z}/{x}/{y}.png?key=abc"' in html
    assert 'data-attribution="© Example Maps"' in html
    assert 'data-attribution-url="https://example.org/terms"' in html
    assert "openstreetmap" not in html + r.headers["Content-Security-Policy"]


def test_empty_tile_url_means_no_map_and_the_strict_policy(make_app):
    r = make_app(MAP_TILE_URL="").test_client().get("/report")
    assert r.headers["Content-Security-Policy"] == CSP
    html = r.get_data(as_text=True)
    assert 'id="map-toggle"' not in html and "js/map.js" not in html
    assert 'id="lat"' in html and 'id="long"' in html   # typing the coordinates still works


@pytest.mark.parametrize("bad", [
    "javascript:alert(1)",
    "ftp://tiles.example.org/{z}/{x}/{y}.png",
    "https://tiles.example.org;script-src */{z}/{x}/{y}.png",
    "https://user:pw@tiles.example.org/{z}/{x}/{y}.png",
    "https://a.{s}.example.org/{z}/{x}/{y}.png",
    "https://{s}.org/{z}/{x}/{y}.png",
    "https://tiles.example.org:80a/{z}/{x}/{y}.png",
])
def test_a_tile_url_the_csp_cannot_name_stops_the_start(make_app, bad):
    with pytest.raises(ValueError, match="MAP_TILE_URL"):
        make_app(MAP_TILE_URL=bad)


def test_tile_origin_keeps_scheme_host_and_port_only():
    assert tile_origin(OSM) == "https://tile.openstreetmap.org"
    assert tile_origin("http://127.0.0.1:8080/osm/{z}/{x}/{y}.png?x='y'") == "http://127.0.0.1:8080"
    assert tile_origin("https://{s}.Tile.Example.org/{z}/{x}/{y}{r}.png") == "https://*.tile.example.org"
    assert tile_origin("") is None and tile_origin(None) is None
    assert build_csp(None) == CSP and "openstreetmap" not in CSP


def test_the_form_carries_the_map_settings_but_not_leaflet(client):
    html = client.get("/report").get_data(as_text=True)
    # Leaflet is loaded only when the button is pressed: named in data attributes, never a tag
    assert not re.search(r"<(script|link)[^>]+leaflet", html)
    assert 'data-leaflet-js="/static/vendor/leaflet/leaflet.js"' in html
    assert 'data-leaflet-css="/static/vendor/leaflet/leaflet.css"' in html
    assert 'data-boundary-url="/geo/boundary.geojson"' in html
    assert f'data-tile-url="{OSM}"' in html
    assert 'data-attribution-url="https://www.openstreetmap.org/copyright"' in html
    assert '<script src="/static/js/map.js" defer></script>' in html
    # the button starts hidden (map.js shows it) and says what it controls
    assert re.search(r'<button type="button"[^>]*id="map-toggle"[^>]*aria-controls="map-panel"[^>]*hidden>', html)
    assert 'role="region" aria-label="' in html
    assert " style=" not in html


def test_map_strings_are_translated_by_the_page(client):
    html = client.get("/report?lang=en").get_data(as_text=True)
    assert "Pick on the map</button>" in html
    assert 'data-attribution="© OpenStreetMap contributors"' in html
    # the outside message is the server's own (already translated) wording
    pl = client.get("/report?lang=pl").get_data(as_text=True)
    assert "poza Łodzią" in pl.split('data-msg-outside="')[1].split('"')[0]


def test_the_vendored_leaflet_is_traceable_to_npm():
    from tests.conftest import ROOT
    folder = ROOT / "static" / "vendor" / "leaflet"
    assert (folder / "VERSION").read_text().startswith("leaflet@1.9.")
    assert "BSD" in (folder / "LICENSE").read_text() or "Redistribution" in (folder / "LICENSE").read_text()
    package = json.loads((ROOT / "package.json").read_text())
    assert package["dependencies"]["leaflet"].startswith("1.9.")
    for name in ("leaflet.js", "leaflet.css", "images/marker-icon.png", "images/marker-icon-2x.png",
                 "images/marker-shadow.png"):
        assert (folder / name).stat().st_size > 0, name


def test_boundary_outline_is_served_as_geojson(client):
    r = client.get("/geo/boundary.geojson")
    assert r.status_code == 200
    assert r.mimetype == "application/geo+json"
    assert "max-age=86400" in r.headers["Cache-Control"]
    data = r.get_json(force=True)
    polygon = shape(data["features"][0]["geometry"])
    assert polygon.geom_type == "Polygon"
    assert polygon.contains(Point(19.4560, 51.7592))       # ul. Piotrkowska
    assert not polygon.contains(Point(21.0122, 52.2297))   # Warsaw
    assert not polygon.contains(Point(19.4000, 51.8600))   # Zgierz side
    # small enough for a phone, and a repeat asks only whether it changed
    assert len(r.data) < 10_000
    again = client.get("/geo/boundary.geojson", headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304


def test_outline_agrees_with_the_server_away_from_the_city_limit(app):
    """The map's instant hint uses the simplified outline; the server the full polygon. They may
    differ only within a few tens of metres of the limit (webapp/geo/data/SOURCES.md)."""
    from tests.conftest import ROOT
    full = app.extensions["boundary"]
    simple = shape(json.loads((ROOT / "webapp" / "geo" / "data" / "lodz_boundary_simplified.geojson")
                              .read_text(encoding="utf-8"))["features"][0]["geometry"])
    assert simple.symmetric_difference(full.geometry).area * 111_000 * 69_000 < 500_000  # m², < 0.5 km²
    edge = full.geometry.exterior
    for i in range(0, 60):
        lng, lat = 19.30 + i * 0.0060, 51.68 + (i * 7 % 60) * 0.0032
        p = Point(lng, lat)
        if edge.distance(p) > 0.001:   # more than ~70 m from the limit
            assert simple.contains(p) == full.contains(lat, lng), (lat, lng)
