"""The moderation queue through real HTTP: what waits, each action and its effect on the report,
the routing, the outbox, the public page and the audit trail; content rules; operator e-mail."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.factories import make_report
from tests.helpers import csrf_token, report_form, staff_client


@pytest.fixture
def app(make_app):
    return make_app(OPERATORS_EMAIL="operatorzy@lodz.example")


@pytest.fixture
def operator(app):
    client, _, _ = staff_client(app)
    return client


def _outbox(app, kind=None):
    from webapp.dispatch.models import OutboxMessage
    from webapp.extensions import db
    with app.app_context():
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        return [(m.kind, m.payload) for m in db.session.scalars(query)]


def _report(app, report_id):
    from webapp.extensions import db
    from webapp.reports.models import Report
    with app.app_context():
        report = db.session.get(Report, report_id)
        db.session.expunge(report)
        return report


def _audit(app, action):
    from webapp.audit.models import AuditEntry
    from webapp.extensions import db
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _waiting(app, **fields):
    with app.app_context():
        values = dict(service_code="TRAFFIC_LIGHT", status="awaiting_moderation",
                      history=[("awaiting_moderation", "", "system", None, "zdit", 0)])
        values.update(fields)
        return make_report(**values).id


def _act(client, report_id, action, htmx=True, **data):
    token = csrf_token(client, "/admin/queue")
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(f"/admin/reports/{report_id}/{action}", data={"csrf_token": token, **data},
                       headers=headers)


def test_a_resident_report_in_an_operator_category_waits_and_operators_are_mailed(app, operator):
    resident = app.test_client()
    response = resident.post("/report", data=report_form(resident, service_code="TRAFFIC_LIGHT",
                                                         description="Sygnalizator nie działa."))
    assert response.status_code in (200, 201, 303)
    second = resident.post("/report", data=report_form(resident, service_code="ROAD_SIGN",
                                                       description="Przewrócony znak."))
    assert second.status_code in (200, 201, 303)
    mails = _outbox(app, "operators")
    assert len(mails) == 1, "two reports within the period make one e-mail"
    assert mails[0][1]["to"] == ["operatorzy@lodz.example"]
    assert "http://127.0.0.1:5000/admin/queue" in mails[0][1]["text"]
    page = operator.get("/admin/queue").get_data(as_text=True)
    assert page.index("Sygnalizator nie działa.") < page.index("Przewrócony znak.")  # oldest first


def test_operator_mail_is_batched_per_period(app):
    from webapp.clock import utcnow
    from webapp.moderation.hooks import notify_operators
    now = utcnow()
    with app.app_context():
        from webapp.extensions import db
        notify_operators(now)
        notify_operators(now + timedelta(seconds=1))
        notify_operators(now + timedelta(minutes=16))
        db.session.commit()
    assert len(_outbox(app, "operators")) == 2


def test_approve_dispatches_through_the_release_path(app, operator):
    rid = _waiting(app)
    response = _act(operator, rid, "approve")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert f'id="report-{rid}"' in body  # the updated row, for htmx to swap in
    assert _report(app, rid).status == "dispatched"
    dispatch = _outbox(app, "dispatch")
    assert dispatch and dispatch[0][1]["to"] == ["zgloszenia@zdit.lodz.example"]
    assert "http://127.0.0.1:5000/departments/links/" in dispatch[0][1]["text"]
    entry = _audit(app, "report.approve")[0]
    assert entry.before["status"] == "awaiting_moderation" and entry.after["status"] == "dispatched"
    assert entry.actor_label == "operator@lodz.example"
    # The public page now shows the description.
    assert "Duża dziura przy przejściu dla pieszych" in app.test_client().get(f"/reports/{rid}").get_data(as_text=True)
    # Deciding twice is refused with a message, not a 500.
    again = _act(operator, rid, "approve")
    assert again.status_code == 422


def test_reroute_records_the_reason_in_the_routing_explanation(app, operator):
    rid = _waiting(app)
    response = _act(operator, rid, "reroute", service_code="TRAFFIC_LIGHT", unit="wgk",
                    reason="Sygnalizacja na terenie zarządzanym przez WGK")
    assert response.status_code == 200
    report = _report(app, rid)
    assert report.agency_responsible == "wgk"
    assert report.routing_rule == "operator:Sygnalizacja na terenie zarządzanym przez WGK"
    assert "Sygnalizacja na terenie zarządzanym przez WGK" in response.get_data(as_text=True)
    assert _audit(app, "report.reroute")[0].before["agency_responsible"] == "zdit"
    assert _act(operator, rid, "approve").status_code == 200
    payload = _outbox(app, "dispatch")[0][1]
    assert payload["to"] == ["zgloszenia@wgk.lodz.example"]
    # The unit's e-mail says why it got the report, in the operator's words.
    assert "Sygnalizacja na terenie zarządzanym przez WGK" in payload["text"]
    missing = _act(operator, _waiting(app), "reroute", service_code="TRAFFIC_LIGHT", unit="wgk", reason="")
    assert missing.status_code == 422


def test_edit_keeps_the_original_in_the_audit_trail(app, operator):
    rid = _waiting(app, public_description="Dzwońcie 600 100 200", description="Dzwońcie 600 100 200")
    assert _act(operator, rid, "edit", public_description="Sygnalizator nie działa").status_code == 200
    assert _report(app, rid).public_description == "Sygnalizator nie działa"
    entry = _audit(app, "report.edit")[0]
    assert entry.before["public_description"] == "Dzwońcie 600 100 200"


@pytest.mark.parametrize("reason,expected", [("emergency", "112"), ("outside_lodz", "poza Łodzią")])
def test_reject_with_a_prepared_reason_is_public(app, operator, reason, expected):
    rid = _waiting(app)
    assert _act(operator, rid, "reject", reason=reason).status_code == 200
    report = _report(app, rid)
    assert report.status == "rejected"
    assert expected in app.test_client().get(f"/reports/{rid}").get_data(as_text=True)
    assert _audit(app, "report.reject")[0].after["status"] == "rejected"


def test_reject_needs_a_reason(app, operator):
    rid = _waiting(app)
    assert _act(operator, rid, "reject", reason="", text="").status_code == 422
    assert _report(app, rid).status == "awaiting_moderation"


def test_a_refused_written_reason_keeps_the_reject_form_open_with_the_error_at_the_text(app, operator):
    rid = _waiting(app)
    response = _act(operator, rid, "reject", reason="", duplicate_of="", text="  ")
    assert response.status_code == 422
    row = response.get_data(as_text=True)
    assert re.search(r'<details data-panel="reject" open>', row)
    field = re.search(rf'<textarea id="rtext-{rid}"[^>]*>', row).group(0)
    assert 'aria-invalid="true"' in field and f'aria-describedby="rtext-{rid}-error"' in field
    error = re.search(rf'<p class="field-error" id="rtext-{rid}-error">([^<]+)</p>', row).group(1)
    assert "Write the reason" in error or "Wpisz powód" in error
    assert 'role="alert"' not in row  # said once, next to the field
    assert '<details data-panel="reroute" open>' not in row
    # Without htmx (a plain form post) the report's page says the same.
    page = _act(operator, rid, "reject", htmx=False, reason="", text="")
    assert page.status_code == 422
    assert re.search(rf'<textarea id="rtext-{rid}"[^>]*aria-invalid="true"', page.get_data(as_text=True))


def test_a_refused_duplicate_keeps_what_was_typed(app, operator):
    rid = _waiting(app)
    row = _act(operator, rid, "reject", reason="duplicate", duplicate_of="999999",
               text="Zobacz wyżej").get_data(as_text=True)
    assert 'value="duplicate" selected' in row and 'value="999999"' in row
    assert re.search(rf'<input type="text" id="dup-{rid}"[^>]*aria-invalid="true"', row)
    assert "Zobacz wyżej</textarea>" in row


def test_a_duplicate_of_a_report_that_does_not_exist_says_so(app, operator):
    rid = _waiting(app)
    with app.app_context():
        other = _report(app, make_report().id)
    year, other_id = other.requested_at.year, other.id

    def error(typed):
        response = _act(operator, rid, "reject", reason="duplicate", duplicate_of=typed)
        assert response.status_code == 422
        return re.search(rf'<p class="field-error" id="dup-{rid}-error">([^<]+)</p>',
                         response.get_data(as_text=True)).group(1)

    assert error("2026/99999") == "Nie ma zgłoszenia 2026/99999."
    assert error(f"{year - 1}/{other_id}") == f"Nie ma zgłoszenia {year - 1}/{other_id}."  # wrong year
    assert error("  ") == "Podaj numer zgłoszenia, które to zgłoszenie powtarza."
    assert _report(app, rid).status == "awaiting_moderation"
    assert _act(operator, rid, "reject", reason="duplicate", duplicate_of=f"{year}/{other_id}").status_code == 200


def test_merge_a_duplicate_links_the_other_report(app, operator):
    original = make_report_id = None
    with app.app_context():
        make_report_id = make_report().id
    rid = _waiting(app)
    assert _act(operator, rid, "reject", reason="duplicate", duplicate_of=str(make_report_id)).status_code == 200
    report = _report(app, rid)
    assert report.status == "rejected"
    page = app.test_client().get(f"/reports/{rid}").get_data(as_text=True)
    assert f"/{make_report_id}" in page
    assert _audit(app, "report.merge")[0].after["duplicate_of"] == make_report_id
    assert "merged here" in operator.get(f"/admin/reports/{make_report_id}").get_data(as_text=True)


def _support_counts(app, report_id):
    """The original's "me too" count as a resident (report page) and an app (Open311) see it."""
    page = app.test_client().get(f"/reports/{report_id}?lang=pl").get_data(as_text=True)
    shown = re.search(r'<span class="support-count">(\d+) ', page).group(1)
    api = app.test_client().get(f"/open311/v2/requests/{report_id}.json?extensions=true").get_json()
    return int(shown), api[0]["support_count"]


