"""The city map and "already reported? me too" in real headless Chromium with the strict CSP on
(issue 10). There is no internet here: tile requests are refused, as offline, so these tests
also show the map working without tiles (plain background, outline and markers)."""
from __future__ import annotations

import re
import uuid

import pytest

from tests.browser.axe import axe_violations
from tests.browser.waiting import wait_until
from tests.factories import make_report

pytestmark = pytest.mark.browser

CENTRE = (51.7592, 19.4560)  # the map's start (zoom 13)
NEAR = 20 / 111_320           # 20 m north, in degrees of latitude
FAR = 200 / 111_320


def _markers(page):
    return page.locator("#citymap .citymap-marker")


def _form_at_centre(page, base_url: str) -> None:
    """Open the report form and choose a pothole at the map's start: the hint's query."""
    page.goto(f"{base_url}/report")
    page.select_option("#service_code", "ROAD_POTHOLE")
    page.fill("#lat", str(CENTRE[0]))
    page.fill("#long", str(CENTRE[1]))
    page.locator("#long").blur()


def _report_page(page, live_server) -> None:
    """A new report's public page, opened with its mini-map drawn."""
    with live_server.app.app_context():
        report = make_report().id
    page.goto(f"{live_server.url}/reports/{report}")
    page.locator(".report-minimap .citymap-marker").wait_for()


def test_markers_load_for_the_box_a_filter_changes_them_and_a_marker_opens_its_report(live_server, map_page):
    page = map_page
    with live_server.app.app_context():
        pothole = make_report(lat=CENTRE[0], long=CENTRE[1]).id
        tree = make_report(service_code="STREET_LIGHT", lat=CENTRE[0] + 0.012, long=CENTRE[1]).id
        make_report(lat=51.60, long=19.20)  # far outside the view
    page.goto(f"{live_server.url}/map")
    wait_until(page, lambda: _markers(page).count() == 2, what="two markers in view")
    assert page.locator("#citymap path.leaflet-interactive, #citymap path").count() >= 1  # outline
    assert axe_violations(page) == []

    page.select_option("#filter-service-code", "STREET_LIGHT")
    page.click("#map-filters button[type=submit]")
    page.wait_for_url(re.compile(r"service_code=STREET_LIGHT"))
    wait_until(page, lambda: _markers(page).count() == 1, what="one marker after the filter")
    assert page.locator(f'[data-report-id="{tree}"]').count() == 1
    assert page.locator(f'[data-report-id="{pothole}"]').count() == 0

    page.click(f'[data-report-id="{tree}"]')
    link = page.locator(".leaflet-popup a.button")
    link.wait_for()
    # Enter on the focused link, as from the keyboard: a pointer click raced Leaflet's auto-pan
    # animation (the card slides into view) and, landing on the map, closed the card instead.
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/reports/{tree}$"))
    assert page.js_errors == []


def test_dense_reports_cluster_at_low_zoom(live_server, map_page):
    page = map_page
    with live_server.app.app_context():
        for i in range(5):
            make_report(lat=CENTRE[0] + i * 0.0003, long=CENTRE[1], commit=False)
        make_report(lat=CENTRE[0] - 0.0003, long=CENTRE[1])
    page.goto(f"{live_server.url}/map")
    cluster = page.locator("#citymap .marker-cluster")
    wait_until(page, lambda: cluster.count() == 1, what="one cluster")
    assert cluster.inner_text().strip() == "6"
    # A bubble says what it is and what it does, not just "6".
    name = page.get_attribute("#citymap", "data-msg-cell").replace("{n}", "6")
    assert page.get_by_role("button", name=name, exact=True).count() == 1
    assert page.js_errors == []


