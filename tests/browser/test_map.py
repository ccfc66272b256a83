"""The form's "Pick on the map" in real headless Chromium, with the app's strict CSP on.

There is no internet here, so the tile server (the default MAP_TILE_URL, OpenStreetMap) is
answered by a local route with a small PNG; everything else (Leaflet, its CSS and marker, the
city outline) comes from the app itself. Expected coordinates of a click are computed here with
the Web Mercator formulas (EPSG:3857, 256-px tiles), not read back from Leaflet.
"""
from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
from PIL import Image
from shapely.geometry import Point, shape

from tests.browser.waiting import wait_until
from tests.browser.axe import axe_violations

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
TILE_ORIGIN = "https://tile.openstreetmap.org"
LODZ_CENTRE = (51.7592, 19.4560)   # the map's default centre (ul. Piotrkowska), zoom 13
DESKTOP = {"viewport": {"width": 1024, "height": 900}, "locale": "en-GB"}
PHONE = {"viewport": {"width": 390, "height": 844}, "locale": "pl-PL", "has_touch": True,
         "is_mobile": True, "device_scale_factor": 2}


def _tile_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (256, 256), (228, 226, 220)).save(out, "PNG")
    return out.getvalue()


TILE = _tile_png()


def _full_boundary():
    data = json.loads((ROOT / "webapp" / "geo" / "data" / "lodz_boundary.geojson").read_text(encoding="utf-8"))
    return shape(data["features"][0]["geometry"] if data.get("type") == "FeatureCollection" else data)


BOUNDARY = _full_boundary()


# ---- Web Mercator (what any slippy map uses): degrees <-> world pixels at a zoom ---------------

def to_pixels(lat: float, lng: float, zoom: int) -> tuple[float, float]:
    size = 256 * 2 ** zoom
    s = math.sin(math.radians(lat))
    return (lng + 180) / 360 * size, (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * size


def to_degrees(x: float, y: float, zoom: int) -> tuple[float, float]:
    size = 256 * 2 ** zoom
    lng = x / size * 360 - 180
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / size))))
    return lat, lng


# ---- helpers ---------------------------------------------------------------------------------

class MapPage:
    """A page on /report with tiles answered locally, console errors, CSP violations and every
    request (the page's and the service worker's) recorded."""

    def __init__(self, browser, base_url: str, options: dict):
        self.context = browser.new_context(base_url=base_url, **options)
        self.requests: list[str] = []
        self.tiles: list[str] = []
        self.errors: list[str] = []
        self.context.on("request", lambda r: self.requests.append(r.url))
        self.context.route(f"{TILE_ORIGIN}/**", self._tile)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        # Init scripts come from the test harness, not the page: the CSP does not apply to them.
        self.page.add_init_script(
            "window.__csp = []; document.addEventListener('securitypolicyviolation', e => window.__csp.push("
            "[e.violatedDirective, e.blockedURI, e.sourceFile + ':' + e.columnNumber, "
            "e.target && e.target.cloneNode ? e.target.cloneNode(false).outerHTML : String(e.target)].join(' ')));")

    def _tile(self, route):
        self.tiles.append(route.request.url)
        route.fulfill(status=200, content_type="image/png", body=TILE,
                      headers={"Access-Control-Allow-Origin": "*"})

    def open_form(self, path: str = "/report"):
        self.page.goto(path)
        self.page.locator("#map-toggle").wait_for(state="visible")
        return self.page

    def data(self, name: str) -> str:
        return self.page.get_attribute("#map-picker", f"data-{name}")

    def open_map(self):
        page = self.page
        page.click("#map-toggle")
        page.locator("#report-map.leaflet-container").wait_for(state="visible")
        wait_until(page, lambda: page.locator("#report-map path.leaflet-interactive, #report-map svg path").count() > 0,
                   what="the city outline")
        wait_until(page, lambda: page.evaluate(
            "[...document.querySelectorAll('#report-map img.leaflet-tile')].some(i => i.complete && i.naturalWidth === 256)"),
            what="a tile")

    def map_box(self) -> dict:
        """The map's box in viewport pixels, scrolled into view first (a mouse click outside the
        viewport would hit nothing)."""
        self.page.locator("#report-map").scroll_into_view_if_needed()
        return self.page.locator("#report-map").bounding_box()

    def marker_tip(self) -> tuple[float, float]:
        """The marker's tip in px from the map's centre (the default icon is 25x41, anchored at
        12,41); both boxes measured together, so scrolling does not matter."""
        box = self.page.locator("#report-map .leaflet-marker-icon").bounding_box()
        frame = self.page.locator("#report-map").bounding_box()
        return (box["x"] + 12 - (frame["x"] + frame["width"] / 2),
                box["y"] + 41 - (frame["y"] + frame["height"] / 2))

    def fields(self) -> tuple[float, float, str]:
        return (float(self.page.input_value("#lat")), float(self.page.input_value("#long")),
                self.page.input_value("#location_source"))

    def csp_violations(self) -> list:
        return self.page.evaluate("window.__csp")

    def assert_clean(self, expected: tuple[str, ...] = ()):
        """No CSP violation and no console error but the ``expected`` ones (substrings)."""
        assert self.csp_violations() == []
        assert [e for e in self.errors if "Content Security Policy" in e or "Refused" in e] == []
        assert [e for e in self.errors if not any(x in e for x in expected)] == []


