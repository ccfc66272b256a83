"""The public list and report page in real Chromium: the htmx filter swap keeps the URL in sync,
Back restores the list, and both pages pass axe-core with the strict CSP on."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from tests.browser.axe import axe_violations
from tests.factories import make_report

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc)

pytestmark = pytest.mark.browser


def test_in_browser_filter_swaps_the_list_keeps_the_url_and_passes_axe(live_server, page):
    app, live_url = live_server.app, live_server.url
    from playwright.sync_api import expect
    with app.app_context():
        pothole = make_report(requested_at=T0,
                              history=[("dispatched", "", "system", None, "zdit", 0)]).id
        light = make_report(service_code="STREET_LIGHT", requested_at=T0 + timedelta(hours=1)).id
    page.set_viewport_size({"width": 390, "height": 844})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_url}/reports?lang=pl")
    assert axe_violations(page) == []
    page.evaluate("document.body.dataset.marker = 'same-page'")  # survives only an htmx swap

    # (expect() polls without eval, which the page's CSP forbids to wait_for_function.)
    page.select_option("#filter-service-code", "STREET_LIGHT")
    expect(page).to_have_url(re.compile(r"[?&]service_code=STREET_LIGHT"))
    expect(page.locator(f"#report-{pothole}-title")).to_have_count(0)
    expect(page.locator(f"#report-{light}-title")).to_have_count(1)
    assert page.evaluate("document.body.dataset.marker") == "same-page"
    assert page.locator("#report-list").count() == 1  # swapped, not nested

    page.go_back()
    expect(page.locator(f"#report-{pothole}-title")).to_have_count(1)

    page.goto(f"{live_url}/reports/{pothole}?lang=pl")
    assert page.locator("h1").count() == 1
    assert axe_violations(page) == []
    assert [e for e in errors if "Content Security Policy" in e] == []