@pytest.mark.parametrize("lang, name", [
    ("pl", "Zgłoszenia w tym miejscu: 2. Przybliż mapę, aby je zobaczyć."),
    ("uk", "Звернення в цьому місці: 2. Збільште карту, щоб їх побачити."),
    ("en", "Reports here: 2. Zoom in to see them."),
])
def test_a_bubble_of_two_reports_reads_right_in_each_language(live_server, map_page, lang, name):
    # The count stands apart from the words: no number agreement to get wrong ("2 zgłoszeń").
    page = map_page
    with live_server.app.app_context():
        make_report(lat=CENTRE[0], long=CENTRE[1], commit=False)
        make_report(lat=CENTRE[0] + 0.0003, long=CENTRE[1])
    page.goto(f"{live_server.url}/map?lang={lang}")
    wait_until(page, lambda: page.locator("#citymap .marker-cluster").count() == 1, what="one bubble")
    assert page.get_by_role("button", name=name, exact=True).count() == 1
    assert page.js_errors == []


def test_a_grid_cell_is_a_named_button_that_enter_zooms_into(live_server, map_page):
    # A box with too many reports comes as counts per grid cell (the server's clustering): here
    # answered by the test, as 500 reports in the test database would be slow to make.
    page = map_page
    cell = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [CENTRE[1], CENTRE[0]]},
            "properties": {"kind": "cluster", "count": 700}}
    page.route("**/reports.geojson?*", lambda route: route.fulfill(
        json={"type": "FeatureCollection", "clustered": True, "count": 700, "features": [cell]}))
    page.goto(f"{live_server.url}/map")
    name = page.get_attribute("#citymap", "data-msg-cell").replace("{n}", "700")
    button = page.get_by_role("button", name=name, exact=True)
    wait_until(page, lambda: button.count() == 1, what="the named cell")
    assert page.locator("#citymap-status").inner_text() == \
        page.get_attribute("#citymap", "data-msg-clustered").replace("{n}", "700")
    button.focus()
    page.keyboard.press("Enter")
    wait_until(page, lambda: page.evaluate("LckzmCityMap.getZoom()") == 15, what="zoom 13 -> 15")
    assert page.js_errors == []


def test_map_is_usable_with_the_keyboard(live_server, map_page):
    page = map_page
    with live_server.app.app_context():
        report = make_report(lat=CENTRE[0], long=CENTRE[1]).id
    page.goto(f"{live_server.url}/map")
    wait_until(page, lambda: _markers(page).count() == 1, what="the marker")
    before = page.evaluate("[LckzmCityMap.getCenter().lat, LckzmCityMap.getCenter().lng]")
    page.focus("#citymap")
    page.keyboard.press("ArrowRight")
    wait_until(page, lambda: page.evaluate("LckzmCityMap.getCenter().lng") > before[1], what="panned east")
    marker = page.locator(f'[data-report-id="{report}"]')
    wait_until(page, lambda: marker.count() == 1, what="the marker after panning")
    marker.focus()
    assert page.evaluate("document.activeElement.dataset.reportId") == str(report)
    page.keyboard.press("Enter")
    page.locator(".leaflet-popup a.button").wait_for()
    # Enter opened the card and took focus into it (its first link: number and category)...
    wait_until(page, lambda: page.evaluate("!!document.activeElement.closest('.leaflet-popup')"),
               what="focus in the card")
    assert page.evaluate("document.activeElement.getAttribute('href')").endswith(f"/reports/{report}")
    # ... Tab goes on to "Open the report", not to another marker ...
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == page.get_attribute("#citymap", "data-msg-open")
    # ... and Escape closes the card, focus back on its marker.
    page.keyboard.press("Escape")
    wait_until(page, lambda: page.locator(".leaflet-popup").count() == 0, what="the card to close")
    assert page.evaluate("document.activeElement.dataset.reportId") == str(report)
    # Escape also closes a card while its marker has focus (Shift+Tab from the card goes back to it).
    page.keyboard.press("Enter")
    wait_until(page, lambda: page.evaluate("!!document.activeElement.closest('.leaflet-popup')"),
               what="focus in the card again")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.dataset.reportId") == str(report)
    page.keyboard.press("Escape")
    wait_until(page, lambda: page.locator(".leaflet-popup").count() == 0, what="the card to close again")
    assert page.evaluate("document.activeElement.dataset.reportId") == str(report)
    assert page.js_errors == []


