"""Issue 7's walk-through over real SMTP: a resident files a report in an operator category,
the operators are e-mailed, an operator logs in (TOTP) and approves it, the unit's link works;
and a report held by the content rules in an "auto" category takes the same path."""
from __future__ import annotations

import re

from sqlalchemy import select

from tests.helpers import csrf_token, report_form, staff_client


def _body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def _approve(app, operator, report_id):
    token = csrf_token(operator, "/admin/queue")
    response = operator.post(f"/admin/reports/{report_id}/approve", data={"csrf_token": token},
                             headers={"HX-Request": "true"})
    assert response.status_code == 200, response.get_data(as_text=True)


def test_operator_category_report_reaches_its_unit(make_app, smtp_server):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port,
                   OPERATORS_EMAIL="operatorzy@lodz.example",
                   PUBLIC_BASE_URL="http://127.0.0.1:5161")
    from webapp.dispatch.services import process_due
    from webapp.extensions import db
    from webapp.reports.models import Report

    resident = app.test_client()
    response = resident.post("/report", data=report_form(resident, service_code="TRAFFIC_LIGHT",
                                                         description="Sygnalizator na skrzyżowaniu nie działa."))
    assert response.status_code == 303
    with app.app_context():
        report_id = db.session.scalars(select(Report.id)).one()
        assert process_due() == 1
    [to_operators] = smtp_server.messages
    assert to_operators["To"] == "operatorzy@lodz.example"
    queue_url = re.search(r"http://127\.0\.0\.1:5161(/admin/queue)", _body(to_operators)).group(1)

    operator, _, _ = staff_client(app)
    assert "Sygnalizator na skrzyżowaniu nie działa." in operator.get(queue_url).get_data(as_text=True)
    _approve(app, operator, report_id)
    with app.app_context():
        assert process_due() == 1
    dispatch = smtp_server.messages[1]
    assert dispatch["To"] == "zgloszenia@zdit.lodz.example"
    link = re.search(r"http://127\.0\.0\.1:5161(/departments/links/\S+)", _body(dispatch)).group(1)
    unit = app.test_client()
    page = unit.get(link)
    assert page.status_code == 200
    assert "Sygnalizator na skrzyżowaniu nie działa." in page.get_data(as_text=True)


def test_report_held_by_content_rules_is_approved_after_redaction(make_app):
    app = make_app()
    from webapp.dispatch.models import OutboxMessage
    from webapp.extensions import db
    from webapp.reports.models import Report

    resident = app.test_client()
    resident.post("/report", data=report_form(resident, description="Dziura. Mój tel. 600 100 200"))
    with app.app_context():
        report = db.session.scalars(select(Report)).one()
        report_id = report.id
        assert report.status == "awaiting_moderation"
    operator, _, _ = staff_client(app)
    token = csrf_token(operator, "/admin/queue")
    operator.post(f"/admin/reports/{report_id}/edit",
                  data={"csrf_token": token, "public_description": "Dziura."})
    _approve(app, operator, report_id)
    with app.app_context():
        report = db.session.get(Report, report_id)
        assert report.status == "dispatched"
        assert [m.kind for m in db.session.scalars(select(OutboxMessage))] == ["dispatch"]
    public = app.test_client().get(f"/reports/{report_id}").get_data(as_text=True)
    assert "Dziura." in public and "600 100 200" not in public
