"""What a first-time resident met on a phone (390x844, Polish): a feature an admin switched off
is said as such (not as a lost connection), a quick "me too" tap is not lost, and a form emptied
after queueing keeps nothing of the previous category."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from tests.conftest import fixture_photo
from tests.factories import make_report

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "locale": "pl-PL", "has_touch": True,
         "is_mobile": True, "device_scale_factor": 2}
OFFLINE_WORDS = "połącz"  # "Czeka na połączenie", "gdy będzie połączenie"


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(base_url=live_server.url, **PHONE)
    page = context.new_page()
    yield page
    context.close()


def _switch(app, name: str, enabled: bool) -> None:
    """An admin flips a switch while the resident's form is already open."""
    from webapp.extensions import db
    from webapp.moderation.models import Switch
    with app.app_context():
        db.session.merge(Switch(name=name, enabled=enabled))
        db.session.commit()


def _count(app, model) -> int:
    from webapp.extensions import db
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _fill(page, description="Przewrócony znak drogowy przy przejściu na Piotrkowskiej."):
    expect(page.locator("input[name=client_id]")).not_to_have_value("")
    page.select_option("#service_code", "ROAD_POTHOLE")
    page.fill("#description", description)
    page.fill("#lat", "51.7592")
    page.fill("#long", "19.4560")


def _drafts(page, state):
    return page.evaluate(f"LckzmOutbox.listDrafts().then(d => d.filter(x => x.state === '{state}').length)")


def test_photos_switched_off_keeps_the_form_and_says_remove_the_photos(phone, live_server):
    from webapp.reports.models import Report
    phone.goto("/report")
    _fill(phone)
    phone.set_input_files("#media", str(fixture_photo("gps_DSCN0010.jpg")))
    expect(phone.locator("#photo-previews li")).to_have_count(1)
    _switch(live_server.app, "photos", False)
    phone.get_by_role("button", name="Wyślij zgłoszenie").click()
    expect(phone.locator("#form-summary")).to_contain_text("usuń zdjęcia")
    expect(phone.locator("#err-media")).to_contain_text("usuń zdjęcia")
    assert OFFLINE_WORDS not in phone.locator("#form-summary").inner_text()
    assert phone.input_value("#description").startswith("Przewrócony znak")
    assert _drafts(phone, "queued") == 0 and _count(live_server.app, Report) == 0
    # Photo removed: sent at once, without it.
    phone.locator(".photo-remove").click()
    phone.get_by_role("button", name="Wyślij zgłoszenie").click()
    expect(phone.locator("#report-sent")).to_be_visible()
    assert _count(live_server.app, Report) == 1


def test_a_restored_draft_with_photos_is_not_sent_without_them_unsaid(phone, live_server):
    from webapp.reports.models import Report
    errors = []
    phone.on("pageerror", lambda e: errors.append(str(e)))
    phone.goto("/report")
    _fill(phone)
    phone.set_input_files("#media", str(fixture_photo("gps_DSCN0010.jpg")))
    expect(phone.locator("#photo-previews li")).to_have_count(1)
    phone.wait_for_function("LckzmOutbox.listDrafts().then(d => d.length === 1 && d[0].photos.length === 1)")
    _switch(live_server.app, "photos", False)
    phone.reload()  # the form now comes without pickers; the draft (with its photo) is restored
    expect(phone.locator("#photos-off")).to_be_visible()
    expect(phone.locator("#photo-previews li")).to_have_count(1)
    phone.get_by_role("button", name="Wyślij zgłoszenie").click()
    expect(phone.locator("#err-media")).to_contain_text("bez zdjęć")
    assert _count(live_server.app, Report) == 0
    phone.locator(".photo-remove").click()
    expect(phone.locator("#photos-off")).to_be_focused()  # focus not lost with the button
    phone.get_by_role("button", name="Wyślij zgłoszenie").click()
    expect(phone.locator("#report-sent")).to_be_visible()
    assert _count(live_server.app, Report) == 1
    assert errors == []