def _count_message(page):
    """The map's "Reports in view: {n}." filled with the count of its last drawing."""
    return page.get_attribute("#citymap", "data-msg-count").replace("{n}", page.get_attribute("#citymap", "data-count"))


def test_status_ends_in_the_count_after_a_pan_that_keeps_the_same_reports(live_server, map_page):
    # A small pan (here with an arrow key) loads the reports again; the same ones come back.
    page = map_page
    page.goto(f"{live_server.url}/map#map=17/51.70/19.60")
    status = page.locator("#citymap-status")
    wait_until(page, lambda: page.get_attribute("#citymap", "data-count") is not None
               and status.inner_text() == _count_message(page), what="the first count")
    page.focus("#citymap")
    for _ in range(2):
        with page.expect_response(lambda r: "/reports.geojson" in r.url):
            page.keyboard.press("ArrowRight")
        # aria-busy goes back to false once the answer is drawn (or kept)
        wait_until(page, lambda: page.get_attribute("#citymap", "aria-busy") == "false", what="the reload")
        assert status.inner_text() == _count_message(page)
    assert page.js_errors == []


def test_hint_shows_a_report_20_m_away_of_the_same_category_and_me_too_counts_once(live_server, map_page):
    from webapp.citymap.models import Support
    from webapp.extensions import db
    page = map_page
    with live_server.app.app_context():
        near = make_report(lat=CENTRE[0] + NEAR, long=CENTRE[1]).id
        far = make_report(lat=CENTRE[0] + FAR, long=CENTRE[1]).id
        other = make_report(service_code="STREET_LIGHT", lat=CENTRE[0] + NEAR, long=CENTRE[1]).id
    _form_at_centre(page, live_server.url)
    item = page.locator(f"#nearby-{near}")
    item.wait_for()
    assert page.locator(f"#nearby-{far}").count() == 0
    assert page.locator(f"#nearby-{other}").count() == 0
    assert axe_violations(page) == []

    item.locator("button").click()
    page.locator(f"#nearby-{near}.supported").wait_for()
    # The hint again (the category chosen anew), "me too" again: the same phone counts once.
    page.select_option("#service_code", "STREET_LIGHT")
    page.locator(f"#nearby-{other}").wait_for()
    page.select_option("#service_code", "ROAD_POTHOLE")
    page.locator(f"#nearby-{near} button").click()
    page.locator(f"#nearby-{near}.supported").wait_for()
    assert "1" in page.locator(f"#nearby-{near}").inner_text()
    with live_server.app.app_context():
        assert db.session.query(Support).filter_by(report_id=near).count() == 1
    assert page.js_errors == []


def test_me_too_with_the_keyboard_moves_focus_to_the_thank_you_and_is_announced(live_server, map_page):
    page = map_page
    with live_server.app.app_context():
        first = make_report(lat=CENTRE[0] + NEAR, long=CENTRE[1], commit=False)
        second = make_report(lat=CENTRE[0] - NEAR, long=CENTRE[1])
        reports = {first.id: first.number, second.id: second.number}
    _form_at_centre(page, live_server.url)
    for report_id in reports:
        page.locator(f"#nearby-{report_id} button").wait_for()
    # Each "me too" button says which report it is for (the same words are seen, the number heard).
    for report_id, number in reports.items():
        button = page.get_by_role("button", name=f"Me too: I have this problem as well – report {number}", exact=True)
        assert button.count() == 1
        assert button.evaluate("(b, id) => b.closest('li').id === 'nearby-' + id", report_id)
    # The live region the answer is announced through was there before the answer came.
    page.evaluate("document.getElementById('nearby').dataset.before = 'yes'")
    before = page.locator("#nearby").inner_text()
    page.locator(f"#nearby-{first.id} button").focus()
    page.keyboard.press("Enter")
    wait_until(page, lambda: page.evaluate("!!document.activeElement.closest('#nearby-%d.supported')" % first.id),
               what="focus on the thank-you note")
    note = page.evaluate("""() => { const a = document.activeElement;
        return {text: a.textContent, tabindex: a.getAttribute('tabindex'),
                region: a.closest('[aria-live]') && a.closest('[aria-live]').dataset.before}; }""")
    assert "Thank you" in note["text"] and note["tabindex"] == "-1"
    assert note["region"] == "yes"
    after = page.locator("#nearby").inner_text()
    assert after != before and "Thank you" in after
    assert page.js_errors == []