@pytest.fixture
def desktop(browser, live_server):
    m = MapPage(browser, live_server.url, DESKTOP)
    yield m
    m.context.close()


@pytest.fixture
def phone(browser, live_server):
    m = MapPage(browser, live_server.url, PHONE)
    yield m
    m.context.close()


def _click_offset(m: MapPage, dx: float, dy: float):
    """Click the map ``dx, dy`` px from its centre; return the expected (lat, long) at zoom 13
    around the default centre."""
    box = m.map_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    m.page.mouse.click(cx + dx, cy + dy)
    x0, y0 = to_pixels(*LODZ_CENTRE, 13)
    return to_degrees(x0 + dx, y0 + dy, 13)


# ---- tests ---------------------------------------------------------------------------------------

def test_first_load_of_the_form_does_not_fetch_leaflet(desktop):
    page = desktop.open_form()
    page.wait_for_load_state("load")
    page.wait_for_timeout(500)
    fetched = [u for u in desktop.requests if "leaflet" in u or "/geo/" in u]
    assert fetched == []
    assert desktop.tiles == []
    # the button is there, the map not yet
    assert page.get_by_role("button", name=desktop.data("msg-show")).is_visible()
    assert page.locator("#map-panel").is_hidden()
    assert page.get_attribute("#map-toggle", "aria-expanded") == "false"


def test_tapping_the_map_fills_the_coordinates_inside_lodz(phone):
    page = phone.open_form()
    phone.open_map()
    assert page.get_attribute("#map-toggle", "aria-expanded") == "true"
    assert page.locator("#map-toggle").inner_text() == phone.data("msg-hide")
    # Leaflet, its CSS and the outline came from the app; tiles from the (routed) tile server
    assert any(u.endswith("/static/vendor/leaflet/leaflet.js") for u in phone.requests)
    assert any(u.endswith("/geo/boundary.geojson") for u in phone.requests)
    assert phone.tiles and all(u.startswith(TILE_ORIGIN + "/13/") for u in phone.tiles)
    # the OSM attribution with its link
    credit = page.locator("#report-map .leaflet-control-attribution a[href='https://www.openstreetmap.org/copyright']")
    assert credit.inner_text() == phone.data("attribution")

    # as if a photo's GPS had filled the fields: a tap on the map makes the choice the resident's
    page.evaluate("document.getElementById('location_source').value = 'photo'")
    lat, lng = _click_offset(phone, 60, -40)
    wait_until(page, lambda: page.input_value("#lat") != "", what="the latitude")
    got_lat, got_lng, source = phone.fields()
    assert abs(got_lat - lat) < 0.0003 and abs(got_lng - lng) < 0.0003, (got_lat, got_lng, lat, lng)
    assert BOUNDARY.contains(Point(got_lng, got_lat))
    assert len(page.input_value("#lat").split(".")[1]) == 6 and len(page.input_value("#long").split(".")[1]) == 6
    assert source == "manual"
    status = page.locator("#map-status").inner_text()
    assert page.input_value("#lat") in status and phone.data("msg-outside") not in status
    # the marker stands where the resident tapped
    tip = phone.marker_tip()
    assert abs(tip[0] - 60) <= 1.5 and abs(tip[1] + 40) <= 1.5, tip
    phone.assert_clean()