def test_a_merged_duplicate_counts_as_one_more_me_too_of_the_original(app, operator):
    with app.app_context():
        original = make_report().id
    assert _support_counts(app, original) == (0, 0)
    first, second = _waiting(app), _waiting(app)
    assert _act(operator, first, "reject", reason="duplicate", duplicate_of=str(original)).status_code == 200
    assert _support_counts(app, original) == (1, 1)
    # A second try on the same duplicate is refused (already decided) and counts nothing.
    assert _act(operator, first, "reject", reason="duplicate", duplicate_of=str(original)).status_code == 422
    assert _act(operator, second, "reject", reason="duplicate", duplicate_of=f"#{original}").status_code == 200
    assert _support_counts(app, original) == (2, 2)


def test_internal_note_is_only_in_the_panel(app, operator):
    rid = _waiting(app)
    assert _act(operator, rid, "note", note="Sprawdzić z ZDiT").status_code == 200
    assert "Sprawdzić z ZDiT" in operator.get(f"/admin/reports/{rid}").get_data(as_text=True)
    _act(operator, rid, "approve")
    assert "Sprawdzić z ZDiT" not in app.test_client().get(f"/reports/{rid}").get_data(as_text=True)
    assert _audit(app, "report.note")[0].after == {"note": "Sprawdzić z ZDiT"}


