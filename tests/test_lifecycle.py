"""The report lifecycle: allowed status changes, history, forwarding and resident notices.

Real database and the shipped routing.toml (units "zdit", "wgk", ...); no HTTP here.
"""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.factories import dispatched, latest_link, new_report, outbox
from webapp.clock import utcnow
from webapp.routing.services import current_routing


def test_dispatch_report_records_history_link_and_email_in_the_callers_transaction(app):
    from webapp.departments.models import DepartmentLink
    from webapp.extensions import db
    from webapp.reports.lifecycle import dispatch_report
    from webapp.reports.models import Report, StatusChange
    with app.app_context():
        report = new_report()
        change = dispatch_report(report, routing=current_routing())
        link = latest_link(report)
        assert report.status == change.status == "dispatched"
        assert link.unit_id == "zdit" and link.report_id == report.id
        assert link.expires_at - link.created_at == timedelta(days=30)
        assert report.history == [change]
        assert (change.status, change.actor_kind, change.agency_responsible) == \
            ("dispatched", "system", "zdit")
        [message] = outbox()
        assert message.payload["to"] == ["zgloszenia@zdit.lodz.example"]
        # Nothing was committed: a rollback leaves no trace of any of it.
        db.session.rollback()
        for model in (Report, StatusChange, DepartmentLink):
            assert db.session.scalar(select(func.count()).select_from(model)) == 0
        assert outbox() == []


def test_new_report_dispatch_sends_no_resident_notice_but_release_does(app):
    from webapp.extensions import db
    from webapp.reports.lifecycle import dispatch_report
    with app.app_context():
        fresh = new_report(email="mieszkaniec@example.org", consent=True)
        dispatch_report(fresh, routing=current_routing())
        waiting = new_report(email="mieszkaniec@example.org", consent=True, waiting=True)
        dispatch_report(waiting, routing=current_routing(), actor_kind="operator", actor_id="anna")
        db.session.commit()
        notices = outbox("status_notice")
        assert [n.payload["report_id"] for n in notices] == [waiting.id]
        assert waiting.history[-1].actor_id == "anna"


def test_dispatch_refuses_a_report_already_in_progress(app):
    from webapp.reports.lifecycle import StatusError, dispatch_report
    with app.app_context():
        report = new_report(status="in_progress", waiting=True)
        with pytest.raises(StatusError):
            dispatch_report(report, routing=current_routing())


def test_resolved_records_the_unit_the_time_in_utc_and_the_note(app):
    from webapp.extensions import db
    from webapp.reports.lifecycle import set_status
    with app.app_context():
        report, _ = dispatched()
        before = utcnow()
        change = set_status(report, "resolved", routing=current_routing(), actor_kind="unit", actor_id="zdit",
                            note="  Ubytek załatany.  ")
        db.session.commit()
        db.session.expire_all()
        assert report.status == "resolved" and report.status_enum.open311 == "closed"
        last = report.history[-1]
        assert last.id == change.id
        assert (last.status, last.actor_kind, last.actor_id, last.note) == \
            ("resolved", "unit", "zdit", "Ubytek załatany.")
        assert last.created_at.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=1) <= last.created_at <= utcnow()
        assert report.updated_at == last.created_at


@pytest.mark.parametrize("status, note, target, field", [
    ("rejected", "", None, "note"),
    ("rejected", "   ", None, "note"),
    ("forwarded", "", None, "target_unit"),
    ("forwarded", "", "zdit", "target_unit"),          # the same unit
    ("forwarded", "", "no-such-unit", "target_unit"),
    ("dispatched", "", None, "status"),                 # not for units
    ("awaiting_moderation", "", None, "status"),
    ("bogus", "", None, "status"),
])
def test_refused_changes_name_the_field_and_change_nothing(app, status, note, target, field):
    from webapp.extensions import db
    from webapp.reports.lifecycle import StatusError, set_status
    with app.app_context():
        report, _ = dispatched()
        with pytest.raises(StatusError) as info:
            set_status(report, status, routing=current_routing(), actor_kind="unit", actor_id="zdit", note=note,
                       target_unit=target)
        assert info.value.field == field
        with app.test_request_context():
            assert str(info.value.message)
        db.session.commit()
        assert report.status == "dispatched" and len(report.history) == 1
        assert len(outbox()) == 1


