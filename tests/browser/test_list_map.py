"""The map above the list on /reports (issue 10) in real headless Chromium with the strict CSP:
loaded only when the resident asks, showing the reports matching the list's filters and
following them when the htmx filter form changes the list. Tile requests are refused (no
internet here), so the map draws on its plain background."""
from __future__ import annotations

import re

import pytest

from tests.browser.axe import axe_violations
from tests.browser.waiting import wait_until
from tests.conftest import ROOT
from tests.factories import make_report

pytestmark = pytest.mark.browser

CENTRE = (51.7592, 19.4560)  # ul. Piotrkowska: the list map's start (zoom 13, as /map)


def _marker_ids(page) -> set[str]:
    return set(page.locator("#list-citymap .citymap-marker").evaluate_all(
        "nodes => nodes.map(n => n.dataset.reportId)"))


def test_list_map_shows_the_filtered_reports_on_request_and_follows_the_filters(live_server, map_page):
    page = map_page
    with live_server.app.app_context():
        pothole = make_report(lat=CENTRE[0], long=CENTRE[1]).id
        light = make_report(service_code="STREET_LIGHT", lat=CENTRE[0] + 0.004, long=CENTRE[1]).id
        make_report(lat=CENTRE[0] - 0.004, long=CENTRE[1], status="resolved")  # not open
    page.goto(f"{live_server.url}/reports?service_code=ROAD_POTHOLE&status=open")
    toggle = page.get_by_role("button", name="Show on the map")
    toggle.wait_for()
    # Nothing of the map is loaded before the resident asks for it.
    assert page.locator("#list-map-panel").is_hidden()
    assert page.evaluate("typeof window.L") == "undefined"

    # Keyboard: from the filter form's button, Tab reaches the map's button; Enter opens it and
    # focus stays on the button (a disclosure), now saying it hides the map.
    page.focus(".filters button[type=submit]")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.hasAttribute('data-map-toggle')")
    page.keyboard.press("Enter")
    wait_until(page, lambda: _marker_ids(page) == {str(pothole)}, what="the one open pothole on the map")
    hide = page.get_by_role("button", name="Hide the map")
    assert hide.get_attribute("aria-expanded") == "true"
    assert page.evaluate("document.activeElement.hasAttribute('data-map-toggle')")
    assert re.search(r"1", page.locator("#list-map-status").inner_text())
    assert page.locator("#list-citymap path").count() >= 1  # the city outline
    assert axe_violations(page) == []
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    page.screenshot(path=str(ROOT / "test-artifacts" / "reports-list-map-1024x900.png"), full_page=True)

    # Then the map, then its marker, whose card opens with Enter.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "list-citymap"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.reportId") == str(pothole)
    page.keyboard.press("Enter")
    page.locator(".leaflet-popup a.button").wait_for()

    # Another category through the htmx filter form: the list and the map follow it.
    page.select_option("#filter-service-code", "STREET_LIGHT")
    page.wait_for_url(re.compile(r"service_code=STREET_LIGHT"))
    page.locator(f"#report-{light}-title").wait_for()
    wait_until(page, lambda: _marker_ids(page) == {str(light)}, what="the street light only")
    assert page.locator("#report-list").get_attribute("data-filter-query") == "service_code=STREET_LIGHT&status=open"

    # Hiding it keeps focus on the button; the list is untouched.
    hide.focus()
    page.keyboard.press("Enter")
    assert page.locator("#list-map-panel").is_hidden()
    assert page.get_by_role("button", name="Show on the map").get_attribute("aria-expanded") == "false"
    assert page.evaluate("document.activeElement.hasAttribute('data-map-toggle')")
    assert page.locator(f"#report-{light}-title").is_visible()

    # Back to the first filters (htmx puts the whole page in again): its map works as before.
    page.go_back()
    page.wait_for_url(re.compile(r"service_code=ROAD_POTHOLE"))
    page.locator(f"#report-{pothole}-title").wait_for()
    page.get_by_role("button", name="Show on the map").click()
    wait_until(page, lambda: _marker_ids(page) == {str(pothole)}, what="the pothole again after going back")
    assert page.js_errors == []