def test_resend_and_revoke_the_unit_link(app, operator):
    rid = _waiting(app)
    _act(operator, rid, "approve")
    first_link = _outbox(app, "dispatch")[0][1]["text"].split("http://127.0.0.1:5000/departments/links/")[1].split()[0]
    assert _act(operator, rid, "resend_link").status_code == 200
    assert len(_outbox(app, "dispatch")) == 2
    unit = app.test_client()
    assert unit.get(f"/departments/links/{first_link}").status_code == 410
    assert _act(operator, rid, "revoke_links").status_code == 200
    second_link = _outbox(app, "dispatch")[1][1]["text"].split("http://127.0.0.1:5000/departments/links/")[1].split()[0]
    assert unit.get(f"/departments/links/{second_link}").status_code == 410
    assert _audit(app, "report.resend_link") and _audit(app, "report.revoke_links")


def test_plain_form_post_redirects_back_to_the_row(app, operator):
    rid = _waiting(app)
    response = _act(operator, rid, "note", htmx=False, note="bez htmx")
    assert response.status_code == 303 and response.headers["Location"].endswith(f"#report-{rid}")


def test_nearby_open_reports_are_listed_as_possible_duplicates(app, operator):
    with app.app_context():
        near = make_report(lat=51.7595, long=19.4573).id   # ~22 m north
        make_report(lat=51.7610, long=19.4573)              # ~190 m: not listed
    rid = _waiting(app, lat=51.7593, long=19.4573)
    page = operator.get(f"/admin/reports/{rid}").get_data(as_text=True)
    assert f"/admin/reports/{near}" in page
    assert page.count("/admin/reports/") - page.count(f"/admin/reports/{rid}") == 1


