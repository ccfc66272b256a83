"""The API keys page in real Chromium (issue 13): an admin makes a key (focus lands on the token,
shown once), an app files a report with it over real HTTP, the admin revokes it after the
confirmation page and the app gets 403. The token page comes after a redirect (a reload makes no
second key) and its copy button fills the clipboard and says so in a live region. Every state of the pages passes axe-core."""
from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.axe import axe_violations
from tests.factories import create_staff
from tests.helpers import enrol_in_browser

pytestmark = pytest.mark.browser


def _post_report(url, token, description):
    return requests.post(f"{url}/open311/v2/requests.json", timeout=10, data={
        "api_key": token, "service_code": "ROAD_POTHOLE", "description": description,
        "lat": "51.7593", "long": "19.4573"})


def test_admin_makes_and_revokes_a_key_that_an_app_uses(live_server, page):
    app, url = live_server.app, live_server.url
    create_staff(app, "admin@lodz.example", "admin")
    enrol_in_browser(page, url, "admin@lodz.example")

    page.goto(f"{url}/admin/apikeys/?lang=pl")
    assert axe_violations(page) == []
    # A limit that cannot be parsed: the field says so, the typed values stay.
    page.fill("#name", "Łódź Fixer")
    page.fill("#contact", "dev@example.org")
    page.fill("#rate_limit", "dużo")
    page.click("form[action$='/admin/apikeys/'] button[type=submit]")
    expect(page.locator("#rate_limit")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#name")).to_have_value("Łódź Fixer")
    assert axe_violations(page) == []

    page.fill("#rate_limit", "")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    page.click("form[action$='/admin/apikeys/'] button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/apikeys/$"))  # Post/Redirect/Get
    token_field = page.locator("#new-token")
    expect(token_field).to_be_focused()  # read first: the note says it is shown only now
    token = token_field.input_value()
    assert len(token) >= 40
    assert axe_violations(page) == []

    # The copy button puts the token on the clipboard and the live region says so.
    copy, status = page.locator("#new-token-copy"), page.locator("#new-token-status")
    expect(copy).to_be_visible()
    expect(status).to_have_attribute("role", "status")
    copy.click()
    expect(status).to_have_text(copy.get_attribute("data-copied"))
    assert page.evaluate("navigator.clipboard.readText()") == token
    assert axe_violations(page) == []
    # Without the clipboard API the token is selected for Ctrl+C, and the region says which.
    page.evaluate("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    page.evaluate("window.getSelection().removeAllRanges()")
    copy.click()
    expect(status).to_have_text(re.compile("|".join(
        re.escape(copy.get_attribute(name)) for name in ("data-copied", "data-selected"))))
    expect(token_field).to_be_focused()
    assert page.evaluate("[document.activeElement.selectionStart, "
                         "document.activeElement.selectionEnd]") == [0, len(token)]

    # A reload shows the token no more and makes no second key.
    page.reload()
    expect(page.locator("#new-token")).to_have_count(0)
    expect(page.locator("tbody tr[id^=apikey-]")).to_have_count(1)

    filed = _post_report(url, token, "Dziura w jezdni przy przejściu")
    assert filed.status_code == 200, filed.text

    page.goto(f"{url}/admin/apikeys/?lang=pl")
    expect(page.locator("#new-token")).to_have_count(0)  # not shown again
    page.click("#apikey-1 a")
    page.wait_for_url(re.compile(r"/admin/apikeys/1/revoke"))
    assert axe_violations(page) == []
    page.click("form[action$='/revoke'] button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/apikeys/$"))
    expect(page.locator("#apikeys-saved")).to_contain_text("Łódź Fixer")
    expect(page.locator("#apikeys-saved")).to_be_focused()
    assert axe_violations(page) == []

    refused = _post_report(url, token, "Inna dziura w jezdni obok")
    assert refused.status_code == 403