def test_reports_switched_off_the_draft_waits_labelled_with_the_reason(phone, live_server):
    from webapp.reports.models import Report
    phone.goto("/report")
    _fill(phone)
    _switch(live_server.app, "reports", False)
    phone.get_by_role("button", name="Wyślij zgłoszenie").click()
    expect(phone.locator("#form-summary")).to_contain_text("nie są chwilowo przyjmowane")
    item = phone.locator("#outbox-list li")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("nie są chwilowo przyjmowane")
    assert OFFLINE_WORDS not in item.inner_text()
    assert OFFLINE_WORDS not in phone.locator("#form-summary").inner_text()
    # Back on: "send now" sends it.
    _switch(live_server.app, "reports", True)
    phone.locator("#outbox-send").click()
    expect(phone.locator("#outbox-list li")).to_have_count(0)
    assert _count(live_server.app, Report) == 1


def test_queued_with_a_photo_then_photos_off_the_draft_is_refused_with_the_reason(phone, live_server):
    phone.goto("/report")
    _fill(phone)
    phone.set_input_files("#media", str(fixture_photo("gps_DSCN0010.jpg")))
    expect(phone.locator("#photo-previews li")).to_have_count(1)
    phone.context.set_offline(True)
    phone.get_by_role("button", name="Wyślij zgłoszenie").click()
    expect(phone.locator("#outbox-list li")).to_have_count(1)
    _switch(live_server.app, "photos", False)
    phone.context.set_offline(False)  # the outbox sends it: refused, never retried
    item = phone.locator("#outbox-list li.outbox-rejected")
    expect(item).to_have_count(1)
    item.locator(".outbox-edit").click()
    expect(phone.locator("#err-media")).to_contain_text("usuń zdjęcia")
    assert _drafts(phone, "queued") == 0


def test_me_too_tapped_right_after_typing_a_longitude_is_sent(phone, live_server):
    from webapp.citymap.models import Support
    with live_server.app.app_context():
        near = make_report(lat=51.7594, long=19.4560).id
    phone.goto("/report")
    phone.select_option("#service_code", "ROAD_POTHOLE")
    phone.fill("#lat", "51.7592")
    phone.fill("#long", "19.4561")
    phone.locator("#long").blur()
    button = phone.locator(f"#nearby-{near} button")
    expect(button).to_be_visible()
    # Corrected longitude, then at once "me too": leaving the field must not eat the tap.
    phone.locator("#long").click()
    phone.fill("#long", "19.4560")
    button.click()
    expect(phone.locator(f"#nearby-{near}.supported")).to_be_visible()
    assert _count(live_server.app, Support) == 1


def test_queued_offline_the_emptied_form_has_no_hint_of_the_previous_category(phone):
    phone.goto("/report")
    expect(phone.locator("input[name=client_id]")).not_to_have_value("")
    phone.select_option("#service_code", "STREET_LIGHT")
    expect(phone.locator("#category-help")).to_contain_text("Zanim wyślesz")
    phone.context.set_offline(True)
    phone.fill("#description", "Nie świeci latarnia przy przystanku na Piotrkowskiej.")
    phone.fill("#lat", "51.7592")
    phone.fill("#long", "19.4560")
    phone.get_by_role("button", name="Wyślij zgłoszenie").click()
    expect(phone.locator("#outbox-list li")).to_have_count(1)
    expect(phone.locator("#service_code")).to_have_value("")
    expect(phone.locator("#category-help")).to_have_text("")
    expect(phone.locator("#nearby-results")).to_have_text("")
    phone.context.set_offline(False)


def test_blank_form_shows_no_empty_already_reported_strip(phone):
    phone.goto("/report")
    expect(phone.locator("input[name=client_id]")).not_to_have_value("")
    assert phone.locator("#nearby .nearby-box").count() == 0
    assert phone.locator("#nearby").evaluate("e => e.getBoundingClientRect().height") < 2
