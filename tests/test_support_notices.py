"""Residents who said "me too" with an e-mail and consent are told of the report's status
changes like its author: checked on a real SMTP server on loopback (aiosmtpd), with their own
one-click unsubscribe, and erased by the same retention job."""
from __future__ import annotations

import re
import uuid
from datetime import timedelta

from sqlalchemy import select

from tests.factories import make_report
from tests.helpers import csrf_token
from webapp.clock import utcnow
from webapp.extensions import db

BASE = "http://127.0.0.1:5000"


def support(client, report_id, email=None, *, consent=True, lang="pl"):
    """Say "me too" from the report's page, as a phone does (a fresh supporter id)."""
    page = f"/reports/{report_id}?lang={lang}"
    data = {"supporter_id": str(uuid.uuid4()), "csrf_token": csrf_token(client, page)}
    if email:
        data["email"] = email
    if consent:
        data["consent"] = "y"
    return client.post(f"/reports/{report_id}/supports", data=data)


def change_status(report_id, status="accepted", note=""):
    from webapp.reports.lifecycle import set_status
    from webapp.reports.models import Report
    from webapp.routing.services import current_routing
    set_status(db.session.get(Report, report_id), status, actor_kind="unit", actor_id="zdit",
               note=note, routing=current_routing())
    db.session.commit()


def test_report_page_offers_an_optional_email_with_consent_for_me_too(app, client):
    with app.app_context():
        report_id = make_report().id
    page = client.get(f"/reports/{report_id}").get_data(as_text=True)
    form = page[page.index('action="/reports/'):]
    assert '<label for="support-email">' in form and 'name="email"' in form
    assert '<label for="support-consent">' in form and 'name="consent"' in form
    assert 'href="/privacy"' in form


def test_supporters_get_the_status_email_with_their_own_unsubscribe(make_app, smtp_server):
    from webapp.dispatch.services import process_due
    app = make_app(**smtp_server.config)
    client = app.test_client()
    with app.app_context():
        report = make_report(email="autorka@example.org")
        report_id, number = report.id, report.number
    assert support(client, report_id, "sasiad@example.org", lang="en").status_code == 303
    assert support(client, report_id, "bez-zgody@example.org", consent=False).status_code == 422
    assert support(client, report_id).status_code == 303                  # no e-mail: counted only
    assert support(client, report_id, "autorka@example.org").status_code == 303  # the author, once
    with app.app_context():
        change_status(report_id, note="Ekipa w drodze.")
        assert process_due() == 2
    messages = smtp_server.wait_for(2)
    by_to = {m["To"]: m for m in messages}
    assert sorted(by_to) == ["autorka@example.org", "sasiad@example.org"]
    msg = by_to["sasiad@example.org"]
    assert msg["Subject"] == f"Report {number}: Accepted"                  # the supporter's language
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "which you supported" in text and "Ekipa w drodze." in text
    assert f"{BASE}/reports/{report_id}" in text and "/t/" not in text     # public page, not the author's link
    unsubscribe = re.fullmatch(r"<(.+)>", msg["List-Unsubscribe"]).group(1)
    assert unsubscribe.startswith(f"{BASE}/supports/") and msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe in text and f'href="{unsubscribe}"' in html
    author = by_to["autorka@example.org"].get_body(("plain",)).get_content()
    assert "which you supported" not in author and unsubscribe not in author

    path = unsubscribe[len(BASE):]
    assert client.get(path).status_code == 200                              # a link scanner changes nothing
    with app.app_context():
        change_status(report_id, "in_progress")                             # queued for both
    for _ in range(2):                                                      # RFC 8058, idempotent
        assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    with app.app_context():
        assert process_due() == 1                                           # the author's only
        from webapp.citymap.models import Support
        emails = sorted(filter(None, (s.email for s in db.session.scalars(select(Support)))))
        assert emails == ["autorka@example.org"]
        assert db.session.query(Support).count() == 3                      # the support still counts
    assert [m["To"] for m in smtp_server.wait_for(3)][2] == "autorka@example.org"
    assert client.post("/supports/forged/email/unsubscribe",
                       data={"List-Unsubscribe": "One-Click"}).status_code == 404


def test_notices_are_queued_once_per_change_and_supporter(make_app):
    from webapp.dispatch.models import OutboxMessage
    from webapp.dispatch.services import on_report_status_changed
    from webapp.reports.models import Report
    from webapp.routing.services import current_routing
    app = make_app()
    client = app.test_client()
    with app.app_context():
        report_id = make_report().id
    support(client, report_id, "sasiad@example.org")
    with app.app_context():
        change_status(report_id)
        report = db.session.get(Report, report_id)
        on_report_status_changed(report, change=report.history[-1], routing=current_routing())
        db.session.commit()                                  # a listener run twice adds nothing
        keys = list(db.session.scalars(select(OutboxMessage.dedupe_key)
                                       .where(OutboxMessage.kind == "subscriber_notice")))
        assert len(keys) == 1 and keys[0].startswith(f"subscriber_notice:{report_id}:")


def test_retention_job_erases_supporters_addresses_of_long_closed_reports(make_app):
    from webapp.citymap.models import Support
    from webapp.dispatch.models import OutboxMessage
    from webapp.dispatch.services import process_due
    from webapp.dispatch.worker import run_worker
    from webapp.reports.models import StatusChange
    app = make_app(EMAIL_RETENTION_DAYS=30)
    client = app.test_client()
    now = utcnow()
    with app.app_context():
        old_closed, still_open = make_report().id, make_report().id
    support(client, old_closed, "a@example.org")
    support(client, still_open, "b@example.org")
    with app.app_context():
        change_status(old_closed, "resolved")
        change_status(still_open, "in_progress")
        process_due()
        for report_id in (old_closed, still_open):
            db.session.execute(StatusChange.__table__.update()
                               .where(StatusChange.report_id == report_id)
                               .values(created_at=now - timedelta(days=45)))
        db.session.commit()
    run_worker(app, once=True)   # the worker runs the retention job
    with app.app_context():
        supports = {s.report_id: s for s in db.session.scalars(select(Support))}
        assert (supports[old_closed].email, supports[old_closed].consent_version,
                supports[old_closed].consent_at) == (None, None, None)
        assert supports[still_open].email == "b@example.org"
        recipients = sorted(str(m.payload["to"]) for m in db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "subscriber_notice")))
        assert recipients == ["['b@example.org']", "[]"]