def test_me_too_refused_in_the_hint_says_why_there_and_the_button_tries_again(live_server, map_page):
    page = map_page
    with live_server.app.app_context():
        near = make_report(lat=CENTRE[0] + NEAR, long=CENTRE[1]).id
    _form_at_centre(page, live_server.url)
    button = page.locator(f"#nearby-{near} button")
    button.wait_for()
    page.fill("#email", "sasiad@example.org")  # an address for updates, the consent not ticked
    button.focus()
    page.keyboard.press("Enter")
    wait_until(page, lambda: page.evaluate("document.activeElement.id") == f"nearby-{near}-err",
               what="focus on the reason")
    assert "tick the consent box" in page.inner_text(f"#nearby-{near}-err")
    assert page.locator(f"#nearby-{near}-err").evaluate("e => !!e.closest('[aria-live]')")
    assert button.count() == 1 and page.input_value("#email") == "sasiad@example.org"
    page.check("#consent")
    button.focus()
    page.keyboard.press("Enter")
    page.locator(f"#nearby-{near}.supported").wait_for()
    assert page.js_errors == []


def test_report_page_shows_its_small_map_and_the_count(live_server, map_page):
    page = map_page
    _report_page(page, live_server)
    page.click("section.support button[type=submit]")
    page.locator("#support-done").wait_for()            # thanked in place (htmx), no new page
    assert "1 " in page.locator(".support-count").inner_text()
    assert page.js_errors == []


def test_me_too_without_consent_says_so_at_the_box_keeping_the_email(live_server, map_page):
    page = map_page
    _report_page(page, live_server)
    page.fill("#support-email", "sasiad@example.org")
    page.click("section.support button[type=submit]")
    wait_until(page, lambda: page.evaluate("document.activeElement.id") == "support-consent-err",
               what="focus on the consent error")
    assert "tick the consent box" in page.inner_text("#support-consent-err")
    assert page.input_value("#support-email") == "sasiad@example.org"
    assert page.get_attribute("#support-consent", "aria-invalid") == "true"
    page.check("#support-consent")
    page.click("section.support button[type=submit]")
    page.locator("#support-done").wait_for()
    assert "1 " in page.locator(".support-count").inner_text()
    assert page.js_errors == []


def test_blank_form_shows_no_empty_already_reported_box_until_something_is_found(live_server, map_page):
    from tests.conftest import ROOT
    page = map_page
    page.set_viewport_size({"width": 390, "height": 844})
    with live_server.app.app_context():
        near = make_report(lat=CENTRE[0] + NEAR, long=CENTRE[1]).id
    page.goto(f"{live_server.url}/report")
    nearby = page.locator("#nearby")
    nearby.wait_for(state="attached")
    assert nearby.bounding_box() is None or nearby.bounding_box()["height"] == 0
    assert page.locator(".nearby-box").count() == 0
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    page.screenshot(path=str(ROOT / "test-artifacts" / "report-form-blank-nearby-390x844.png"), full_page=True)
    page.select_option("#service_code", "ROAD_POTHOLE")
    page.fill("#lat", str(CENTRE[0] + FAR))  # nothing within reach: still no box
    with page.expect_response(lambda r: "/report/nearby" in r.url and "long=19" in r.url):
        page.fill("#long", str(CENTRE[1]))
        page.locator("#long").blur()
    page.wait_for_function("!document.querySelector('#nearby').classList.contains('htmx-request')")
    assert page.locator(".nearby-box").count() == 0
    page.fill("#lat", str(CENTRE[0]))
    page.locator("#lat").blur()
    page.locator(f"#nearby-{near}").wait_for()
    box = page.locator(".nearby-box").bounding_box()
    assert box and box["height"] > 40
    assert page.js_errors == []
