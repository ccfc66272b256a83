"""E-mail notices to residents: one-click unsubscribe (RFC 8058) checked on a real SMTP server
on loopback, the resident's language, and the RODO retention job."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.factories import make_report
from tests.helpers import csrf_token
from webapp.clock import utcnow
from webapp.extensions import db

BASE = "http://127.0.0.1:5000"


def tracked_report(**fields):
    from webapp.reports.services import token_hash, tracking_token
    client_id = str(uuid.uuid4())
    token = tracking_token(client_id)
    history = fields.pop("history", [("dispatched", "", "system", None, "zdit", 0)])
    report = make_report(client_id=client_id, tracking_token_hash=token_hash(token),
                         history=history, **fields)
    return report, token


def change_status(report_id, status="accepted", note=""):
    from webapp.reports.lifecycle import set_status
    from webapp.routing.services import current_routing
    from webapp.reports.models import Report
    change = set_status(db.session.get(Report, report_id), status, actor_kind="unit",
                        actor_id="zdit", note=note,
                        routing=current_routing())
    db.session.commit()
    return change


@pytest.mark.parametrize("language, subject", [
    ("pl", "Zgłoszenie {number}: Przyjęte"),
    ("en", "Report {number}: Accepted"),
    ("uk", "Звернення {number}: Прийнято"),
])
def test_notice_has_one_click_unsubscribe_headers_both_parts_and_the_residents_language(
        make_app, smtp_server, language, subject):
    from webapp.dispatch.services import process_due
    app = make_app(**smtp_server.config)
    with app.app_context():
        report, token = tracked_report(email="mieszkanka@example.org", language=language)
        number, report_id = report.number, report.id
        change_status(report_id)
        assert process_due() == 1
    [msg] = smtp_server.wait_for(1)
    unsubscribe = f"{BASE}/t/{token}/email/unsubscribe"
    assert msg["Subject"] == subject.format(number=number)
    assert msg["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert unsubscribe in text and f'href="{unsubscribe}"' in html
    assert f'lang="{language}"' in html


def test_one_click_post_without_csrf_stops_mail_and_erases_the_address(make_app, smtp_server):
    from webapp.dispatch.services import process_due
    from webapp.reports.models import Report
    app = make_app(**smtp_server.config)
    client = app.test_client()
    with app.app_context():
        report, token = tracked_report(email="mieszkanka@example.org")
        report_id = report.id
        change_status(report_id)
        process_due()
        change_status(report_id, "in_progress", note="Zaczynamy.")   # queued, not yet sent
    smtp_server.wait_for(1)
    url = f"/t/{token}/email/unsubscribe"
    assert client.get(url).status_code == 200                         # a GET (a link scanner) changes nothing
    with app.app_context():
        assert db.session.get(Report, report_id).email == "mieszkanka@example.org"
    # What a mail client sends for RFC 8058: a POST with this body, no cookies, no CSRF token.
    for _ in range(2):  # idempotent
        answer = client.post(url, data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 200
    with app.app_context():
        report = db.session.get(Report, report_id)
        assert (report.email, report.consent_version, report.consent_text, report.consent_at) == (None,) * 4
        change_status(report_id, "resolved", note="Naprawione.")
        assert process_due() == 0
    assert len(smtp_server.messages) == 1                             # the queued one was dropped too
    assert client.post("/t/not-a-token/email/unsubscribe",
                       data={"List-Unsubscribe": "One-Click"}).status_code == 404


def test_the_tracking_page_withdraws_email_consent(make_app):
    from webapp.reports.models import Report
    app = make_app()
    client = app.test_client()
    with app.app_context():
        report, token = tracked_report(email="mieszkanka@example.org")
        report_id = report.id
    shown = client.get(f"/t/{token}")
    page = shown.get_data(as_text=True)
    assert f'action="/t/{token}/email/unsubscribe"' in page and "Wyłącz wiadomości e-mail" in page
    # No token in Referer to other sites, yet the page's forms keep a real Origin (not "null").
    assert shown.headers["Referrer-Policy"] == "same-origin"
    assert client.get(f"/t/{token}/email/unsubscribe").headers["Referrer-Policy"] == "same-origin"
    answer = client.post(f"/t/{token}/email/unsubscribe", data={"csrf_token": csrf_token(client, f"/t/{token}")})
    assert answer.status_code == 200 and "adres e-mail został usunięty" in answer.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Report, report_id).email is None
    assert "Wyłącz wiadomości e-mail" not in client.get(f"/t/{token}").get_data(as_text=True)


def test_retention_job_erases_addresses_of_long_closed_reports_and_nothing_else(make_app):
    from webapp.dispatch.models import OutboxMessage
    from webapp.dispatch.services import process_due
    from webapp.dispatch.worker import run_worker
    from webapp.reports.models import Report, StatusChange
    app = make_app(EMAIL_RETENTION_DAYS=30)
    now = utcnow()
    with app.app_context():
        old_closed, _ = tracked_report(email="a@example.org", requested_at=now - timedelta(days=45))
        recent_closed, _ = tracked_report(email="b@example.org", requested_at=now - timedelta(days=45))
        still_open, _ = tracked_report(email="c@example.org", requested_at=now - timedelta(days=90))
        ids = old_closed.id, recent_closed.id, still_open.id
        change_status(ids[0], "resolved")                 # the resident is told by e-mail...
        change_status(ids[1], "rejected", note="To teren prywatny.")
        change_status(ids[2], "in_progress")
        assert process_due() == 3                          # ...and the outbox keeps the copies
        for report_id, days in ((ids[0], 31), (ids[1], 29), (ids[2], 60)):
            db.session.execute(StatusChange.__table__.update()
                               .where(StatusChange.report_id == report_id)
                               .values(created_at=now - timedelta(days=days)))
        db.session.commit()
        def snapshot():
            return ({r.id: (r.description, r.status, r.lat, r.long, r.language, len(r.history))
                     for r in db.session.scalars(select(Report))},
                    {m.id: (m.status, m.payload["subject"], m.payload["text"])
                     for m in db.session.scalars(select(OutboxMessage))})
        before = snapshot()
    run_worker(app, once=True)   # the worker runs the retention job
    with app.app_context():
        reports = {r.id: r for r in db.session.scalars(select(Report))}
        assert [reports[i].email for i in ids] == [None, "b@example.org", "c@example.org"]
        assert (reports[ids[0]].consent_version, reports[ids[0]].consent_text,
                reports[ids[0]].consent_at) == (None, None, None)
        assert reports[ids[1]].consent_version is not None
        assert snapshot() == before                        # nothing else changed
        recipients = sorted(str(m.payload["to"]) for m in db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "status_notice")))
        assert recipients == ["['b@example.org']", "['c@example.org']", "[]"]
    result = app.test_cli_runner().invoke(args=["push", "erase-emails"])
    assert "0 report" in result.output


def test_privacy_page_names_the_retention_period_and_the_administrators_address(make_app):
    app = make_app(EMAIL_RETENTION_DAYS=14, ADMIN_EMAIL="iod@lodz.example")
    page = app.test_client().get("/privacy").get_data(as_text=True)
    assert "<strong>14 dni</strong> od" in page  # the privacy notice (content/privacy/pl.md)
    assert 'href="mailto:iod@lodz.example"' in page
    page = app.test_client().get("/privacy?lang=en").get_data(as_text=True)
    assert "<strong>14 days</strong> after" in page


def test_a_report_sent_without_email_can_get_email_updates_from_its_tracking_page(make_app, smtp_server):
    from webapp.dispatch.services import process_due
    from webapp.reports.models import Report
    app = make_app(**smtp_server.config)
    client = app.test_client()
    with app.app_context():
        report, token = tracked_report()
        report_id, number = report.id, report.number
    page = client.get(f"/t/{token}?lang=en").get_data(as_text=True)
    assert f'action="/t/{token}/email"' in page and "Prefer e-mail?" in page
    token_ = csrf_token(client, f"/t/{token}")
    refused = client.post(f"/t/{token}/email", data={"csrf_token": token_, "email": "jan@example.org"})
    assert refused.status_code == 422 and "tick the consent box" in refused.get_data(as_text=True)
    assert 'value="jan@example.org"' in refused.get_data(as_text=True)       # what was typed is kept
    bad = client.post(f"/t/{token}/email", data={"csrf_token": token_, "email": "jan@", "consent": "y"})
    assert bad.status_code == 422
    done = client.post(f"/t/{token}/email", data={"csrf_token": token_, "email": "jan@example.org",
                                                   "consent": "y"})
    assert done.status_code == 303
    with app.app_context():
        report = db.session.get(Report, report_id)
        assert (report.email, report.language) == ("jan@example.org", "en")
        assert report.consent_version and report.consent_at and "processing of my e-mail" in report.consent_text
        change_status(report_id)
        process_due()
    [msg] = smtp_server.wait_for(1)
    assert msg["To"] == "jan@example.org" and msg["Subject"] == f"Report {number}: Accepted"
