"""The "status notices to residents" switch (regulamin pkt 10) through real HTTP: an admin
turns it off in the panel, an approval then queues the unit's dispatch e-mail but no e-mail or
push to the resident, the public pages say so, the audit trail has the flip; turning it back on
restores the notices."""
from __future__ import annotations

from sqlalchemy import select

from tests.factories import make_report
from tests.helpers import csrf_token, staff_client


def _flip(admin, enabled: bool):
    token = csrf_token(admin, "/admin/switches")
    return admin.post("/admin/switches", data={"csrf_token": token, "name": "notices",
                                               "enabled": "1" if enabled else "0"})


def _approve(client, report_id):
    token = csrf_token(client, "/admin/queue")
    return client.post(f"/admin/reports/{report_id}/approve", data={"csrf_token": token},
                       headers={"HX-Request": "true"})


def _waiting_with_email_and_push(app) -> int:
    """A report awaiting moderation whose resident consented to e-mail and subscribed to push."""
    from webapp.extensions import db
    from webapp.push.models import PushSubscription
    with app.app_context():
        report = make_report(service_code="TRAFFIC_LIGHT", status="awaiting_moderation",
                             email="mieszkanka@example.org",
                             history=[("awaiting_moderation", "", "system", None, "zdit", 0)])
        db.session.add(PushSubscription(report_id=report.id, lang="pl", p256dh="k" * 87,
                                        auth="a" * 22,
                                        endpoint="https://fcm.googleapis.com/fcm/send/x"))
        db.session.commit()
        return report.id


def _kinds(app, report_id) -> list[str]:
    from webapp.dispatch.models import OutboxMessage
    from webapp.extensions import db
    with app.app_context():
        return sorted(db.session.scalars(select(OutboxMessage.kind).where(
            OutboxMessage.report_id == report_id)))


def test_switching_notices_off_stops_resident_mail_and_push_but_not_the_unit(make_app):
    from webapp.audit.models import AuditEntry
    from webapp.extensions import db
    app = make_app()
    admin, _, _ = staff_client(app, "admin@lodz.example", "admin")
    switches_page = admin.get("/admin/switches").get_data(as_text=True)
    assert "Powiadomienia o statusie dla mieszkańców (e-mail i push)" in switches_page

    assert _flip(admin, False).status_code == 303
    assert "Powiadomienia o statusie dla mieszkańców (e-mail i push): <strong>wyłączone</strong>" \
        in admin.get("/admin/switches").get_data(as_text=True)
    home = app.test_client().get("/").get_data(as_text=True)
    assert 'class="site-banner"' in home and "Powiadomienia o zmianach statusu" in home
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(
            AuditEntry.action == "switch.set", AuditEntry.object_id == "notices")).one()
        assert entry.before == {"enabled": True} and entry.after == {"enabled": False}
        assert entry.actor_label == "admin@lodz.example"

    quiet = _waiting_with_email_and_push(app)
    assert _approve(admin, quiet).status_code == 200
    assert _kinds(app, quiet) == ["dispatch"], "the unit gets its e-mail, the resident nothing"
    # The change is public all the same.
    page = app.test_client().get(f"/reports/{quiet}").get_data(as_text=True)
    assert "Przekazane" in page or "przekazane" in page

    assert _flip(admin, True).status_code == 303
    assert "Powiadomienia o zmianach statusu" not in app.test_client().get("/").get_data(as_text=True)
    told = _waiting_with_email_and_push(app)
    assert _approve(admin, told).status_code == 200
    assert _kinds(app, told) == ["dispatch", "push", "status_notice"]
    assert _kinds(app, quiet) == ["dispatch"], "no notice is sent later for a quiet change"


def test_the_environment_gives_the_default(make_app):
    app = make_app(EMAIL_NOTICES_ENABLED=False)
    admin, _, _ = staff_client(app, "admin@lodz.example", "admin")
    rid = _waiting_with_email_and_push(app)
    assert _approve(admin, rid).status_code == 200
    assert _kinds(app, rid) == ["dispatch"]
    assert "Powiadomienia o zmianach statusu" in app.test_client().get("/").get_data(as_text=True)
