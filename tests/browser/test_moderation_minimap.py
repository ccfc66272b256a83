"""The queue row's small map in real Chromium: its four tiles are fetched from the tile server
(answered locally: there is no internet here) without a CSP complaint, the page passes axe, and
its link opens the public map centred on the report (the map then asks for a small box around
the spot)."""
from __future__ import annotations

import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image

from tests.browser.axe import axe_violations
from tests.browser.waiting import wait_until
from tests.factories import create_staff, make_report
from tests.helpers import enrol_in_browser

pytestmark = pytest.mark.browser

LAT, LONG = 51.7593, 19.4573
#: The zoom-17 block around (LAT, LONG): see tests/test_moderation_minimap.py for the arithmetic.
BLOCK = {"17/72619/43436", "17/72620/43436", "17/72619/43437", "17/72620/43437"}


def _tile_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (256, 256), (228, 226, 220)).save(out, "PNG")
    return out.getvalue()


def test_queue_minimap_loads_its_tiles_and_opens_the_city_map_there(live_server, page):
    from playwright.sync_api import expect
    app, url = live_server.app, live_server.url
    create_staff(app)
    with app.app_context():
        rid = make_report(service_code="TRAFFIC_LIGHT", status="awaiting_moderation", lat=LAT,
                          long=LONG, history=[("awaiting_moderation", "", "system", None, "zdit", 0)]).id
    tile, tiles_asked, referers, errors = _tile_png(), [], set(), []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    def answer_tile(route):
        tiles_asked.append(urlsplit(route.request.url).path.removesuffix(".png").lstrip("/"))
        referers.add(route.request.header_value("referer"))
        route.fulfill(status=200, content_type="image/png", body=tile)
    page.context.route("https://tile.openstreetmap.org/**", answer_tile)

    enrol_in_browser(page, url, "operator@lodz.example")

    page.goto(f"{url}/admin/queue?lang=pl")
    figure = page.locator(f"#report-{rid}-map")
    expect(figure).to_be_visible()
    wait_until(page, lambda: BLOCK <= set(tiles_asked), what="the row's four tiles")
    # OSM's tile policy wants a Referer; the panel's own URL (it names reports) stays home.
    assert referers == {f"{url}/"}
    assert axe_violations(page) == []
    assert [e for e in errors if "Content Security Policy" in e] == []

    link = figure.get_by_role("link", name=re.compile("na mapie miasta"))
    link.focus()
    with page.expect_request(lambda r: "/reports.geojson" in r.url and "bbox=" in r.url) as asked:
        page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/map#map=17/"))
    west, south, east, north = map(float, parse_qs(urlsplit(asked.value.url).query)["bbox"][0].split(","))
    assert west < LONG < east and south < LAT < north
    assert east - west < 0.05, "zoomed in on the spot, not the whole city"
    assert [e for e in errors if "Content Security Policy" in e] == []
