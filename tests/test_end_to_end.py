"""The Core issue's path on real input: a geotagged photo from the phone form, routed per
routing.toml, dispatched by the worker over real SMTP, resolved through the signed link, and
shown on the public page and in Open311."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.conftest import fixture_photo
from tests.helpers import CSRF_RE, report_form


def _dispatch_link(message) -> str:
    body = message.get_body(preferencelist=("plain",)).get_content()
    match = re.search(r"http://127\.0\.0\.1:5000(/departments/links/[^\s]+)", body)
    assert match, body
    return match.group(1)


def test_photo_to_unit_and_back(make_app, smtp_server):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port)
    resident = app.test_client()

    # 1. The resident sends a report with the Piotrkowska photo and no coordinates.
    with open(fixture_photo("derived_lodz_gps_DSCN0025.jpg"), "rb") as fh:
        data = report_form(resident, lat="", long="", service_code="ROAD_POTHOLE",
                           media=[(fh, "DSCN0025.jpg")])
        r = resident.post("/report", data=data, content_type="multipart/form-data")
    assert r.status_code == 303, r.get_data(as_text=True)

    from webapp.extensions import db
    from webapp.reports.models import Report
    with app.app_context():
        report = db.session.scalars(select(Report)).one()
        report_id, number = report.id, report.number
        assert report.lat == pytest.approx(51.7592, abs=1e-4)
        assert report.long == pytest.approx(19.4560, abs=1e-4)
        assert report.location_source == "photo"
        assert report.agency_responsible == "zdit"          # per routing.toml
        unit_email = app.extensions["routing"].units["zdit"].email

    # 2. The worker sends the dispatch e-mail through a real SMTP server.
    from webapp.dispatch.services import process_due
    with app.app_context():
        assert process_due() == 1
        assert process_due() == 0  # nothing is sent twice
    [message] = smtp_server.messages
    assert message["To"] == unit_email
    assert number in message["Subject"]
    link = _dispatch_link(message)

    # 3. Unit staff open the signed link (no account) and set "resolved".
    staff = app.test_client()
    page = staff.get(link)
    assert page.status_code == 200
    token = CSRF_RE.search(page.get_data(as_text=True)).group(1)
    r = staff.post(link, data={"csrf_token": token, "status": "resolved",
                               "note": "Ubytek załatano 2026-11-30."})
    assert r.status_code in (200, 303)

    # 4. The public page and Open311 show the history.
    public = resident.get(f"/reports/{report_id}").get_data(as_text=True)
    assert "Ubytek załatano 2026-11-30." in public
    assert "Załatwione" in public
    assert "Zarząd Dróg i Transportu" in public
    one = resident.get(f"/open311/v2/requests/{report_id}.json?extensions=true").get_json()[0]
    assert one["status"] == "closed"
    assert one["service_code"] == "ROAD_POTHOLE"
    assert one["status_notes"] == "Ubytek załatano 2026-11-30."
    assert [h["status"] for h in one["status_history"]] == ["dispatched", "resolved"]
    assert one["lat"] == pytest.approx(51.7592, abs=1e-4)
    assert one["media_url"].endswith(".jpg")
