"""The outbox and its worker, against a real SMTP server on loopback (aiosmtpd)."""
from __future__ import annotations

import email
import email.policy
import re
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.smtp import SMTPServer, free_port
from tests.factories import (dispatched, enqueue_plain, latest_link, new_report, outbox,
                             outbox_rows, worker_env)
from webapp.clock import utcnow

ROOT = Path(__file__).resolve().parent.parent
LINK_RE = re.compile(r"http://127\.0\.0\.1:5000(/departments/links/[A-Za-z0-9_.\-]+)")


def test_enqueue_twice_with_the_same_key_makes_one_row(app):
    from webapp.dispatch.models import OutboxMessage
    from webapp.dispatch.services import enqueue
    from webapp.extensions import db
    with app.app_context():
        first = enqueue("test", "same-key", {"to": ["a@example.org"], "subject": "s", "text": "t"})
        pending_twin = enqueue("test", "same-key", {"to": ["b@example.org"]})
        assert pending_twin is first
        db.session.commit()
        committed_twin = enqueue("test", "same-key", {"to": ["c@example.org"]})
        assert committed_twin.id == first.id
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        assert outbox_rows()[0].payload["to"] == ["a@example.org"]


def test_dispatch_email_arrives_with_report_photos_location_and_signed_link(make_app,
                                                                              smtp_server):
    from webapp.dispatch.services import process_due
    app = make_app(**smtp_server.config)
    with app.app_context():
        report, link = dispatched()
        number, expires_year = report.number, link.expires_at.year
        assert process_due() == 1
        [row] = outbox_rows()
        row_id = row.id
        assert (row.status, row.attempts) == ("sent", 1) and row.sent_at is not None
    [msg] = smtp_server.wait_for(1)
    assert smtp_server.envelopes[0][1] == ["zgloszenia@zdit.lodz.example"]
    assert number in msg["Subject"]
    assert "Ubytek w nawierzchni jezdni" in msg["Subject"]
    assert re.fullmatch(rf"<outbox-{row_id}-[0-9a-f]{{16}}@lckzm\.lodz\.example>",
                        msg["Message-ID"])
    assert msg["Auto-Submitted"] == "auto-generated"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for part in (text, html):
        assert number in part
        assert "Głęboka dziura w jezdni" in part
        assert "51.759200, 19.456000" in part
        assert "openstreetmap.org/?mlat=51.759200" in part
        assert "ul. Piotrkowska 104" in part
        assert LINK_RE.search(part)
        assert str(expires_year) in part
    # The link in the e-mail opens the report.
    path = LINK_RE.search(text).group(1)
    page = app.test_client().get(path)
    assert page.status_code == 200
    assert "Głęboka dziura w jezdni" in page.get_data(as_text=True)


def test_without_mail_server_the_message_is_written_as_an_eml_file(make_app, tmp_path):
    from webapp.dispatch.services import message_id, process_due
    outbox_dir = tmp_path / "mail-out"
    app = make_app(MAIL_SERVER=None, MAIL_OUTBOX_DIR=str(outbox_dir))
    with app.app_context():
        report, _ = dispatched()
        number = report.number
        assert process_due() == 1
        [row] = outbox_rows()
        expected = message_id(row).strip("<>").split("@")[0] + ".eml"
    files = sorted(outbox_dir.iterdir())
    assert [f.name for f in files] == [expected]          # no temporary file left behind
    raw = files[0].read_bytes()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["To"] == "zgloszenia@zdit.lodz.example"
    assert number in msg["Subject"]
    link = LINK_RE.search(msg.get_body(("plain",)).get_content()).group(0)
    # Readable in a text editor, and grep finds the link whole (README "Quick start").
    text = raw.decode("utf-8")
    assert "base64" not in text
    assert "Głęboka dziura w jezdni" in text
    assert f"\n{link}\n" in text


def test_two_workers_in_parallel_never_send_a_message_twice(make_app, smtp_server):
    from webapp.dispatch.services import process_due
    app = make_app(**smtp_server.config)
    with app.app_context():
        ids = enqueue_plain(12)
    totals: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker():
        try:
            with app.app_context():
                start.wait()
                sent = 0
                for _ in range(20):
                    sent += process_due(limit=3)
                totals.append(sent)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sum(totals) == 12
    subjects = sorted(m["Subject"] for m in smtp_server.messages)
    assert subjects == sorted(f"Wiadomość {i}" for i in range(12))
    with app.app_context():
        assert [r.status for r in outbox_rows()] == ["sent"] * 12
        assert [r.attempts for r in outbox_rows()] == [1] * 12
        assert [r.id for r in outbox_rows()] == ids