def test_queue_and_report_page_say_why_the_routing_proposes_its_unit(app, operator):
    rid = _waiting(app, service_code="TRAFFIC_LIGHT", description="światła nie działają")
    for path in ("/admin/queue", f"/admin/reports/{rid}"):
        page = operator.get(path).get_data(as_text=True)
        why = re.search(r'<dd class="routing-reason">(.*?)</dd>', page, re.S)
        assert why and why.group(1).strip(), path   # shown before any action, not only after


def test_queue_filters_by_category(app, operator):
    _waiting(app, service_code="TRAFFIC_LIGHT", description="światła")
    _waiting(app, service_code="ROAD_SIGN", description="znak drogowy")
    page = operator.get("/admin/queue?category=ROAD_SIGN").get_data(as_text=True)
    assert "znak drogowy" in page and "światła" not in page


def test_original_photo_is_visible_to_operators_only(app, operator):
    from tests.conftest import fixture_photo
    resident = app.test_client()
    with open(fixture_photo("derived_lodz_gps_DSCN0025.jpg"), "rb") as fh:
        resident.post("/report", data=report_form(resident, service_code="TRAFFIC_LIGHT",
                                                  media=[(fh, "a.jpg")]),
                      content_type="multipart/form-data")
    from webapp.extensions import db
    from webapp.photos.models import Photo
    with app.app_context():
        photo = db.session.scalars(select(Photo)).one()
        url = f"/admin/reports/{photo.report_id}/photos/{photo.id}"
    assert operator.get(url).status_code == 200
    assert app.test_client().get(url).status_code == 302


# --------------------------------------------------------------------------- content rules

@pytest.mark.parametrize("text,rule", [
    ("Dziura, dzwońcie 600 100 200", "phone"),
    ("Pisać na jan.kowalski@example.com", "email"),
    ("Zobacz https://example.com/foto", "link"),
    ("Mój PESEL 44051401359", "pesel"),
    ("Ten kurwa znak", "word"),
])
def test_content_rules_hold_an_auto_report(app, operator, text, rule):
    resident = app.test_client()
    resident.post("/report", data=report_form(resident, description=text))  # a pothole: "auto"
    from webapp.extensions import db
    from webapp.moderation.models import ContentHold
    from webapp.reports.models import Report
    with app.app_context():
        report = db.session.scalars(select(Report)).one()
        hold = db.session.get(ContentHold, report.id)
        assert report.status == "awaiting_moderation"
        assert rule in [r["rule"] for r in hold.reasons]
        rid = report.id
    assert not _outbox(app, "dispatch")
    public = app.test_client().get(f"/reports/{rid}").get_data(as_text=True)
    assert text not in public
    assert "Wstrzymane przez zasady treści" in operator.get("/admin/queue?held=1").get_data(as_text=True)


def test_clean_text_is_not_held(app):
    from webapp.moderation.content import check_text
    with app.app_context():
        assert check_text("Głęboka dziura w jezdni przy przejściu dla pieszych, ok. 30 cm.") == []
        # 11 digits with a wrong PESEL check digit are neither a PESEL nor a phone number.
        assert check_text("Numer słupa 12345678901") == []


def test_forbidden_list_file_is_configurable_and_reread(make_app, tmp_path):
    rules = tmp_path / "rules.txt"
    rules.write_text("ogórek\n", encoding="utf-8")
    app = make_app(CONTENT_RULES_FILE=str(rules))
    from webapp.moderation.content import check_text
    with app.test_request_context():
        assert check_text("zielony ogórek")[0]["rule"] == "word"
        assert check_text("pomidor") == []
        import os
        rules.write_text("pomidor\n", encoding="utf-8")
        os.utime(rules, (1, 1))
        assert check_text("pomidor")[0]["match"] == "pomidor"