def test_a_point_outside_lodz_says_so_at_once(desktop):
    page = desktop.open_form()
    desktop.open_map()
    # zoom out twice (13 -> 11) to see beyond the city limits
    for _ in range(2):
        page.click("#report-map .leaflet-control-zoom-out")
        page.wait_for_timeout(400)
    wait_until(page, lambda: any("/11/" in u for u in desktop.tiles), what="zoom 11 tiles")
    wait_until(page, lambda: page.evaluate(
        "!document.querySelector('#report-map .leaflet-zoom-anim')"), what="the zoom animation")
    box = desktop.map_box()
    dx = -box["width"] / 2 + 30       # near the map's west edge: about 19.13 E, west of the city
    box_cx, box_cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(box_cx + dx, box_cy)
    x0, y0 = to_pixels(*LODZ_CENTRE, 11)
    lat, lng = to_degrees(x0 + dx, y0, 11)
    assert not BOUNDARY.contains(Point(lng, lat))   # the test itself picks a point outside
    msg = page.locator("#map-status")
    wait_until(page, lambda: msg.inner_text() == desktop.data("msg-outside"), what="the outside message")
    assert "map-warning" in msg.get_attribute("class")
    got_lat, got_lng, source = desktop.fields()
    assert abs(got_lat - lat) < 0.002 and abs(got_lng - lng) < 0.002
    assert source == "manual"
    # back inside: the message goes away
    page.fill("#lat", "51.7592")
    page.fill("#long", "19.4560")
    wait_until(page, lambda: msg.inner_text() == "", what="the message to clear")
    desktop.assert_clean()


def test_typing_coordinates_moves_the_marker(desktop):
    page = desktop.open_form()
    desktop.open_map()
    _click_offset(desktop, 0, 0)
    wait_until(page, lambda: page.locator("#report-map .leaflet-marker-icon").count() == 1, what="the marker")
    before = desktop.marker_tip()
    # 0.01 deg east, 0.005 deg north of the centre: still in view, so the map does not move
    lat, lng = LODZ_CENTRE[0] + 0.005, LODZ_CENTRE[1] + 0.01
    page.fill("#lat", f"{lat}")
    page.fill("#long", f"{lng}".replace(".", ","))   # a Polish decimal comma works too
    x0, y0 = to_pixels(*LODZ_CENTRE, 13)
    x1, y1 = to_pixels(lat, lng, 13)
    wait_until(page, lambda: abs(desktop.marker_tip()[0] - before[0] - (x1 - x0)) <= 2, what="the marker to move")
    after = desktop.marker_tip()
    assert abs(after[1] - before[1] - (y1 - y0)) <= 2
    assert page.input_value("#location_source") == "manual"
    # a typed point outside Łódź (Zgierz) gets the message too
    page.fill("#lat", "51.8600")
    page.fill("#long", "19.4000")
    assert not BOUNDARY.contains(Point(19.4, 51.86))
    wait_until(page, lambda: page.inner_text("#map-status") == desktop.data("msg-outside"), what="the outside message")
    desktop.assert_clean()