def test_several_worker_processes_never_send_a_message_twice(make_app, smtp_server):
    """Three `flask worker --once` processes on one database, as in production."""
    from webapp.dispatch.services import process_due
    app = make_app(**smtp_server.config)
    smtp_server.delay = 0.02  # each send takes a while, so the processes overlap
    with app.app_context():
        enqueue_plain(30)
    flask = Path(sys.executable).with_name("flask")
    env = worker_env(app)
    procs = [subprocess.Popen([str(flask), "worker", "--once"], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for _ in range(3)]
    outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    with app.app_context():
        process_due(limit=100)  # whatever the three single passes left
        assert [r.status for r in outbox_rows()] == ["sent"] * 30
    subjects = [m["Subject"] for m in smtp_server.messages]
    assert sorted(subjects) == sorted(f"Wiadomość {i}" for i in range(30))


def test_a_claimed_message_is_not_sent_by_another_worker_meanwhile(make_app, smtp_server):
    """Worker A is mid-send (the SMTP server holds its DATA); worker B finds nothing to do. Only
    once A's claim has expired (A presumed dead) does B send again, with the same Message-ID,
    which is the documented at-least-once behaviour."""
    from webapp.dispatch.services import process_due
    from webapp.extensions import db
    app = make_app(**smtp_server.config, OUTBOX_LOCK_SECONDS=120)
    with app.app_context():
        enqueue_plain(1)
    smtp_server.gate = threading.Event()
    result = {}

    def worker_a():
        with app.app_context():
            result["a"] = process_due()

    thread = threading.Thread(target=worker_a)
    thread.start()
    try:
        assert smtp_server.holding.wait(10), "worker A never reached the SMTP server"
        with app.app_context():
            assert process_due() == 0                      # B: the row is claimed
            [row] = outbox_rows()
            assert row.status == "pending" and row.locked_until is not None
            # A "crashed" worker's claim expires; then B sends again.
            later = utcnow() + timedelta(seconds=121)
            worker_b = threading.Thread(target=lambda: result.setdefault(
                "b", _in_context(app, lambda: process_due(now=later))))
            worker_b.start()
            # Open the gate only once B has claimed the row too (both are then mid-send).
            deadline = time.monotonic() + 10
            while outbox_rows()[0].attempts < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            db.session.rollback()
    finally:
        smtp_server.gate.set()
    thread.join(20)
    worker_b.join(20)
    assert result == {"a": 1, "b": 1}
    first, second = smtp_server.wait_for(2)
    assert first["Message-ID"] == second["Message-ID"]
    with app.app_context():
        [row] = outbox_rows()
        assert row.status == "sent" and row.attempts == 2


def _in_context(app, fn):
    with app.app_context():
        return fn()


def test_smtp_down_keeps_the_message_pending_with_backoff_then_sends(make_app):
    from webapp.dispatch.services import process_due
    server = SMTPServer(port=free_port())           # not started: connection refused
    app = make_app(**server.config, OUTBOX_BACKOFF_SECONDS=60)
    with app.app_context():
        report, _ = dispatched()
        now = utcnow()
        assert process_due(now=now) == 0
        [row] = outbox_rows()
        assert (row.status, row.attempts) == ("pending", 1)
        assert row.last_error and "Connection" in row.last_error
        assert row.locked_until is None
        # Back-off with jitter: between half and all of the 60 s base after the first failure.
        assert now + timedelta(seconds=30) <= row.next_attempt_at <= now + timedelta(seconds=60)
        retry_at = row.next_attempt_at
        assert process_due(now=now + timedelta(seconds=1)) == 0   # not due yet
        assert outbox_rows()[0].attempts == 1
        server.start()
        try:
            assert process_due(now=retry_at) == 1
            [msg] = server.wait_for(1)
            assert report.number in msg["Subject"]
            [row] = outbox_rows()
            assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
        finally:
            server.stop()


def test_backoff_grows_and_the_message_dies_after_max_attempts(make_app, caplog):
    from webapp.dispatch.services import process_due
    server = SMTPServer(port=free_port())           # never started
    app = make_app(**server.config, OUTBOX_MAX_ATTEMPTS=3, OUTBOX_BACKOFF_SECONDS=60,
                   ADMIN_EMAIL=None)  # no alert row beside the dead one
    with app.app_context():
        enqueue_plain(1)
        now = utcnow()
        delays = []
        for _ in range(3):
            process_due(now=now)
            row = outbox_rows()[0]
            if row.status == "pending":
                delays.append(row.next_attempt_at - now)
                now = row.next_attempt_at
        [row] = outbox_rows()
        assert (row.status, row.attempts) == ("dead", 3)
        assert timedelta(seconds=30) <= delays[0] <= timedelta(seconds=60)
        assert timedelta(seconds=60) <= delays[1] <= timedelta(seconds=120)
        assert process_due(now=now + timedelta(days=1)) == 0   # dead stays dead
    assert any("dead" in r.getMessage() for r in caplog.records)


def test_run_worker_once_and_the_flask_worker_command(make_app, smtp_server):
    from webapp.dispatch.worker import run_worker
    app = make_app(**smtp_server.config)
    with app.app_context():
        enqueue_plain(2, prefix="a")
    run_worker(app, once=True)
    assert len(smtp_server.wait_for(2)) == 2
    with app.app_context():
        enqueue_plain(1, prefix="b")
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert len(smtp_server.wait_for(3)) == 3


def test_background_worker_sends_and_stops(make_app, smtp_server):
    from webapp.dispatch.worker import start_background_worker
    app = make_app(**smtp_server.config, WORKER_POLL_SECONDS=0.05)
    thread = start_background_worker(app)
    try:
        assert thread.daemon
        with app.app_context():
            report, _ = dispatched()
            number = report.number
        [msg] = smtp_server.wait_for(1)
        assert number in msg["Subject"]
    finally:
        thread.stop.set()
        thread.join(5)
    assert not thread.is_alive()


@pytest.mark.parametrize("bad", ["", "x" * 161])
def test_enqueue_refuses_a_bad_key(app, bad):
    from webapp.dispatch.services import enqueue
    with app.app_context(), pytest.raises(ValueError):
        enqueue("test", bad, {})


# --------------------------------------------------------------------- batched claims (issue 12)

def test_two_worker_processes_deliver_each_message_exactly_once(make_app, smtp_server, tmp_path):
    """Two `flask worker` processes on one database (SQLite or PostgreSQL), small batches and a
    slow server so their claims interleave: every message reaches the SMTP server exactly once,
    and both workers sent some."""
    from webapp.dispatch.services import message_id
    app = make_app(**smtp_server.config)
    smtp_server.delay = 0.02
    count = 80
    with app.app_context():
        enqueue_plain(count)
    flask = Path(sys.executable).with_name("flask")
    env = {**worker_env(app), "WORKER_BATCH_SIZE": "4", "WORKER_POLL_SECONDS": "0.2"}
    logs = [open(tmp_path / f"worker-{i}.log", "wb") for i in range(2)]  # files: pipes fill up
    procs = [subprocess.Popen([str(flask), "worker"], env=env, cwd=ROOT, stdout=log,
                              stderr=subprocess.STDOUT) for log in logs]
    try:
        smtp_server.wait_for(count, timeout=120)
        deadline = time.monotonic() + 30
        with app.app_context():
            while time.monotonic() < deadline:
                if all(r.status == "sent" for r in outbox_rows()):
                    break
                time.sleep(0.05)
            rows = outbox_rows()
            expected = sorted(message_id(r) for r in rows)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(20)
        for log in logs:
            log.close()
    assert [r.status for r in rows] == ["sent"] * count
    assert [r.attempts for r in rows] == [1] * count
    assert sorted(m["Message-ID"] for m in smtp_server.messages) == expected  # each once
    senders = {r.claimed_by.split(":")[1] for r in rows}       # the pid in the claim token
    assert senders == {str(p.pid) for p in procs}, "one worker did all the work"


def test_an_expired_claim_is_taken_over_and_sent(make_app, smtp_server):
    """A worker that claimed a batch and died (its lease never renewed): the rows stay claimed
    for one lease, then another worker claims and sends them, counting the second attempt."""
    from webapp.dispatch.services import _claim_batch, process_due
    from webapp.extensions import db
    app = make_app(**smtp_server.config, OUTBOX_LOCK_SECONDS=30)
    with app.app_context():
        enqueue_plain(3)
        now = utcnow()
        dead = _claim_batch(10, now, "dead-host:1:abc")   # claimed, never sent
        assert len(dead) == 3
        assert process_due(now=now + timedelta(seconds=29)) == 0
        assert {(r.claimed_by, r.attempts) for r in outbox_rows()} == {("dead-host:1:abc", 1)}
        assert process_due(now=now + timedelta(seconds=31)) == 3
        rows = outbox_rows()
        assert [(r.status, r.attempts) for r in rows] == [("sent", 2)] * 3
        assert all(r.claimed_by != "dead-host:1:abc" for r in rows)
        db.session.remove()
    assert len(smtp_server.wait_for(3)) == 3


def test_a_batch_goes_over_one_smtp_connection(make_app, smtp_server):
    from webapp.dispatch.services import process_due
    app = make_app(**smtp_server.config)
    with app.app_context():
        enqueue_plain(5)
        assert process_due(limit=5) == 5
    assert len(smtp_server.wait_for(5)) == 5
    assert len(set(smtp_server.peers)) == 1


def test_a_stale_connection_is_reopened_and_the_message_sent(make_app, smtp_server):
    """The server drops the connection between two messages of a batch (an idle time-out, a
    restart): the next message goes over a fresh connection, no attempt is lost."""
    from webapp.dispatch import mail
    app = make_app(**smtp_server.config)
    with app.app_context():
        with mail.Mailer() as mailer:
            first = email.message.EmailMessage()
            first["To"], first["Subject"] = "a@example.org", "pierwsza"
            first.set_content("1")
            mailer.send(first)
            smtp_server.stop()
            smtp_server.start()                      # the old connection is gone
            second = email.message.EmailMessage()
            second["To"], second["Subject"] = "b@example.org", "druga"
            second.set_content("2")
            mailer.send(second)
    assert [m["Subject"] for m in smtp_server.wait_for(2)] == ["pierwsza", "druga"]


def test_the_worker_waits_for_the_next_due_message_not_a_fixed_poll(make_app, smtp_server):
    """Nothing due: the loop sleeps until the earliest back-off ends, not WORKER_POLL_SECONDS
    (30 s here); a temporary refusal with 1 s of back-off is retried within seconds."""
    from webapp.dispatch.worker import run_worker
    app = make_app(**smtp_server.config, WORKER_POLL_SECONDS=30, OUTBOX_BACKOFF_SECONDS=1)
    smtp_server.rcpt_answers["u0@example.org"] = "451 4.3.0 Try later"
    with app.app_context():
        enqueue_plain(1)
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(app,), kwargs={"stop": stop})
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not smtp_server.refused and time.monotonic() < deadline:
            time.sleep(0.02)
        assert smtp_server.refused, "the first attempt never reached the server"
        smtp_server.rcpt_answers.clear()
        assert len(smtp_server.wait_for(1, timeout=10)) == 1
    finally:
        stop.set()
        thread.join(20)
    assert not thread.is_alive()


