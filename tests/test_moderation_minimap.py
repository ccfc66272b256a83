"""The small map in each moderation queue row: the right tiles for a known spot, the marker where
the report is, a named link to the public map there, tiles the CSP allows, nothing when the map
is switched off."""
from __future__ import annotations

import math
import re

from tests.factories import make_report
from tests.helpers import element_attrs, staff_client

TILE_RE = re.compile(r'<img src="([^"]+)"[^>]*data-tile="(\d+)/(\d+)/(\d+)"')
MARKER_RE = re.compile(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="16"')


def _queue_with_one_report(app, **fields):
    client, _, _ = staff_client(app)
    with app.app_context():
        rid = make_report(service_code="TRAFFIC_LIGHT", status="awaiting_moderation",
                          history=[("awaiting_moderation", "", "system", None, "zdit", 0)],
                          **fields).id
    response = client.get("/admin/queue")
    assert response.status_code == 200
    return rid, response


def _figure(html: str, rid: int) -> str:
    start = html.index(f'id="report-{rid}-map"')
    return html[start:html.index("</figure>", start)]


def test_queue_row_shows_the_spot_on_four_tiles_with_a_marker(make_app):
    app = make_app()
    # ul. Piotrkowska 104: at zoom 17 the point is tile (72620.187, 43437.024) (OSM wiki's
    # formula below), so the block is columns 72619-72620, rows 43436-43437.
    lat, long = 51.7593, 19.4573
    n = 2 ** 17
    x = (long + 180) / 360 * n
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    assert (int(x), int(y)) == (72620, 43437)
    rid, response = _queue_with_one_report(app, lat=lat, long=long)
    html = response.get_data(as_text=True)
    figure = _figure(html, rid)
    tiles = TILE_RE.findall(figure)
    assert [(z, tx, ty) for _, z, tx, ty in tiles] == [
        ("17", "72619", "43436"), ("17", "72620", "43436"),
        ("17", "72619", "43437"), ("17", "72620", "43437")]
    assert tiles[0][0] == "https://tile.openstreetmap.org/17/72619/43436.png"
    cx, cy = map(float, MARKER_RE.search(figure).groups())
    assert abs(cx - (x - 72619) * 256) < 0.2 and abs(cy - (y - 43436) * 256) < 0.2
    # A named link to the public map centred there; the tiles are decorative.
    assert 'href="/map#map=17/51.759300/19.457300"' in figure
    assert "ul. Piotrkowska 104 na mapie miasta, ze zgłoszeniami w okolicy" in figure
    assert all('alt=""' in tag for tag in re.findall(r"<img [^>]+>", figure))
    assert 'loading="lazy"' in figure and 'aria-hidden="true"' in figure
    assert "style=" not in figure and "<script" not in figure  # strict CSP
    assert "OpenStreetMap" in figure  # the tiles' licence asks for the credit
    img_src = next(p for p in response.headers["Content-Security-Policy"].split("; ")
                   if p.startswith("img-src"))
    assert "https://tile.openstreetmap.org" in img_src.split()


def test_a_tile_server_with_subdomains_and_no_address(make_app):
    app = make_app(MAP_TILE_URL="https://{s}.tiles.example.org/{z}/{x}/{y}{r}.png")
    rid, response = _queue_with_one_report(app, address_string=None)
    figure = _figure(response.get_data(as_text=True), rid)
    urls = [url for url, *_ in TILE_RE.findall(figure)]
    assert all(re.fullmatch(r"https://[abc]\.tiles\.example\.org/17/\d+/\d+\.png", u) for u in urls)
    assert "51.759300, 19.457300 na mapie miasta" in figure
    assert "https://*.tiles.example.org" in response.headers["Content-Security-Policy"]


def test_no_map_when_tiles_are_switched_off(make_app):
    app = make_app(MAP_TILE_URL="")
    rid, response = _queue_with_one_report(app)
    html = response.get_data(as_text=True)
    assert element_attrs(html, f"report-{rid}-map") is None
    assert element_attrs(html, f"report-{rid}") is not None


def test_block_wraps_round_the_antimeridian(make_app):
    from webapp.moderation.minimap import minimap
    with make_app().app_context():
        edge = minimap(0.0, -179.9999)
    assert [t.x for t in edge.tiles[:2]] == [2 ** 17 - 1, 0]
    assert 256 < edge.marker_x < 270  # 0.0001° (9 px at zoom 17) right of the middle line


def test_tiles_send_the_origin_as_referer_but_never_the_panel_url(make_app):
    """OSM's tile policy wants a Referer, but the panel's pages say ``same-origin`` (their URLs
    name reports): each tile asks for ``strict-origin``, only ``https://host/`` goes out."""
    app = make_app()
    rid, response = _queue_with_one_report(app, lat=51.7593, long=19.4573)
    assert response.headers["Referrer-Policy"] == "same-origin"
    tags = re.findall(r"<img [^>]+>", _figure(response.get_data(as_text=True), rid))
    assert len(tags) == 4
    assert all('referrerpolicy="strict-origin"' in tag for tag in tags)