# --------------------------------------------------------------------------- abuse, switches

def test_admin_blocks_a_submitter_by_keyed_hash(app):
    admin, _, _ = staff_client(app, "admin@lodz.example", "admin")
    resident = app.test_client()
    resident.post("/report", data=report_form(resident, service_code="TRAFFIC_LIGHT"))
    from webapp.extensions import db
    from webapp.moderation.models import SubmissionOrigin, SubmitterBlock
    from webapp.reports.models import Report
    with app.app_context():
        rid = db.session.scalars(select(Report.id)).one()
        origin = db.session.get(SubmissionOrigin, rid)
        assert origin.key_hash != "127.0.0.1" and len(origin.key_hash) == 64
    assert _act(admin, rid, "block", days="7", reason="spam").status_code == 200
    with app.app_context():
        assert db.session.scalars(select(SubmitterBlock)).one().key_hash == origin.key_hash
    blocked = resident.post("/report", data=report_form(resident))
    assert blocked.status_code == 403
    assert "zablokowane" in blocked.get_data(as_text=True)


def test_operator_cannot_block(app, operator):
    rid = _waiting(app)
    assert _act(operator, rid, "block", days="7").status_code == 403


def test_switches_stop_reports_and_show_a_banner(app):
    admin, _, _ = staff_client(app, "admin@lodz.example", "admin")
    token = csrf_token(admin, "/admin/switches")
    assert admin.post("/admin/switches", data={"csrf_token": token, "name": "reports",
                                               "enabled": "0"}).status_code == 303
    resident = app.test_client()
    home = resident.get("/").get_data(as_text=True)
    assert 'class="site-banner"' in home
    refused = resident.post("/report", data=report_form(resident))
    assert refused.status_code == 503
    entry = _audit(app, "switch.set")[0]
    assert entry.before == {"enabled": True} and entry.after == {"enabled": False}


def test_maintenance_switch_refuses_writes_but_keeps_pages_and_panel(app):
    admin, _, _ = staff_client(app, "admin@lodz.example", "admin")
    token = csrf_token(admin, "/admin/switches")
    admin.post("/admin/switches", data={"csrf_token": token, "name": "maintenance", "enabled": "1"})
    resident = app.test_client()
    assert resident.get("/reports").status_code == 200
    assert resident.post("/report", data=report_form(resident)).status_code == 503
    assert admin.get("/admin/switches").status_code == 200


def test_photos_off_form_has_no_pickers_and_a_photo_is_refused_with_its_switch_named(make_app):
    from tests.conftest import fixture_photo
    app = make_app(PHOTOS_ENABLED=False)
    resident = app.test_client()
    page = resident.get("/report").get_data(as_text=True)
    assert 'id="report-form"' in page and 'id="photos-off"' in page
    assert 'type="file"' not in page  # nothing to pick a photo with
    with open(fixture_photo("gps_DSCN0010.jpg"), "rb") as fh:
        refused = resident.post("/report", data=report_form(resident, media=[(fh, "a.jpg")]),
                                content_type="multipart/form-data")
    assert refused.status_code == 503
    # Named, so the page's scripts keep the draft and say "remove the photos", not "offline".
    assert refused.headers["X-Switched-Off"] == "photos"
    assert "usuń zdjęcia" in refused.get_data(as_text=True)
    sent = resident.post("/report", data=report_form(resident), headers={"Accept": "application/json"})
    assert sent.status_code in (200, 201)


def test_reports_off_and_maintenance_name_their_switch(app):
    from webapp.extensions import db
    from webapp.moderation.models import Switch
    resident = app.test_client()
    form = report_form(resident)  # the form open on the phone before the admin flips a switch
    for name, enabled in (("reports", False), ("maintenance", True)):
        with app.app_context():
            db.session.merge(Switch(name=name, enabled=enabled))
            db.session.commit()
        refused = resident.post("/report", data=form, headers={"Accept": "application/json"})
        assert refused.status_code == 503 and refused.headers["X-Switched-Off"] == name
        assert refused.get_json()[0]["description"]