def test_closed_report_reopens_only_with_a_note(app):
    from webapp.extensions import db
    from webapp.reports.lifecycle import StatusError, allowed_next, set_status
    from webapp.reports.models import Status
    with app.app_context():
        report, _ = dispatched()
        set_status(report, "resolved", routing=current_routing(), actor_kind="unit", actor_id="zdit")
        assert allowed_next(report) == [Status.IN_PROGRESS]
        with pytest.raises(StatusError) as info:
            set_status(report, "in_progress", routing=current_routing(), actor_kind="unit", actor_id="zdit")
        assert info.value.field == "note"
        with pytest.raises(StatusError):
            set_status(report, "accepted", routing=current_routing(), actor_kind="unit", actor_id="zdit", note="x")
        set_status(report, "in_progress", routing=current_routing(), actor_kind="unit", actor_id="zdit",
                   note="Nawierzchnia znów się zapadła.")
        db.session.commit()
        assert [c.status for c in report.history] == ["dispatched", "resolved", "in_progress"]


def test_a_unit_cannot_act_on_a_report_of_another_unit(app):
    from webapp.reports.lifecycle import StatusError, set_status
    with app.app_context():
        report, _ = dispatched()
        with pytest.raises(StatusError):
            set_status(report, "accepted", routing=current_routing(), actor_kind="unit", actor_id="wgk")


def test_forwarding_moves_the_report_revokes_old_links_and_dispatches_to_the_new_unit(app):
    from webapp.departments.services import LinkError, link_token, resolve_token
    from webapp.extensions import db
    from webapp.reports.lifecycle import set_status
    with app.app_context():
        report, old_link = dispatched()
        old_token = link_token(old_link)
        change = set_status(report, "forwarded", routing=current_routing(), actor_kind="unit", actor_id="zdit",
                            note="Teren gminny poza pasem drogowym.", target_unit="wgk")
        db.session.commit()
        assert report.agency_responsible == "wgk" and report.status == "forwarded"
        assert (change.actor_id, change.agency_responsible) == ("zdit", "wgk")
        with pytest.raises(LinkError) as info:
            resolve_token(old_token)
        assert info.value.reason == "revoked"
        dispatches = outbox("dispatch")
        assert [d.payload["to"] for d in dispatches] == [["zgloszenia@zdit.lodz.example"],
                                                         ["zgloszenia@wgk.lodz.example"]]
        assert "Teren gminny poza pasem drogowym." in dispatches[1].payload["text"]
        # The new unit may work on it; the old one may not.
        set_status(report, "accepted", routing=current_routing(), actor_kind="unit", actor_id="wgk")


@pytest.mark.parametrize("email, consent, expected", [
    ("mieszkaniec@example.org", True, 1),
    ("mieszkaniec@example.org", False, 0),
    (None, False, 0),
])
def test_resident_notice_only_with_email_and_consent(app, email, consent, expected):
    from webapp.extensions import db
    from webapp.reports.lifecycle import set_status
    from webapp.reports.services import tracking_url
    with app.app_context():
        report, _ = dispatched(email=email, consent=consent)
        set_status(report, "rejected", routing=current_routing(), actor_kind="unit", actor_id="zdit",
                   note="Droga prywatna, nie zarządzamy nią.")
        db.session.commit()
        notices = outbox("status_notice")
        assert len(notices) == expected
        if expected:
            payload = notices[0].payload
            assert payload["to"] == [email]
            assert report.number in payload["subject"]
            with app.test_request_context():
                url = tracking_url(report)
            for part in (payload["text"], payload["html"]):
                assert url in part
                assert "Droga prywatna, nie zarządzamy nią." in part


def test_progress_note_may_repeat_in_progress(app):
    from webapp.extensions import db
    from webapp.reports.lifecycle import StatusError, set_status
    with app.app_context():
        report, _ = dispatched()
        first = set_status(report, "in_progress", routing=current_routing(), actor_kind="unit", actor_id="zdit")
        first.created_at -= timedelta(hours=1)  # not a retried request any more
        with pytest.raises(StatusError):
            set_status(report, "in_progress", routing=current_routing(), actor_kind="unit", actor_id="zdit")
        set_status(report, "in_progress", routing=current_routing(), actor_kind="unit", actor_id="zdit",
                   note="Zamówiono asfalt.")
        db.session.commit()
        assert [c.note for c in report.history] == ["", "", "Zamówiono asfalt."]


def test_a_retried_status_change_is_recorded_once(app):
    """A double tap or a phone resending after a lost answer must not add a second entry, nor
    turn into an error ("resolved cannot become resolved")."""
    from webapp.extensions import db
    from webapp.reports.lifecycle import set_status
    with app.app_context():
        report, _ = dispatched(email="jan@example.org", consent_version="2024-04-16")
        first = set_status(report, "resolved", routing=current_routing(), actor_kind="unit", actor_id="zdit", note="Gotowe.")
        db.session.commit()
        again = set_status(report, "resolved", routing=current_routing(), actor_kind="unit", actor_id="zdit", note="Gotowe.")
        db.session.commit()
        assert again.id == first.id
        assert [c.status for c in report.history] == ["dispatched", "resolved"]
        assert len(outbox("status_notice")) == 1