def test_an_email_is_written_byte_for_byte_as_the_classic_email_policy_writes_it(app):
    # The worker's policy writes most headers as they are instead of through email.header:
    # what goes on the wire must not change (non-ASCII, long, folded and odd headers).
    from webapp.dispatch.models import OutboxMessage
    from webapp.dispatch.services import build_message
    classic = email.policy.compat32.clone(max_line_length=998)
    long_url = "<https://lckzm.lodz.example/" + "u" * 900 + ">"
    with app.app_context():
        for subject, headers in [
                ("Zgłoszenie ŁDZ-2026-000123: ubytek w nawierzchni " * 3, {}),
                ("Report 12: Accepted", {"List-Unsubscribe": long_url, "X-Empty": "",
                                         "X-Spaces": "  a \t b  ", "X-Long": "x" * 990,
                                         "X-Word": "=?utf-8?q?not_encoded_by_us?="}),
                ("Łódź " + "ż" * 300, {"X-LCKzM-Report": "12"})]:
            row = OutboxMessage(id=7, kind="dispatch", dedupe_key="k", created_at=utcnow(),
                                payload={"to": ["Jan Żółw <jan@example.org>"],
                                         "subject": subject, "text": "Treść ąę\n",
                                         "html": "<p>Treść</p>", "headers": headers})
            msg = build_message(row)
            ours = msg.as_bytes()  # the first flatten also fixes the MIME boundary
            assert ours == msg.as_bytes(policy=classic)
            assert msg.as_string() == msg.as_string(policy=classic)