# --------------------------------------------------------------------------- dead outbox

def test_dead_message_is_shown_and_resent_to_a_corrected_address(app, operator):
    rid = _waiting(app)
    _act(operator, rid, "approve")
    from webapp.dispatch.models import OutboxMessage
    from webapp.extensions import db
    with app.app_context():
        row = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "dispatch")).one()
        row.status = "dead"
        row.attempts = 8
        row.last_error = "SMTPRecipientsRefused: 550 no such user"
        db.session.commit()
        mid = row.id
    page = operator.get("/admin/outbox").get_data(as_text=True)
    assert "550 no such user" in page
    token = csrf_token(operator, "/admin/outbox")
    response = operator.post(f"/admin/outbox/{mid}", data={"csrf_token": token,
                                                          "to": "sekretariat@zdit.lodz.example"})
    assert response.status_code == 303
    with app.app_context():
        row = db.session.get(OutboxMessage, mid)
        assert row.status == "pending" and row.attempts == 0
        assert row.payload["to"] == ["sekretariat@zdit.lodz.example"]
    assert _audit(app, "outbox.resend")[0].before["to"] == ["zgloszenia@zdit.lodz.example"]


def test_audit_trail_is_admin_only_and_filterable(app, operator):
    admin, _, _ = staff_client(app, "admin@lodz.example", "admin")
    rid = _waiting(app)
    _act(operator, rid, "note", note="x")
    assert operator.get("/admin/audit/").status_code == 403
    page = admin.get(f"/admin/audit/?action=report.note&object_id={rid}").get_data(as_text=True)
    assert page.count('class="audit-entry"') == 1
    # No route changes the trail.
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("audit."):
            assert rule.methods <= {"GET", "HEAD", "OPTIONS"}


# --------------------------------------------------------------------------- public address

def test_links_written_outside_a_request_use_the_public_address(make_app):
    """`flask reports release` (and the operators' e-mail) link to PUBLIC_BASE_URL, not to the
    port a local server happens to use."""
    app = make_app(PUBLIC_BASE_URL="https://zgloszenia.lodz.example",
                   OPERATORS_EMAIL="operatorzy@lodz.example")
    rid = _waiting(app)
    result = app.test_cli_runner().invoke(args=["reports", "release", str(rid)])
    assert result.exit_code == 0, result.output
    assert "https://zgloszenia.lodz.example/departments/links/" in result.output
    dispatch = _outbox(app, "dispatch")[0][1]
    assert "https://zgloszenia.lodz.example/departments/links/" in dispatch["text"]
    assert "127.0.0.1" not in dispatch["text"] + dispatch["html"]
    from webapp.extensions import db
    from webapp.moderation.hooks import notify_operators
    with app.app_context():
        notify_operators()
        db.session.commit()
    assert "https://zgloszenia.lodz.example/admin/queue" in _outbox(app, "operators")[0][1]["text"]


def test_approving_in_the_panel_links_to_the_public_address_not_the_request_host(make_app):
    app = make_app(PUBLIC_BASE_URL="https://zgloszenia.lodz.example")
    operator, _, _ = staff_client(app)
    rid = _waiting(app)
    assert _act(operator, rid, "approve").status_code == 200
    assert "https://zgloszenia.lodz.example/departments/links/" in _outbox(app, "dispatch")[0][1]["text"]


# --------------------------------------------------------------------------- photos

def _report_with_photo(app):
    from tests.conftest import fixture_photo
    resident = app.test_client()
    with open(fixture_photo("derived_lodz_gps_DSCN0025.jpg"), "rb") as fh:
        resident.post("/report", data=report_form(resident, service_code="TRAFFIC_LIGHT",
                                                  media=[(fh, "a.jpg")]),
                      content_type="multipart/form-data")
    from webapp.extensions import db
    from webapp.photos.models import Photo
    with app.app_context():
        photo = db.session.scalars(select(Photo)).one()
        return photo.report_id, photo.id


