"""The moderation panel in real Chromium: an operator logs in with TOTP, works through the
queue with the keyboard alone (j/k, a, r, Tab, Enter), and every panel page passes axe-core."""
from __future__ import annotations

import re

import pytest

from tests.browser.axe import axe_violations
from tests.factories import create_staff, make_report
from tests.helpers import PASSWORD, enrol_in_browser, next_code

pytestmark = pytest.mark.browser


def _waiting(app, **fields):
    with app.app_context():
        return make_report(service_code="TRAFFIC_LIGHT", status="awaiting_moderation",
                           history=[("awaiting_moderation", "", "system", None, "zdit", 0)],
                           **fields).id


def _status(app, report_id):
    from webapp.extensions import db
    from webapp.reports.models import Report
    with app.app_context():
        return db.session.get(Report, report_id).status


def _label(app, status):
    """The Polish label of ``status``, as the page shows it."""
    from flask_babel import force_locale
    from webapp.reports.models import Status
    with app.test_request_context("/"), force_locale("pl"):
        return Status(status).label


def _no_axe_violations(page):
    assert axe_violations(page) == []


def _log_in_and_enrol(page, url, email):
    return enrol_in_browser(page, url, email, check=_no_axe_violations)


def test_operator_works_through_the_queue_with_the_keyboard(live_server, page):
    from playwright.sync_api import expect
    app, url = live_server.app, live_server.url
    create_staff(app)
    first = _waiting(app, description="Sygnalizator nie działa", public_description="Sygnalizator nie działa")
    second = _waiting(app, description="Znak leży na jezdni", public_description="Znak leży na jezdni")
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    _log_in_and_enrol(page, url, "operator@lodz.example")
    page.goto(f"{url}/admin/queue?lang=pl")
    assert axe_violations(page) == []

    page.keyboard.press("j")
    expect(page.locator(f"#report-{first}")).to_be_focused()
    page.keyboard.press("a")  # approve and send
    expect(page.locator(f"#report-{first} .report-status")).to_have_text(_label(app, "dispatched"))
    expect(page.locator(f"#report-{first}")).to_be_focused()  # the operator keeps their place
    assert _status(app, first) == "dispatched"

    page.keyboard.press("j")
    expect(page.locator(f"#report-{second}")).to_be_focused()
    page.keyboard.press("r")  # opens the reasons with the list focused
    expect(page.locator(f"#reason-{second}")).to_be_focused()
    page.keyboard.press("Tab")  # duplicate-of field
    page.keyboard.press("Tab")  # reason in own words
    page.keyboard.type("Znak został już podniesiony.")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator(f"#report-{second} .report-status")).to_have_text(_label(app, "rejected"))
    expect(page.locator(f"#report-{second}")).to_be_focused()
    assert _status(app, second) == "rejected"
    assert axe_violations(page) == []
    assert [e for e in errors if "Content Security Policy" in e] == []


def test_a_refused_written_rejection_keeps_the_form_open_at_the_text(live_server, page):
    from playwright.sync_api import expect
    app, url = live_server.app, live_server.url
    create_staff(app)
    rid = _waiting(app, description="Kosz się przepełnia", public_description="Kosz się przepełnia")
    _log_in_and_enrol(page, url, "operator@lodz.example")
    page.goto(f"{url}/admin/queue?lang=pl")
    page.keyboard.press("j")
    page.keyboard.press("r")
    expect(page.locator(f"#reason-{rid}")).to_be_focused()  # "Wpisany poniżej" is chosen
    page.locator(f"#report-{rid} details[data-panel=reject] button[type=submit]").click()
    text = page.locator(f"#rtext-{rid}")
    expect(page.locator(f"#rtext-{rid}-error")).to_be_visible()
    expect(page.locator(f"#report-{rid} details[data-panel=reject]")).to_have_attribute("open", "")
    expect(text).to_be_focused()
    expect(text).to_have_attribute("aria-invalid", "true")
    assert _status(app, rid) == "awaiting_moderation"
    assert axe_violations(page) == []
    page.keyboard.type("Kosz opróżniono przed weryfikacją.")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator(f"#report-{rid} .report-status")).to_have_text(_label(app, "rejected"))
    assert _status(app, rid) == "rejected"


def test_every_panel_page_passes_axe(live_server, page):
    app, url = live_server.app, live_server.url
    create_staff(app, "admin@lodz.example", "admin")
    rid = _waiting(app, description="Dzwońcie 600 100 200", public_description="Dzwońcie 600 100 200")
    with app.app_context():
        from webapp.extensions import db
        from webapp.moderation.models import ContentHold
        db.session.add(ContentHold(report_id=rid, reasons=[{"rule": "phone", "match": "600 100 200"}]))
        db.session.commit()
    secret = _log_in_and_enrol(page, url, "admin@lodz.example")
    for path in ("/admin/queue", f"/admin/reports/{rid}", "/admin/outbox", "/admin/account",
                 "/admin/users", "/admin/audit/", "/admin/switches"):
        page.goto(f"{url}{path}?lang=pl")
        assert page.locator("h1").count() == 1, path
        assert axe_violations(page) == [], path
    # The second step of a later login, in a fresh context.
    context = page.context.browser.new_context(base_url=url)
    other = context.new_page()
    other.goto(f"{url}/admin/login?lang=pl")
    other.fill("#email", "admin@lodz.example")
    other.fill("#password", PASSWORD)
    other.keyboard.press("Enter")
    other.wait_for_url(re.compile(r"/admin/login/code"))
    assert axe_violations(other) == []
    other.fill("#code", next_code(secret))
    other.keyboard.press("Enter")
    other.wait_for_url(re.compile(r"/admin/queue"))
    context.close()


def test_audit_trail_reads_as_cards_on_a_phone(live_server, page):
    from playwright.sync_api import expect
    app, url = live_server.app, live_server.url
    create_staff(app, "admin@lodz.example", "admin")
    rid = _waiting(app, description="Kosz się przepełnia", public_description="Kosz się przepełnia")
    _log_in_and_enrol(page, url, "admin@lodz.example")
    page.goto(f"{url}/admin/queue?lang=pl")
    page.keyboard.press("j")
    page.keyboard.press("n")
    page.keyboard.type("Sprawdzić w poniedziałek")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator(f"#report-{rid} .notes")).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{url}/admin/audit/?lang=pl")
    rows = page.locator("tr.audit-entry")
    expect(rows.first).to_be_visible()
    assert rows.count() >= 3  # sign-in, enrolment, the note
    # Stacked: each cell is a line of the card, as wide as the card (no narrow columns leaving
    # the row mostly blank), and the page does not scroll sideways.
    for i in range(rows.count()):
        row = rows.nth(i).bounding_box()
        cells = [c.bounding_box() for c in rows.nth(i).locator("td").all() if c.is_visible()]
        assert row["width"] <= 390, row
        assert all(c["width"] >= row["width"] - 40 for c in cells), cells
        assert row["height"] <= sum(c["height"] for c in cells) + 24, (row, cells)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert "Dodano notatkę wewnętrzną" in rows.first.inner_text()
    assert axe_violations(page) == []
