"""The report form on a phone-sized screen (390x844) in real Chromium: usable, accessible, and
the htmx paths (inline errors, success) behave as a resident expects."""
from __future__ import annotations


import pytest
from sqlalchemy import func, select

from tests.browser.axe import axe_violations as _axe
from tests.conftest import ROOT, fixture_photo

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "test-artifacts"
PHONE = {"viewport": {"width": 390, "height": 844}, "locale": "pl-PL", "has_touch": True,
         "is_mobile": True, "device_scale_factor": 2}


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(base_url=live_server.url, **PHONE)
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.console_errors = errors
    yield page
    context.close()


def _report_count(app):
    from webapp.extensions import db
    from webapp.reports.models import Report
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Report))


def test_form_fits_a_phone_and_passes_axe(phone):
    phone.goto("/report")
    assert phone.locator("html").get_attribute("lang") == "pl"
    ARTIFACTS.mkdir(exist_ok=True)
    phone.screenshot(path=str(ARTIFACTS / "report-form-390x844.png"), full_page=True)
    # nothing wider than the screen: no sideways scrolling on a phone
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    # every control has a visible label a resident can tap
    for field in ("service_code", "description", "lat", "long", "address_string", "media", "email", "consent"):
        assert phone.locator(f"label[for={field}]").is_visible(), field
    send = phone.get_by_role("button", name="Wyślij zgłoszenie")
    box = send.bounding_box()
    assert box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert phone.get_by_text("112").first.is_visible()
    assert _axe(phone) == []
    assert phone.console_errors == []


def test_inline_error_keeps_text_and_photo_then_sends(phone, live_server):
    phone.goto("/report")
    phone.select_option("#service_code", "ROAD_POTHOLE")
    phone.fill("#description", "Dziura na przejściu dla pieszych, głęboka na 10 cm.")
    phone.fill("#lat", "52.2297")   # Warsaw
    phone.fill("#long", "21.0122")
    phone.set_input_files("#media", str(fixture_photo("derived_lodz_gps_DSCN0025.jpg")))
    phone.get_by_role("button", name="Wyślij zgłoszenie").click()
    error = phone.locator("#err-lat")
    error.wait_for(state="visible")
    assert "poza Łodzią" in error.inner_text()
    # what was typed and attached is still there
    assert phone.input_value("#description").startswith("Dziura na przejściu")
    assert phone.evaluate("document.querySelector('#media').files.length") == 1
    assert _report_count(live_server.app) == 0
    assert _axe(phone) == []

    # clear the coordinates: the photo's GPS (ul. Piotrkowska) is used
    phone.fill("#lat", "")
    phone.fill("#long", "")
    phone.get_by_role("button", name="Wyślij zgłoszenie").click()
    sent = phone.locator("#report-sent")
    sent.wait_for(state="visible")
    assert "Numer zgłoszenia" in sent.inner_text()
    assert sent.get_by_role("link", name="Publiczna strona zgłoszenia").count() == 1
    assert _report_count(live_server.app) == 1
    ARTIFACTS.mkdir(exist_ok=True)
    phone.screenshot(path=str(ARTIFACTS / "report-sent-390x844.png"), full_page=True)


def test_too_many_reports_is_said_next_to_the_form_which_is_kept(browser, make_app):
    import threading
    from werkzeug.serving import make_server
    app = make_app(RATELIMIT_ENABLED=True, REPORT_ATTEMPT_RATE_LIMIT="1 per minute")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    context = browser.new_context(base_url=f"http://127.0.0.1:{server.server_port}", **PHONE)
    try:
        page = context.new_page()
        page.goto("/report")
        page.fill("#description", "Przewrócony kosz na przystanku Piotrkowska Centrum.")
        send = page.get_by_role("button", name="Wyślij zgłoszenie")
        send.click()                                   # 422: no category, no location
        page.locator("#err-service_code p").wait_for()
        send.click()                                   # 429: over the limit
        from playwright.sync_api import expect
        expect(page.locator("#form-summary [role=alert]")).to_contain_text("Zbyt wiele")
        assert page.input_value("#description").startswith("Przewrócony kosz")
        queued = page.evaluate("LckzmOutbox.listDrafts().then(d => d.filter(x => x.state === 'queued').length)")
        assert queued == 0  # not mistaken for a connection problem
    finally:
        context.close()
        server.shutdown()


def test_a_photo_taken_abroad_does_not_become_the_location(phone):
    phone.goto("/report")
    phone.set_input_files("#media", str(fixture_photo("gps_DSCN0010.jpg")))   # Arezzo, Italy
    status = phone.locator("#photo-status")
    from playwright.sync_api import expect
    expect(status).to_contain_text("poza Łodzią")
    assert phone.input_value("#lat") == "" and phone.input_value("#long") == ""
    # a photo from Łódź still fills the fields
    phone.set_input_files("#media", str(fixture_photo("derived_lodz_gps_DSCN0025.jpg")))
    expect(phone.locator("#lat")).to_have_value("51.759200")


@pytest.mark.parametrize("path", ["/", "/about", "/rules", "/privacy", "/install", "/offline",
                                  "/reports", "/no-such-page", "/?lang=uk", "/report?lang=en"])
def test_every_page_passes_axe_on_a_phone(phone, path):
    phone.goto(path)
    assert _axe(phone) == []
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    if path != "/no-such-page":  # the 404 answer itself is logged by the browser
        assert phone.console_errors == []