def test_hidden_photo_is_not_public_but_stays_for_operators(app, operator):
    rid, pid = _report_with_photo(app)
    hidden = _act(operator, rid, "hide_photo", photo_id=str(pid))
    assert hidden.status_code == 200  # the swapped row already takes the staff-only thumbnail
    assert f'src="/admin/reports/{rid}/photos/{pid}/thumb.jpg"' in hidden.get_data(as_text=True)
    _act(operator, rid, "approve")
    public = app.test_client()
    assert f"/media/photos/{pid}/" not in public.get(f"/reports/{rid}").get_data(as_text=True)
    assert f"/media/photos/{pid}/" not in public.get("/reports").get_data(as_text=True)
    for copy in ("public", "thumb"):  # no one gets the public copies, operators neither
        for client in (public, operator):
            assert client.get(f"/media/photos/{pid}/{copy}.jpg").status_code == 404
            assert client.head(f"/media/photos/{pid}/{copy}.jpg").status_code == 404
    original = operator.get(f"/admin/reports/{rid}/photos/{pid}")
    assert original.status_code == 200 and original.mimetype == "image/jpeg"
    assert public.get(f"/admin/reports/{rid}/photos/{pid}").status_code == 302  # to the login
    # The panel's row shows the hidden photo's thumbnail from a staff-only, uncached address.
    row = operator.get(f"/admin/reports/{rid}?lang=en").get_data(as_text=True)
    assert f'src="/admin/reports/{rid}/photos/{pid}/thumb.jpg"' in row
    assert f"/media/photos/{pid}/" not in row and "Hidden from the public" in row
    thumb = operator.get(f"/admin/reports/{rid}/photos/{pid}/thumb.jpg")
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert "no-store" in thumb.headers["Cache-Control"]
    assert thumb.data[:2] == b"\xff\xd8" and thumb.data != original.data  # the 400 px copy
    assert public.get(f"/admin/reports/{rid}/photos/{pid}/thumb.jpg").status_code == 302
    assert _audit(app, "photo.hide")[0].after == {"hidden": True, "report": rid}
    assert _act(operator, rid, "show_photo", photo_id=str(pid)).status_code == 200
    assert public.get(f"/media/photos/{pid}/public.jpg").status_code == 200
    assert public.get(f"/media/photos/{pid}/thumb.jpg").status_code == 200
    assert f"/media/photos/{pid}/thumb.jpg" in public.get("/reports").get_data(as_text=True)


def test_rotating_turns_the_public_copy_not_the_original(app, operator):
    import io
    from PIL import Image
    rid, pid = _report_with_photo(app)
    client = app.test_client()
    before = Image.open(io.BytesIO(client.get(f"/media/photos/{pid}/public.jpg").data)).size
    original = operator.get(f"/admin/reports/{rid}/photos/{pid}").data
    assert _act(operator, rid, "rotate_photo", photo_id=str(pid)).status_code == 200
    after = Image.open(io.BytesIO(client.get(f"/media/photos/{pid}/public.jpg").data)).size
    assert after == (before[1], before[0])
    assert operator.get(f"/admin/reports/{rid}/photos/{pid}").data == original
    assert _audit(app, "photo.rotate")[0].after["rotation"] == 90
    assert _act(operator, rid, "rotate_photo", photo_id="999999").status_code == 422


def test_admin_lifts_a_block(app):
    admin, _, _ = staff_client(app, "admin@lodz.example", "admin")
    resident = app.test_client()
    resident.post("/report", data=report_form(resident, service_code="TRAFFIC_LIGHT"))
    from webapp.extensions import db
    from webapp.moderation.models import SubmitterBlock
    from webapp.reports.models import Report
    with app.app_context():
        rid = db.session.scalars(select(Report.id)).one()
    _act(admin, rid, "block", days="3", reason="spam")
    assert resident.post("/report", data=report_form(resident)).status_code == 403
    with app.app_context():
        block_id = db.session.scalars(select(SubmitterBlock.id)).one()
    assert "spam" in admin.get("/admin/switches").get_data(as_text=True)
    token = csrf_token(admin, "/admin/switches")
    assert admin.post(f"/admin/blocks/{block_id}/lift", data={"csrf_token": token}).status_code == 303
    assert resident.post("/report", data=report_form(resident)).status_code == 303
    assert _audit(app, "submitter.unblock")
