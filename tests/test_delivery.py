"""Delivery that fails (issue 14): permanent SMTP refusals stop at once, temporary ones are
retried; a dead message is visible (`flask outbox list`, `/healthz`, an alert to the
administrator) and fixable (`flask outbox retry`); report pages never claim a delivery that has
not happened; a worker killed mid-batch loses nothing. Against a real SMTP server (aiosmtpd)."""
from __future__ import annotations

import logging
import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.smtp import SMTPServer, free_port
from tests.factories import dispatched, enqueue_plain, outbox_rows, worker_env
from webapp.clock import utcnow

ROOT = Path(__file__).resolve().parent.parent
UNIT_EMAIL = "zgloszenia@zdit.lodz.example"
UNIT_NAME = "Zarząd Dróg i Transportu w Łodzi"
ADMIN = "admin@lckzm.lodz.example"
NO_SUCH_USER = "550 5.1.1 No such user"
TRY_LATER = "451 4.3.0 Try later"


def _wait(condition, timeout: float, what: str):
    """Poll ``condition`` until it returns something truthy (returned) or fail after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def _pages(app, report_id: int, client_id: str, lang: str = "pl") -> tuple[str, str]:
    """The public page and the private tracking page of a report, as HTML."""
    from webapp.reports.services import tracking_url
    client = app.test_client()
    with app.test_request_context():
        track = tracking_url(_Report(client_id), external=False)
    public = client.get(f"/reports/{report_id}?lang={lang}")
    private = client.get(f"{track}?lang={lang}")
    assert public.status_code == 200 and private.status_code == 200
    return public.get_data(as_text=True), private.get_data(as_text=True)


class _Report:
    def __init__(self, client_id):
        self.client_id = client_id


# --------------------------------------------------------------------- permanent / temporary

def test_a_550_refusal_kills_the_message_at_once_and_alerts_the_administrator(make_app,
                                                                              smtp_server,
                                                                              caplog):
    from webapp.dispatch.services import process_due
    smtp_server.rcpt_answers[UNIT_EMAIL] = NO_SUCH_USER
    app = make_app(**smtp_server.config, ADMIN_EMAIL=ADMIN, OUTBOX_MAX_ATTEMPTS=8)
    with app.app_context(), caplog.at_level(logging.WARNING, logger="webapp.dispatch"):
        report, _ = dispatched()
        report_id = report.id
        assert process_due() == 0
        dead, alert = outbox_rows()
        dead_id = dead.id
        assert (dead.status, dead.attempts, dead.kind) == ("dead", 1, "dispatch")
        assert "550" in dead.last_error and "No such user" in dead.last_error
        assert UNIT_EMAIL in dead.last_error
        assert dead.dead_at is not None and dead.report_id == report_id
        # The alert to the administrator is queued in the same transaction, then sent.
        assert (alert.kind, alert.status, alert.payload["to"]) == ("admin_alert", "pending",
                                                                   [ADMIN])
        assert process_due() == 1
    [message] = smtp_server.wait_for(1)
    assert smtp_server.envelopes[0][1] == [ADMIN]
    assert UNIT_EMAIL in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    assert "550 5.1.1 No such user" in text
    assert f"flask outbox retry {dead_id}" in text
    assert f"/reports/{report_id}" in text
    # One error line with a level, naming the message; no bare stderr print.
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "dead" in errors[0].getMessage()
    assert f"outbox message {dead_id} " in errors[0].getMessage()


def test_a_451_refusal_is_retried_with_backoff_and_raises_no_alert(make_app, smtp_server):
    from webapp.dispatch.services import process_due
    smtp_server.rcpt_answers[UNIT_EMAIL] = TRY_LATER
    app = make_app(**smtp_server.config, ADMIN_EMAIL=ADMIN, OUTBOX_BACKOFF_SECONDS=60,
                   OUTBOX_MAX_ATTEMPTS=3)
    with app.app_context():
        dispatched()
        now = utcnow()
        assert process_due(now=now) == 0
        [row] = outbox_rows()
        assert (row.status, row.attempts) == ("pending", 1)
        assert "451" in row.last_error and "Try later" in row.last_error
        assert now + timedelta(seconds=30) <= row.next_attempt_at <= now + timedelta(seconds=60)
        assert row.dead_at is None
        # The server takes it on the next attempt.
        del smtp_server.rcpt_answers[UNIT_EMAIL]
        assert process_due(now=row.next_attempt_at) == 1
        [row] = outbox_rows()
        assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    [message] = smtp_server.wait_for(1)
    assert smtp_server.envelopes == [(smtp_server.envelopes[0][0], [UNIT_EMAIL])]


def test_temporary_failures_die_only_after_max_attempts_then_alert(make_app, smtp_server):
    from webapp.dispatch.services import process_due
    smtp_server.rcpt_answers[UNIT_EMAIL] = TRY_LATER
    app = make_app(**smtp_server.config, ADMIN_EMAIL=ADMIN, OUTBOX_MAX_ATTEMPTS=3)
    with app.app_context():
        dispatched()
        now = utcnow()
        for attempt in (1, 2):
            process_due(now=now)
            [row] = outbox_rows()
            assert (row.status, row.attempts) == ("pending", attempt)
            now = row.next_attempt_at
        process_due(now=now)
        row, alert = outbox_rows()
        assert (row.status, row.attempts) == ("dead", 3)
        assert "451" in row.last_error
        assert alert.kind == "admin_alert" and "451 4.3.0 Try later" in alert.payload["text"]


def test_an_alert_that_dies_raises_no_further_alert(make_app, smtp_server, caplog):
    from webapp.dispatch.services import process_due
    smtp_server.rcpt_answers[UNIT_EMAIL] = NO_SUCH_USER
    smtp_server.rcpt_answers[ADMIN] = NO_SUCH_USER
    app = make_app(**smtp_server.config, ADMIN_EMAIL=ADMIN)
    with app.app_context(), caplog.at_level(logging.ERROR, logger="webapp.dispatch"):
        dispatched()
        for _ in range(3):
            process_due(now=utcnow() + timedelta(days=1))
        rows = outbox_rows()
        assert [(r.kind, r.status) for r in rows] == [("dispatch", "dead"),
                                                      ("admin_alert", "dead")]
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 2
    assert smtp_server.messages == []


@pytest.mark.parametrize("exc, kind", [
    (smtplib.SMTPRecipientsRefused({"a@x.example": (550, b"5.1.1 No such user")}), "permanent"),
    (smtplib.SMTPRecipientsRefused({"a@x.example": (451, b"4.3.0 Try later")}), "temporary"),
    (smtplib.SMTPRecipientsRefused({"a@x.example": (550, b"no"), "b@x.example": (452, b"full")}),
     "temporary"),
    (smtplib.SMTPSenderRefused(553, b"5.7.1 Sender not allowed", "no-reply@x.example"),
     "permanent"),
    (smtplib.SMTPDataError(554, b"5.6.0 Message rejected"), "permanent"),
    (smtplib.SMTPDataError(452, b"4.3.1 Insufficient storage"), "temporary"),
    (smtplib.SMTPAuthenticationError(535, b"5.7.8 Bad credentials"), "temporary"),
    (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), "temporary"),
    (ConnectionRefusedError(111, "Connection refused"), "temporary"),
    (TimeoutError("timed out"), "temporary"),
    (KeyError("to"), "permanent"),
])
def test_failures_are_classified_by_their_smtp_code(exc, kind):
    """5xx about this message stops; 4xx, network trouble and our own login problems (which
    would kill every message at once) are retried."""
    from webapp.dispatch.services import classify_failure
    assert classify_failure(exc) == kind


def test_a_connection_refused_is_temporary(make_app):
    from webapp.dispatch.services import process_due
    server = SMTPServer(port=free_port())  # not started
    app = make_app(**server.config, ADMIN_EMAIL=ADMIN)
    with app.app_context():
        enqueue_plain(1)
        process_due()
        [row] = outbox_rows()
        assert row.status == "pending" and "Connection" in row.last_error


def test_a_partly_refused_message_is_sent_and_names_the_refused_recipient(make_app,
                                                                          smtp_server):
    from webapp.dispatch.services import enqueue, process_due
    from webapp.extensions import db
    smtp_server.rcpt_answers["gone@example.org"] = NO_SUCH_USER
    app = make_app(**smtp_server.config)
    with app.app_context():
        enqueue("test", "two", {"to": ["ok@example.org", "gone@example.org"], "subject": "s",
                                "text": "t"})
        db.session.commit()
        assert process_due() == 1
        [row] = outbox_rows()
        assert row.status == "sent" and "gone@example.org: 550" in row.last_error
    smtp_server.wait_for(1)
    assert smtp_server.envelopes[0][1] == ["ok@example.org"]


# --------------------------------------------------------------------- visible and fixable

def test_outbox_list_and_retry_fix_a_dead_message(make_app, smtp_server):
    from webapp.dispatch.services import process_due
    smtp_server.rcpt_answers[UNIT_EMAIL] = NO_SUCH_USER
    app = make_app(**smtp_server.config, ADMIN_EMAIL=None)  # no alert: nothing but the dead row
    runner = app.test_cli_runner()
    with app.app_context():
        report, _ = dispatched()
        report_id = report.id
        enqueue_plain(1)
        process_due()
        dead, ok = outbox_rows()
        assert (dead.status, ok.status) == ("dead", "sent")
        dead_id, ok_id = dead.id, ok.id
    listing = runner.invoke(args=["outbox", "list", "--dead"])
    assert listing.exit_code == 0, listing.output
    lines = listing.output.splitlines()
    assert len(lines) == 2  # header + the dead one (the sent one is not listed)
    assert lines[1].split()[:6] == [str(dead_id), "dead", "dispatch", UNIT_EMAIL, "1",
                                    str(report_id)]
    assert "550 No such user" in lines[1].replace("5.1.1 ", "")
    everything = runner.invoke(args=["outbox", "list"])
    assert f"{ok_id}" in everything.output and "sent" in everything.output
    assert app.test_client().get("/healthz").get_json() == {
        "status": "ok", "database": "ok", "outbox_dead": 1}

    # A bad replacement address is refused and changes nothing.
    bad = runner.invoke(args=["outbox", "retry", str(dead_id), "--to", "not an address"])
    assert bad.exit_code != 0 and "not an e-mail address" in bad.output
    with app.app_context():
        assert outbox_rows()[0].status == "dead"
    # The unit gave a working address; the operator sends the message there.
    new_address = "biuro@zdit.lodz.example"
    retried = runner.invoke(args=["outbox", "retry", str(dead_id), "--to", new_address])
    assert retried.exit_code == 0, retried.output
    assert "pending again" in retried.output and new_address in retried.output
    with app.app_context():
        row = outbox_rows()[0]
        assert (row.status, row.attempts, row.dead_at) == ("pending", 0, None)
        assert process_due() == 1
        assert outbox_rows()[0].status == "sent"
    assert smtp_server.wait_for(2)[-1]["To"] == new_address
    assert smtp_server.envelopes[-1][1] == [new_address]
    assert app.test_client().get("/healthz").get_json()["outbox_dead"] == 0
    assert runner.invoke(args=["outbox", "list", "--dead"]).output.strip() == \
        "No dead messages."
    # A sent message or an unknown id cannot be retried.
    again = runner.invoke(args=["outbox", "retry", str(dead_id)])
    assert again.exit_code != 0 and "already sent" in again.output
    unknown = runner.invoke(args=["outbox", "retry", "999999"])
    assert unknown.exit_code != 0 and "no outbox message 999999" in unknown.output


def test_a_message_that_dies_again_after_a_retry_alerts_again(make_app, smtp_server):
    from webapp.dispatch.services import process_due, retry
    smtp_server.rcpt_answers[UNIT_EMAIL] = NO_SUCH_USER
    app = make_app(**smtp_server.config, ADMIN_EMAIL=ADMIN)
    with app.app_context():
        dispatched()
        process_due()
        first = outbox_rows()[0].id
        retry(first)
        process_due()
        process_due()
        kinds = [(r.kind, r.status) for r in outbox_rows()]
        assert kinds.count(("admin_alert", "sent")) == 2
        assert outbox_rows()[0].status == "dead"


# --------------------------------------------------------------------- honest report pages

@pytest.mark.parametrize("lang, sending, sent, failed", [
    ("pl", "W trakcie wysyłania do: " + UNIT_NAME, "Wysłane do: " + UNIT_NAME,
     "Nie udało się jeszcze dostarczyć zgłoszenia do: " + UNIT_NAME),
    ("en", "Being sent to " + UNIT_NAME, "Sent to " + UNIT_NAME,
     "We could not deliver this report to " + UNIT_NAME + " yet"),
    ("uk", "Надсилається до: " + UNIT_NAME, "Надіслано до: " + UNIT_NAME,
     "Поки що не вдалося доставити звернення до: " + UNIT_NAME),
])
def test_report_pages_say_sent_only_once_the_email_went_out(make_app, smtp_server, lang,
                                                            sending, sent, failed):
    from webapp.dispatch.services import process_due
    from markupsafe import escape
    app = make_app(**smtp_server.config, ADMIN_EMAIL=ADMIN)
    with app.app_context():
        good, _ = dispatched()
        bad, _ = dispatched(unit="zdit")
        good_ids, bad_ids = (good.id, good.client_id), (bad.id, bad.client_id)
    # Queued, not sent yet: "being sent", never "sent".
    for page in _pages(app, *good_ids, lang=lang):
        assert str(escape(sending)) in page
        assert str(escape(sent)) not in page and str(escape(failed)) not in page
    # The first is accepted by the unit's server, the second refused for good.
    with app.app_context():
        from webapp.dispatch.models import OutboxMessage
        from webapp.extensions import db
        bad_row = db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.report_id == bad_ids[0])).one()
        bad_row.payload = {**bad_row.payload, "to": ["nobody@zdit.lodz.example"]}
        db.session.commit()
        smtp_server.rcpt_answers["nobody@zdit.lodz.example"] = NO_SUCH_USER
        process_due()
    for page in _pages(app, *good_ids, lang=lang):
        assert str(escape(sent)) in page and str(escape(sending)) not in page
    for page in _pages(app, *bad_ids, lang=lang):
        assert str(escape(failed)) in page
        assert str(escape(sent)) not in page and str(escape(sending)) not in page
    # Open311 claims no more than "open" with the agency responsible.
    with app.test_client() as client:
        data = client.get(f"/open311/v2/requests/{bad_ids[0]}.json").get_json()
    assert data[0]["status"] == "open"
    assert data[0]["agency_responsible"] == UNIT_NAME


def test_the_status_label_no_longer_says_sent(make_app):
    app = make_app()
    with app.app_context():
        report, _ = dispatched()
        ids = (report.id, report.client_id)
    for page in _pages(app, *ids, lang="en"):
        assert "Assigned to the responsible unit" in page
        assert "Sent to the responsible unit" not in page


# --------------------------------------------------------------------- leases and dead workers

def test_a_slow_send_keeps_its_claim_past_the_lease(make_app, smtp_server):
    """The sending worker renews its lease, so a second worker does not send the same message
    while the first is still talking to a slow server."""
    from webapp.dispatch.services import process_due
    app = make_app(**smtp_server.config, OUTBOX_LOCK_SECONDS=0.6)
    with app.app_context():
        enqueue_plain(1)
    smtp_server.gate = threading.Event()
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("a", _ctx(app, process_due)))
    thread.start()
    try:
        assert smtp_server.holding.wait(10)
        with app.app_context():
            first = outbox_rows()[0].locked_until
            # Wait until the lease was renewed twice past its first end: A outlived it.
            _wait(lambda: outbox_rows()[0].locked_until > first + timedelta(seconds=1.0), 10,
                  "the lease to be renewed")
            assert utcnow() > first
            assert process_due() == 0          # B finds it still claimed
            assert outbox_rows()[0].attempts == 1
    finally:
        smtp_server.gate.set()
    thread.join(20)
    assert result == {"a": 1}
    assert len(smtp_server.wait_for(1)) == 1
    with app.app_context():
        assert outbox_rows()[0].status == "sent"


def _ctx(app, fn):
    with app.app_context():
        return fn()


def test_the_default_lease_lets_another_worker_take_over_within_30_seconds(make_app):
    app = make_app()
    assert app.config["OUTBOX_LOCK_SECONDS"] + app.config["WORKER_POLL_SECONDS"] <= 30


def test_a_worker_killed_mid_batch_loses_nothing(make_app, smtp_server, tmp_path):
    """`flask worker` is killed with SIGKILL while the SMTP server is taking its third message;
    a second worker started afterwards sends everything, once its dead predecessor's lease on
    the rest of its batch has expired. Only the interrupted one can arrive twice (same
    Message-ID)."""
    app = make_app(**smtp_server.config)
    smtp_server.delay = 0.05
    smtp_server.gate_after = 2          # the third DATA is held until the worker is dead
    smtp_server.gate = threading.Event()
    count = 8
    with app.app_context():
        enqueue_plain(count)
    flask = Path(sys.executable).with_name("flask")
    env = {**worker_env(app), "OUTBOX_LOCK_SECONDS": "2", "WORKER_POLL_SECONDS": "0.1",
           "WORKER_BATCH_SIZE": "20"}
    logs = []

    def start():
        log = open(tmp_path / f"worker-{len(logs)}.log", "wb")  # a file: a pipe could fill up
        logs.append(log)
        return subprocess.Popen([str(flask), "worker"], env=env, cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    first = start()
    second = None
    try:
        assert smtp_server.holding.wait(60), "the first worker never reached its third DATA"
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        killed_at = time.monotonic()
        smtp_server.gate.set()
        with app.app_context():
            rows = outbox_rows()
            claimed = [r.id for r in rows if r.status == "pending" and r.locked_until]
            assert [r.status for r in rows].count("sent") == 2
        # The killed worker claimed the whole batch: it still holds the six it had not sent.
        assert len(claimed) == count - 2
        second = start()
        _wait(lambda: _ctx(app, lambda: all(r.status == "sent" for r in outbox_rows())), 60,
              "every message to be sent")
        took = time.monotonic() - killed_at
    finally:
        smtp_server.gate.set()
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(10)
        for log in logs:
            log.close()
    with app.app_context():
        from webapp.dispatch.services import message_id
        rows = outbox_rows()
        expected = {message_id(row) for row in rows}
        # The rows the dead worker held were claimed again and sent by the second one.
        assert [r.attempts for r in rows if r.id in claimed] == [2] * len(claimed)
        in_flight = message_id(rows[2])
    received = [m["Message-ID"] for m in smtp_server.messages]
    assert set(received) == expected                    # none lost
    twice = {m for m in received if received.count(m) > 1}
    assert twice <= {in_flight}                         # at most the interrupted one twice
    assert took < 30, f"the second worker needed {took:.1f} s"
