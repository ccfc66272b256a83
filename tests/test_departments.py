"""The signed department link: the e-mail's link opens the report without login, the unit sets
the status, and expired, revoked or tampered links are refused. Real SMTP on loopback."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer

from tests.helpers import element_attrs
from tests.factories import dispatched, latest_link, new_report, outbox
from webapp.clock import utcnow
from webapp.routing.services import current_routing

LINK_RE = re.compile(r"http://127\.0\.0\.1:5000(/departments/links/[A-Za-z0-9_.\-]+)")
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
HTMX = {"HX-Request": "true", "HX-Target": "status-form"}


def _mailed_link(app, smtp_server, count: int) -> str:
    """Run the outbox and return the path of the link in the newest received e-mail."""
    from webapp.dispatch.services import process_due
    with app.app_context():
        process_due()
    messages = smtp_server.wait_for(count)
    for message in reversed(messages):
        found = LINK_RE.search(message.get_body(("plain",)).get_content())
        if found:
            return found.group(1)
    raise AssertionError("no department link in the e-mails")


def _csrf(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)
    return CSRF_RE.search(response.get_data(as_text=True)).group(1)


def _history(app, report_id):
    from webapp.extensions import db
    from webapp.reports.models import Report
    with app.app_context():
        report = db.session.get(Report, report_id)
        return [(c.status, c.actor_kind, c.actor_id, c.agency_responsible, c.note, c.created_at)
                for c in report.history]


@pytest.fixture
def unit_app(make_app, smtp_server):
    return make_app(**smtp_server.config)


@pytest.fixture
def mailed(unit_app, smtp_server):
    """A report dispatched to ZDiT, its e-mail received; returns (report id, link path)."""
    with unit_app.app_context():
        report, _ = dispatched(email="mieszkaniec@example.org", consent=True)
        report_id = report.id
    return report_id, _mailed_link(unit_app, smtp_server, 1)


def test_link_from_the_email_opens_the_report_without_login(unit_app, mailed):
    report_id, path = mailed
    response = unit_app.test_client().get(path)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f"/{report_id}" in html                                  # the report number
    assert "Ubytek w nawierzchni jezdni (dziura)" in html            # category (Polish UI)
    assert "Głęboka dziura w jezdni przy przejściu dla pieszych." in html
    assert "ul. Piotrkowska 104" in html
    assert "https://www.openstreetmap.org/?mlat=51.759200&amp;mlon=19.456000" in html
    assert 'name="status"' in html and 'name="note"' in html and 'name="target_unit"' in html
    assert "Wydział Gospodarki Komunalnej" in html                  # a unit to forward to
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "noindex" in response.headers["X-Robots-Tag"]
    assert response.headers["Referrer-Policy"] == "same-origin"   # no token in Referer to other sites


def test_resolved_is_recorded_with_the_unit_and_utc_time(unit_app, mailed, smtp_server):
    report_id, path = mailed
    client = unit_app.test_client()
    before = utcnow()
    response = client.post(path, data={"csrf_token": _csrf(client, path), "status": "resolved",
                                       "note": "Ubytek załatany 12 maja."})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(path)
    page = client.get(path).get_data(as_text=True)
    assert "Saved" in page or "Zapisano" in page
    assert "Ubytek załatany 12 maja." in page
    last = _history(unit_app, report_id)[-1]
    assert last[:5] == ("resolved", "unit", "zdit", "zdit", "Ubytek załatany 12 maja.")
    assert last[5].utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= last[5] <= utcnow()
    # The resident consented: they get the notice with the note and their tracking link.
    with unit_app.app_context():
        from webapp.dispatch.services import process_due
        assert process_due() == 1
    notice = smtp_server.wait_for(2)[-1]
    assert notice["To"] == "mieszkaniec@example.org"
    body = notice.get_body(("plain",)).get_content()
    assert "Ubytek załatany 12 maja." in body and "/t/" in body


def test_htmx_post_swaps_the_form_fragment_and_the_history(unit_app, mailed):
    report_id, path = mailed
    client = unit_app.test_client()
    response = client.post(path, headers=HTMX,
                           data={"csrf_token": _csrf(client, path), "status": "in_progress",
                                 "note": "Ekipa wyjedzie w czwartek."})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" not in html and html.lstrip().startswith('<form id="status-form"')
    history = element_attrs(html, "history")
    assert (history["aria-labelledby"], history["hx-swap-oob"]) == ("history-heading", "true")
    assert "Ekipa wyjedzie w czwartek." in html
    assert "HX-Target" in response.headers["Vary"]
    assert _history(unit_app, report_id)[-1][0] == "in_progress"


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_rejection_without_reason_is_422_next_to_the_note(unit_app, mailed, headers):
    report_id, path = mailed
    client = unit_app.test_client()
    response = client.post(path, headers=headers,
                           data={"csrf_token": _csrf(client, path), "status": "rejected",
                                 "note": "   "})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error = re.search(r'<div id="err-note" class="field-error">(.*?)</div>', html, re.S).group(1)
    assert "powód" in error  # Polish, the default language
    assert re.search(r'value="rejected"[^>]*checked|checked[^>]*value="rejected"', html)
    assert ("<html" in html) == (not headers)
    assert [h[0] for h in _history(unit_app, report_id)] == ["dispatched"]


def test_forward_without_unit_keeps_what_was_typed(unit_app, mailed):
    _, path = mailed
    client = unit_app.test_client()
    response = client.post(path, headers=HTMX,
                           data={"csrf_token": _csrf(client, path), "status": "forwarded",
                                 "note": "To chodnik osiedlowy, nie pas drogowy."})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "To chodnik osiedlowy, nie pas drogowy.</textarea>" in html
    error = re.search(r'<div id="err-target_unit" class="field-error">(.*?)</div>', html,
                      re.S).group(1)
    assert error.strip()


def test_forwarded_mails_the_new_unit_and_refuses_the_old_link(unit_app, mailed, smtp_server):
    report_id, old_path = mailed
    client = unit_app.test_client()
    response = client.post(old_path, data={"csrf_token": _csrf(client, old_path),
                                           "status": "forwarded", "target_unit": "wgk",
                                           "note": "Teren gminny poza pasem drogowym."})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Wydział Gospodarki Komunalnej" in page
    # the confirmation shows the history as it is now, forward included
    assert "Przekazane do innej jednostki" in page and "Teren gminny poza pasem drogowym." in page
    new_path = _mailed_link(unit_app, smtp_server, 2)
    new_mail = [m for m in smtp_server.messages if m["To"] == "zgloszenia@wgk.lodz.example"]
    assert len(new_mail) == 1
    assert new_path != old_path
    body = new_mail[0].get_body(("plain",)).get_content()
    assert "Teren gminny poza pasem drogowym." in body
    # "why your unit" speaks of the new unit, not of the category's routing to ZDiT
    why = [line for line in body.splitlines() if line.startswith("Dlaczego Twoja jednostka")]
    assert why and "Wydział Gospodarki Komunalnej" in why[0] and "Zarząd Dróg" not in why[0]
    # The old link is refused with a clear message; the new one works.
    old = client.get(old_path)
    assert old.status_code == 410
    assert "withdrawn" in old.get_data(as_text=True) or "wycofany" in old.get_data(as_text=True)
    assert old.headers["Cache-Control"] == "private, no-store"
    assert client.get(new_path).status_code == 200
    history = _history(unit_app, report_id)
    assert history[-1][:4] == ("forwarded", "unit", "zdit", "wgk")


def test_expired_link_is_refused(unit_app):
    from webapp.departments.services import (LinkError, issue_link, link_token, link_url,
                                             resolve_token)
    from webapp.extensions import db
    with unit_app.app_context():
        report, link = dispatched()
        token = link_token(link)
        assert resolve_token(token, now=utcnow() + timedelta(days=29)).id == link.id
        with pytest.raises(LinkError) as info:
            resolve_token(token, now=utcnow() + timedelta(days=31))
        assert info.value.reason == "expired"
        # A link issued 31 days ago (its row expired) is refused over HTTP too.
        old = issue_link(report, "zdit", now=utcnow() - timedelta(days=31), max_age_days=30)
        db.session.commit()
        path = link_url(old).removeprefix("http://127.0.0.1:5000")
    response = unit_app.test_client().get(path)
    assert response.status_code == 410
    assert "expired" in response.get_data(as_text=True) or "wygas" in response.get_data(as_text=True)


def test_tampered_or_forged_tokens_are_refused(unit_app, mailed):
    from webapp.departments.models import DepartmentLink
    from webapp.departments.services import LinkError, resolve_token
    from webapp.extensions import db
    report_id, path = mailed
    token = path.rsplit("/", 1)[1]
    client = unit_app.test_client()
    flipped = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (flipped, token + "x", "garbage", token.replace(".", "", 1)):
        response = client.get(f"/departments/links/{bad}")
        assert response.status_code == 404
        assert "Traceback" not in response.get_data(as_text=True)
    with unit_app.app_context():
        link = db.session.query(DepartmentLink).one()
        forged_key = URLSafeTimedSerializer("not-our-key", salt="department-link")
        ours = URLSafeTimedSerializer(unit_app.config["SECRET_KEY"], salt="department-link")
        for bad in (forged_key.dumps({"l": link.id, "r": report_id, "u": "zdit"}),
                    ours.dumps({"l": link.id, "r": report_id, "u": "wgk"}),      # other unit
                    ours.dumps({"l": link.id, "r": report_id + 1, "u": "zdit"}),  # other report
                    ours.dumps(["not", "a", "dict"])):
            with pytest.raises(LinkError) as info:
                resolve_token(bad)
            assert info.value.reason == "invalid"


def test_post_without_csrf_token_is_refused(unit_app, mailed):
    report_id, path = mailed
    assert unit_app.config.get("WTF_CSRF_ENABLED", True) is True
    client = unit_app.test_client()
    client.get(path)
    response = client.post(path, data={"status": "resolved", "note": "Bez tokenu"})
    assert response.status_code == 400
    assert [h[0] for h in _history(unit_app, report_id)] == ["dispatched"]


def test_originals_only_for_photos_of_the_linked_report(unit_app, smtp_server):
    from tests.conftest import fixture_photo
    from webapp.extensions import db
    from webapp.photos.pipeline import process_photo
    from webapp.photos.services import save_photo
    from webapp.reports.lifecycle import dispatch_report
    original = fixture_photo("derived_lodz_gps_DSCN0025.jpg").read_bytes()
    with unit_app.app_context():
        report = new_report()
        save_photo(process_photo(original, filename="a.jpg"), report=report, position=0)
        other = new_report()
        save_photo(process_photo(original, filename="b.jpg"), report=other, position=0)
        dispatch_report(report, routing=current_routing())
        db.session.commit()
        photo_id, other_photo_id = report.photos[0].id, other.photos[0].id
    path = _mailed_link(unit_app, smtp_server, 1)
    mail_text = smtp_server.messages[0].get_body(("plain",)).get_content()
    assert f"/media/photos/{photo_id}/public.jpg" in mail_text      # public copy in the e-mail
    client = unit_app.test_client()
    page = client.get(path).get_data(as_text=True)
    assert f"/media/photos/{photo_id}/thumb.jpg" in page
    assert f"{path}/photos/{photo_id}/original" in page
    response = client.get(f"{path}/photos/{photo_id}/original")
    assert response.status_code == 200
    assert response.data == original
    assert "no-store" in response.headers["Cache-Control"]
    assert client.get(f"{path}/photos/{other_photo_id}/original").status_code == 404


def test_release_and_revoke_commands(unit_app, smtp_server):
    from webapp.extensions import db
    from webapp.reports.models import Report
    with unit_app.app_context():
        report = new_report(service_code="OTHER", unit="lckzm", waiting=True,
                             email="mieszkaniec@example.org", consent=True)
        db.session.commit()
        report_id = report.id
    runner = unit_app.test_cli_runner()
    result = runner.invoke(args=["reports", "release", str(report_id), "--unit", "wgk"])
    assert result.exit_code == 0, result.output
    printed = LINK_RE.search(result.output).group(1)
    with unit_app.app_context():
        report = db.session.get(Report, report_id)
        assert (report.status, report.agency_responsible) == ("dispatched", "wgk")
    path = _mailed_link(unit_app, smtp_server, 2)   # the unit's e-mail and the resident notice
    recipients = sorted(m["To"] for m in smtp_server.messages)
    assert recipients == ["mieszkaniec@example.org", "zgloszenia@wgk.lodz.example"]
    client = unit_app.test_client()
    assert client.get(printed).status_code == 200
    # Releasing twice is refused with a message, not a traceback.
    again = runner.invoke(args=["reports", "release", str(report_id)])
    assert again.exit_code != 0 and "Error" in again.output
    result = runner.invoke(args=["reports", "revoke-links", str(report_id)])
    assert result.exit_code == 0 and "Revoked 1" in result.output
    assert client.get(printed).status_code == 410
    assert client.get(path).status_code == 410


def test_racing_status_changes_cannot_both_be_recorded(unit_app):
    """Two requests (two gunicorn workers) load the report, one commits first: the other must
    not add a second entry on top of it; it reloads and sees a replay (same change) or is
    refused (a change no longer allowed)."""
    from webapp.departments.models import DepartmentLink
    from webapp.departments.services import change_status_through_link
    from webapp.extensions import db
    from webapp.reports.lifecycle import StatusError
    from webapp.reports.models import Report
    with unit_app.app_context():
        report, link = dispatched()
        rid, lid = report.id, link.id

    def load():
        return db.session.get(Report, rid), db.session.get(DepartmentLink, lid)

    with unit_app.app_context():                      # request A has read the report...
        report_a, link_a = load()
        assert report_a.status == "dispatched" and len(report_a.history) == 1
        with unit_app.app_context():                  # ...when request B commits first
            report_b, link_b = load()
            change_status_through_link(link_b, status="accepted", note="Przyjęto.", target_unit=None,
                                       routing=current_routing())
        change = change_status_through_link(link_a, status="accepted", note="Przyjęto.", target_unit=None,
                                       routing=current_routing())
        assert change.note == "Przyjęto."             # A answers with B's change (a replay)
        with pytest.raises(StatusError):              # and a different note is refused,
            change_status_through_link(link_a, status="accepted", note="Przyjęto!", target_unit=None,
                                       routing=current_routing())
        db.session.rollback()
    assert [h[0] for h in _history(unit_app, rid)] == ["dispatched", "accepted"]


def test_resending_a_status_without_javascript_is_not_an_error(unit_app, mailed):
    report_id, path = mailed
    client = unit_app.test_client()
    data = {"csrf_token": _csrf(client, path), "status": "accepted", "note": "Przyjęto."}
    assert client.post(path, data=data).status_code == 303
    again = client.post(path, data=data)             # the answer was lost; the browser resends
    assert again.status_code == 303
    assert [h[0] for h in _history(unit_app, report_id)] == ["dispatched", "accepted"]


def test_forwarding_is_offered_only_while_it_is_allowed(unit_app, mailed):
    _, path = mailed
    client = unit_app.test_client()
    assert 'id="target_unit"' in client.get(path).get_data(as_text=True)
    client.post(path, data={"csrf_token": _csrf(client, path), "status": "resolved", "note": "OK"})
    page = client.get(path).get_data(as_text=True)
    assert 'id="target_unit"' not in page   # a resolved report may only be reopened
    assert 'value="in_progress"' in page


def test_status_changes_are_rate_limited(make_app, smtp_server):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port, RATELIMIT_ENABLED=True,
                   UNIT_RATE_LIMIT="2 per minute")
    from webapp.departments.services import link_url
    with app.app_context():
        _, link = dispatched()
        path = link_url(link).removeprefix("http://127.0.0.1:5000")
    client = app.test_client()
    token = _csrf(client, path)
    codes = [client.post(path, data={"csrf_token": token, "status": "bogus"}).status_code
             for _ in range(3)]
    assert codes == [422, 422, 429]