def test_dragging_the_marker_fills_the_coordinates(desktop):
    page = desktop.open_form()
    desktop.open_map()
    _click_offset(desktop, 0, 0)
    wait_until(page, lambda: page.locator("#report-map .leaflet-marker-icon").count() == 1, what="the marker")
    page.evaluate("document.getElementById('location_source').value = 'device'")
    icon = page.locator("#report-map .leaflet-marker-icon").bounding_box()
    x, y = icon["x"] + icon["width"] / 2, icon["y"] + icon["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 50, y + 30, steps=10)
    page.mouse.up()
    x0, y0 = to_pixels(*LODZ_CENTRE, 13)
    lat, lng = to_degrees(x0 - 50, y0 + 30, 13)
    wait_until(page, lambda: abs(float(page.input_value("#long")) - lng) < 0.0003, what="the dragged position")
    got_lat, got_lng, source = desktop.fields()
    assert abs(got_lat - lat) < 0.0003
    assert source == "manual"
    assert page.input_value("#lat") in page.inner_text("#map-status")
    desktop.assert_clean()


def test_a_position_outside_lodz_in_the_fields_is_flagged_when_the_map_opens(desktop):
    page = desktop.open_form()
    page.fill("#lat", "52.2297")   # Warsaw
    page.fill("#long", "21.0122")
    page.click("#map-toggle")
    page.locator("#report-map .leaflet-marker-icon").wait_for(state="visible")
    wait_until(page, lambda: page.inner_text("#map-status") == desktop.data("msg-outside"), what="the outside message")
    desktop.assert_clean()


def test_map_opens_on_the_position_already_in_the_fields(desktop):
    page = desktop.open_form()
    page.fill("#lat", "51.7786")    # Manufaktura
    page.fill("#long", "19.4475")
    desktop.open_map()
    tip = desktop.marker_tip()
    assert abs(tip[0]) <= 1.5 and abs(tip[1]) <= 1.5, tip
    assert all("/16/" in u for u in desktop.tiles[-4:])
    desktop.assert_clean()


def test_keyboard_can_pick_and_leave_the_map(desktop):
    page = desktop.open_form()
    desktop.open_map()
    page.focus("#report-map")
    page.keyboard.press("ArrowRight")   # Leaflet pans by 80 px
    page.wait_for_timeout(400)
    page.keyboard.press("Enter")        # the marker goes to the centre
    wait_until(page, lambda: page.input_value("#lat") != "", what="the latitude")
    got_lat, got_lng, source = desktop.fields()
    assert abs(got_lat - LODZ_CENTRE[0]) < 0.0005 and got_lng > LODZ_CENTRE[1] + 0.005
    assert source == "manual"
    # Tab leaves the map: focus is not trapped, the coordinate fields are reachable
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "lat":
            break
    assert page.evaluate("document.activeElement.id") == "lat"
    desktop.assert_clean()


def test_open_map_passes_axe_and_has_no_csp_errors(phone):
    page = phone.open_form()
    phone.open_map()
    _click_offset(phone, 20, 20)
    wait_until(page, lambda: page.locator("#report-map .leaflet-marker-icon").count() == 1, what="the marker")
    region = page.get_by_role("region", name=page.get_attribute("#report-map", "aria-label"))
    assert region.count() == 1
    assert page.get_attribute("#report-map .leaflet-marker-icon", "alt") == phone.data("msg-marker")
    assert page.get_attribute("#report-map .leaflet-control-zoom-in", "title") == phone.data("msg-zoom-in")
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    page.screenshot(path=str(ROOT / "test-artifacts" / "report-form-map-390x844.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert axe_violations(page) == []
    # closing it hides it again
    page.click("#map-toggle")
    assert page.locator("#map-panel").is_hidden()
    assert page.get_attribute("#map-toggle", "aria-expanded") == "false"
    phone.assert_clean()


def test_offline_the_button_says_the_map_needs_a_connection(desktop):
    page = desktop.open_form()
    desktop.context.set_offline(True)
    page.click("#map-toggle")
    status = page.locator("#map-status")
    wait_until(page, lambda: status.inner_text() == desktop.data("msg-offline"), what="the offline message")
    assert page.locator("#map-panel").is_hidden()
    assert [u for u in desktop.requests if "leaflet" in u] == []
    assert desktop.tiles == []
    # typing the coordinates still works
    page.fill("#lat", "51.7592")
    assert page.input_value("#lat") == "51.7592"


def test_service_worker_does_not_cache_tiles(desktop):
    page = desktop.open_form()
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    wait_until(page, lambda: page.evaluate("navigator.serviceWorker.controller !== null"), what="SW control")
    desktop.open_map()
    _click_offset(desktop, 10, 10)
    page.wait_for_timeout(500)
    cached = page.evaluate("""async () => {
        const urls = [];
        for (const name of await caches.keys()) {
            for (const req of await (await caches.open(name)).keys()) urls.push(req.url);
        }
        return urls;
    }""")
    assert cached, "the service worker precached nothing: the check would prove nothing"
    assert [u for u in cached if not u.startswith(desktop.context.pages[0].url.split("/report")[0])] == []
    assert not [u for u in cached if "tile.openstreetmap.org" in u]
    desktop.assert_clean()


def test_map_follows_use_my_location_and_survives_an_htmx_error_swap(desktop):
    page = desktop.open_form()
    desktop.context.grant_permissions(["geolocation"])
    desktop.context.set_geolocation({"latitude": 51.7786, "longitude": 19.4475, "accuracy": 10})
    desktop.open_map()
    _click_offset(desktop, 0, 0)
    wait_until(page, lambda: page.locator("#report-map .leaflet-marker-icon").count() == 1, what="the marker")
    # "Use my location" fills the fields from another script: the marker follows (Manufaktura,
    # out of view at zoom 13 around the centre, so the map moves there too)
    page.click("#use-location")
    wait_until(page, lambda: page.input_value("#lat") == "51.778600", what="the device position")
    assert page.input_value("#location_source") == "device"   # the map does not overwrite it
    wait_until(page, lambda: max(map(abs, desktop.marker_tip())) <= 1.5, what="the marker to follow")

    # a validation error comes back out of band: the map stays as it is
    page.click("button[type=submit]")
    page.locator("#err-service_code").wait_for(state="visible")
    assert page.input_value("#lat") == "51.778600"
    assert page.locator("#map-panel").is_visible()
    assert max(map(abs, desktop.marker_tip())) <= 1.5

    # the form swapped in anew by htmx (its <script> runs again): the new button opens a new map
    page.evaluate("htmx.ajax('GET', '/report', {target: '#report-form', select: '#report-form', swap: 'outerHTML'})")
    wait_until(page, lambda: page.locator("#map-panel").is_hidden(), what="the new form")
    page.locator("#map-toggle").wait_for(state="visible")
    page.fill("#lat", "51.7786")
    page.fill("#long", "19.4475")
    desktop.open_map()
    assert max(map(abs, desktop.marker_tip())) <= 1.5
    assert page.locator("#report-map .leaflet-marker-icon").count() == 1
    assert page.evaluate("document.querySelectorAll('script[src$=\"/vendor/leaflet/leaflet.js\"]').length") == 1
    # the only console error: the browser's note on the 422 answer to the incomplete form
    desktop.assert_clean(expected=("status of 422",))


def test_offline_reload_still_offers_the_button_and_explains(desktop):
    """The form opens offline from the service worker's precache, map.js included, so the button
    is there and says why there is no map (rather than showing an empty one or nothing)."""
    page = desktop.open_form()
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    wait_until(page, lambda: page.evaluate("navigator.serviceWorker.controller !== null"), what="SW control")
    desktop.context.set_offline(True)
    page.reload()
    page.locator("#map-toggle").wait_for(state="visible")
    page.click("#map-toggle")
    wait_until(page, lambda: page.inner_text("#map-status") == desktop.data("msg-offline"), what="the offline message")
    assert page.locator("#map-panel").is_hidden()
    assert desktop.tiles == []


def test_map_follows_the_position_read_from_a_photo(desktop):
    """photos.js fills the empty coordinate fields from the photo's EXIF with input events (no
    polling): the open map puts its marker there at once."""
    photo = ROOT / "tests" / "fixtures" / "photos" / "derived_lodz_gps_DSCN0025.jpg"  # EXIF: ul. Piotrkowska
    page = desktop.open_form()
    desktop.open_map()
    assert page.locator("#report-map .leaflet-marker-icon").count() == 0
    page.set_input_files("#media", str(photo))
    wait_until(page, lambda: page.locator("#report-map .leaflet-marker-icon").count() == 1, what="the marker")
    lat, lng, source = desktop.fields()
    assert (lat, lng, source) == (pytest.approx(LODZ_CENTRE[0], abs=1e-5), pytest.approx(LODZ_CENTRE[1], abs=1e-5), "photo")
    # the photo's point is the map's default centre: the marker's tip is there
    assert max(map(abs, desktop.marker_tip())) <= 1.5
    desktop.assert_clean()
