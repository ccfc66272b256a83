"""The plain forms of the private pages (the URL holds a token) submitted by a real Chromium: the
e-mail opt-out and opt-in on the tracking page, the unsubscribe pages linked from every e-mail,
the push "stop" page and a unit's signed link without JavaScript. These pages keep the token out
of Referer sent to other sites; the forms must still be accepted as our own (no 403)."""
from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

REFUSED = "another website"   # the 403 page: "This request came from another website…"
STOPPED = "You will get no more e-mails about this report"


def _tracked(app, **fields) -> tuple[str, int]:
    from tests.factories import make_report
    from webapp.extensions import db
    from webapp.reports.services import token_hash, tracking_token
    with app.app_context():
        client_id = str(uuid.uuid4())
        token = tracking_token(client_id)
        report = make_report(client_id=client_id, tracking_token_hash=token_hash(token), **fields)
        report_id = report.id
        db.session.remove()
    return token, report_id


def _email_of(app, report_id: int):
    from webapp.extensions import db
    from webapp.reports.models import Report
    with app.app_context():
        email = db.session.get(Report, report_id).email
        db.session.remove()
    return email


def test_tracking_page_stops_email_updates(page, live_server):
    token, report_id = _tracked(live_server.app, email="mieszkanka@example.org")
    page.goto(f"/t/{token}")
    page.get_by_role("button", name="Stop e-mail updates").click()
    expect(page.locator(".notice-success")).to_contain_text(STOPPED)
    assert REFUSED not in page.content()
    assert _email_of(live_server.app, report_id) is None


def test_tracking_page_turns_email_updates_on(page, live_server):
    token, report_id = _tracked(live_server.app)
    page.goto(f"/t/{token}")
    page.fill("#notify-email", "mieszkanka@example.org")
    page.check("#notify-consent")
    page.get_by_role("button", name="Send me updates by e-mail").press("Enter")
    expect(page.get_by_role("button", name="Stop e-mail updates")).to_be_visible()
    assert _email_of(live_server.app, report_id) == "mieszkanka@example.org"


def test_unsubscribe_page_from_an_email_works(page, live_server):
    token, report_id = _tracked(live_server.app, email="mieszkanka@example.org")
    page.goto(f"/t/{token}/email/unsubscribe")
    page.get_by_role("button", name="Stop notifications").click()
    expect(page.locator(".notice-success")).to_contain_text(STOPPED)
    assert _email_of(live_server.app, report_id) is None


def test_supporters_unsubscribe_page_from_an_email_works(page, live_server):
    from webapp.citymap.models import Support
    from webapp.citymap.services import support_token
    from webapp.extensions import db
    _, report_id = _tracked(live_server.app)
    with live_server.app.app_context():
        support = Support(report_id=report_id, client_id=str(uuid.uuid4()), email="sasiad@example.org",
                          consent_version="2024-04-16", consent_text="Zgoda")
        db.session.add(support)
        db.session.commit()
        token, support_id = support_token(support), support.id
        db.session.remove()
    page.goto(f"/supports/{token}/email/unsubscribe")
    page.get_by_role("button", name="Stop notifications").click()
    expect(page.locator(".notice-success")).to_contain_text(STOPPED)
    with live_server.app.app_context():
        assert db.session.get(Support, support_id).email is None
        db.session.remove()


def test_push_stop_page_works(page, live_server):
    from webapp.extensions import db
    from webapp.push.services import subscribe, unsubscribe_token
    from webapp.reports.models import Report
    _, report_id = _tracked(live_server.app)
    with live_server.app.app_context():
        subscription = subscribe(db.session.get(Report, report_id), {
            "endpoint": "https://fcm.googleapis.com/fcm/send/abc",
            "keys": {"p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
                     "auth": "tBHItJI5svbpez7KI4CCXg"}}, lang="en")
        token = unsubscribe_token(subscription)
        db.session.remove()
    page.goto(f"/push/stop/{token}")
    page.get_by_role("button", name="Stop notifications").click()
    expect(page.locator(".notice-success")).to_contain_text("no more notifications")


def test_units_signed_link_without_javascript_sets_the_status(browser, live_server):
    from tests.factories import dispatched
    from webapp.departments.services import link_token
    from webapp.extensions import db
    with live_server.app.app_context():
        report, link = dispatched()
        token, report_id = link_token(link), report.id
        db.session.remove()
    context = browser.new_context(base_url=live_server.url, locale="en-GB", java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"/departments/links/{token}")
        page.get_by_label("Accepted").check()
        page.get_by_role("button", name="Save the status").click()
        assert REFUSED not in page.content()
        expect(page.locator("main")).to_contain_text("Accepted")
    finally:
        context.close()
    assert _status_of(live_server.app, report_id) == "accepted"


def _status_of(app, report_id: int) -> str:
    from webapp.extensions import db
    from webapp.reports.models import Report
    with app.app_context():
        status = db.session.get(Report, report_id).status
        db.session.remove()
    return status
