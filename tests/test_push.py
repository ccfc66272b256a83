"""Web Push end to end with real protocols: the app's VAPID-signed, aes128gcm-encrypted
messages checked and decrypted by a push service on loopback (tests/pushservice.py)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from tests.factories import make_report
from tests.helpers import csrf_token
from tests.pushservice import PushService
from webapp.clock import utcnow
from webapp.extensions import db

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def push_app(make_app):
    """An app that accepts push endpoints on loopback over http (the test push service)."""
    return make_app(PUSH_ALLOW_HTTP=True, PUSH_ALLOWED_HOSTS=["127.0.0.1"])


@pytest.fixture
def service(push_app):
    server = PushService(expected_key=push_app.extensions["push"]["public_key"]).start()
    try:
        yield server
    finally:
        server.stop()


def tracked_report(**fields):
    """A dispatched report with a working tracking token; returns (report, token)."""
    from webapp.reports.services import token_hash, tracking_token
    client_id = str(uuid.uuid4())
    token = tracking_token(client_id)
    report = make_report(client_id=client_id, tracking_token_hash=token_hash(token),
                         history=[("dispatched", "", "system", None, "zdit", 0)], **fields)
    return report, token


def subscribe(client, token, browser, lang="pl"):
    headers = {"X-CSRFToken": csrf_token(client, f"/t/{token}?lang={lang}")}
    return client.post(f"/t/{token}/push?lang={lang}", json=browser.subscription(), headers=headers)


def change_status(report, status="accepted", note=""):
    from webapp.reports.lifecycle import set_status
    from webapp.routing.services import current_routing
    change = set_status(report, status, actor_kind="unit", actor_id="zdit", note=note,
                        routing=current_routing())
    db.session.commit()
    return change


def push_rows():
    from webapp.dispatch.models import OutboxMessage
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "push")
                                   .order_by(OutboxMessage.id)))


def test_status_change_arrives_signed_encrypted_and_in_the_residents_language(push_app, service):
    from webapp.dispatch.services import process_due
    client = push_app.test_client()
    pl_phone, uk_phone = service.browser(), service.browser()
    with push_app.app_context():
        report, token = tracked_report()
        assert subscribe(client, token, pl_phone, "pl").status_code == 201
        assert subscribe(client, token, uk_phone, "uk").status_code == 201
        change_status(report, "rejected", note="To nie jest pas drogowy miasta.")
        assert process_due() == 2
        number = report.number
    service.wait_for(2)
    [pl] = service.for_browser(pl_phone)
    [uk] = service.for_browser(uk_phone)
    # The service verified the ES256 signature with the app's key and aud = its origin.
    assert pl.claims["aud"] == service.url and pl.claims["sub"].startswith("mailto:")
    assert pl.payload["title"] == f"Zgłoszenie {number}: Odrzucone"
    assert uk.payload["title"] == f"Звернення {number}: Відхилено"
    assert pl.payload["lang"] == "pl" and uk.payload["lang"] == "uk"
    assert pl.payload["body"] == "To nie jest pas drogowy miasta."
    assert pl.payload["url"] == f"http://127.0.0.1:5000/t/{token}"
    assert pl.payload["number"] == number
    assert pl.payload["unsubscribe_url"].startswith("http://127.0.0.1:5000/push/stop/")
    assert pl.headers["Ttl"] == "172800" and pl.headers["Urgency"] == "normal"
    assert len(pl.headers["Topic"]) == 32 and pl.headers["Topic"] != uk.headers["Topic"]


def test_one_phone_follows_several_reports_and_several_phones_one_report(push_app, service):
    from webapp.dispatch.services import process_due
    from webapp.push.models import PushSubscription
    client = push_app.test_client()
    phone, other = service.browser(), service.browser()
    with push_app.app_context():
        first, first_token = tracked_report()
        second, second_token = tracked_report()
        for token in (first_token, second_token):
            assert subscribe(client, token, phone).status_code == 201
        assert subscribe(client, first_token, other).status_code == 201
        assert subscribe(client, first_token, other).status_code == 201  # again: no second row
        assert db.session.scalar(select(func.count()).select_from(PushSubscription)) == 3
        change_status(first)
        change_status(second, "in_progress")
        process_due()
        numbers = {first.number, second.number}
    service.wait_for(3)
    assert {r.payload["number"] for r in service.for_browser(phone)} == numbers
    assert len(service.for_browser(other)) == 1


def test_unsubscribe_from_the_tracking_page_and_from_the_notification_stops_messages(push_app, service):
    from webapp.dispatch.services import process_due
    from webapp.reports.models import Report
    client = push_app.test_client()
    page_phone, link_phone = service.browser(), service.browser()
    with push_app.app_context():
        report, token = tracked_report()
        report_id = report.id
    subscribe(client, token, page_phone)
    subscribe(client, token, link_phone)
    with push_app.app_context():
        change_status(db.session.get(Report, report_id))
        process_due()
    service.wait_for(2)
    link = service.for_browser(link_phone)[0].payload["unsubscribe_url"]
    path = link.removeprefix("http://127.0.0.1:5000")
    page = client.get(path)  # a link preview must not unsubscribe: GET shows a button
    assert page.status_code == 200 and "Zatrzymaj powiadomienia" in page.get_data(as_text=True)
    assert client.post(path, data={"csrf_token": csrf_token(client, path)}).status_code == 200
    assert client.post(path, data={"csrf_token": csrf_token(client, path)}).status_code == 200  # idempotent
    assert client.post(path.replace("/push/stop/", "/push/stop/x"), data={
        "csrf_token": csrf_token(client, path)}).status_code == 404  # forged token
    answer = client.post(f"/t/{token}/push/unsubscribe", json={"endpoint": page_phone.endpoint},
                         headers={"X-CSRFToken": csrf_token(client, f"/t/{token}")})
    assert answer.get_json()["removed"] == 1
    with push_app.app_context():
        change_status(db.session.get(Report, report_id), "in_progress", note="Ekipa jest w drodze.")
        assert push_rows()[-1].payload["notification"]["body"] != "Ekipa jest w drodze."
        assert process_due() == 0
    assert len(service.received) == 2


def test_an_unsubscribe_removes_messages_still_queued(push_app, service):
    from webapp.dispatch.services import process_due
    client = push_app.test_client()
    phone = service.browser()
    with push_app.app_context():
        report, token = tracked_report()
    subscribe(client, token, phone)
    with push_app.app_context():
        change_status(db.session.merge(report))
        assert len(push_rows()) == 1
    answer = client.post(f"/t/{token}/push/unsubscribe", data={"csrf_token": csrf_token(client, f"/t/{token}")})
    assert answer.status_code == 303
    with push_app.app_context():
        assert push_rows() == [] and process_due() == 0
    assert service.received == []


def test_410_from_the_push_service_deletes_the_subscription(push_app, service):
    from webapp.dispatch.services import process_due
    from webapp.push.models import PushSubscription
    client = push_app.test_client()
    phone = service.browser()
    service.answer(phone.endpoint.rsplit("/", 1)[1], 410)
    with push_app.app_context():
        report, token = tracked_report()
        subscribe(client, token, phone)
        change_status(report)
        process_due()
        assert db.session.scalar(select(func.count()).select_from(PushSubscription)) == 0
        assert [r.status for r in push_rows()] == ["sent"]   # done: nobody to deliver to
        change_status(report, "in_progress", note="Naprawa.")
        assert len(push_rows()) == 1                         # nothing queued for the gone phone


def test_429_with_retry_after_is_honoured_then_delivered(push_app, service):
    from webapp.dispatch.services import process_due
    client = push_app.test_client()
    phone = service.browser()
    service.answer(phone.endpoint.rsplit("/", 1)[1], 429, {"Retry-After": "600"})
    with push_app.app_context():
        report, token = tracked_report()
        subscribe(client, token, phone)
        change_status(report)
        now = utcnow()
        assert process_due(now=now) == 0
        [row] = push_rows()
        # The outbox's own back-off (60 s) is shorter: the service's 600 s wins.
        assert row.status == "pending" and row.next_attempt_at >= now + timedelta(seconds=600)
        assert process_due(now=now + timedelta(seconds=300)) == 0
        assert process_due(now=row.next_attempt_at + timedelta(seconds=1)) == 1
    assert [status for _, status, _ in service.requests] == [429, 201]


def test_a_subscription_that_keeps_failing_is_dropped(make_app):
    from webapp.dispatch.services import process_due
    from webapp.push.models import PushSubscription
    app = make_app(PUSH_ALLOW_HTTP=True, PUSH_ALLOWED_HOSTS=["127.0.0.1"], PUSH_MAX_FAILURES=3)
    service = PushService(app.extensions["push"]["public_key"]).start()
    try:
        phone = service.browser()
        for _ in range(3):
            service.answer(phone.endpoint.rsplit("/", 1)[1], 503)
        client = app.test_client()
        with app.app_context():
            report, token = tracked_report()
            subscribe(client, token, phone)
            change_status(report)
            now = utcnow()
            for _ in range(3):
                process_due(now=now)
                now += timedelta(days=1)
            assert db.session.scalar(select(func.count()).select_from(PushSubscription)) == 0
            assert process_due(now=now) == 1    # the last try finds nobody: done, nothing sent
        assert [s for _, s, _ in service.requests] == [503, 503, 503]
    finally:
        service.stop()


@pytest.mark.parametrize("mutate, status", [
    (lambda s: s.update(endpoint="http://10.0.0.5/push/x"), 422),          # not a push service
    (lambda s: s.update(endpoint="file:///etc/passwd"), 422),
    (lambda s: s["keys"].update(p256dh="AAAA"), 422),                        # not a P-256 point
    (lambda s: s["keys"].update(auth="not base64 !!"), 422),
    (lambda s: s.pop("keys"), 422),
])
def test_bad_subscriptions_are_refused_with_a_message(push_app, service, mutate, status):
    client = push_app.test_client()
    with push_app.app_context():
        report, token = tracked_report()
    body = service.browser().subscription()
    mutate(body)
    answer = client.post(f"/t/{token}/push", json=body,
                         headers={"X-CSRFToken": csrf_token(client, f"/t/{token}")})
    assert answer.status_code == status and answer.get_json()["error"]
    assert client.post(f"/t/{token}/push", json=service.browser().subscription()).status_code == 400  # no CSRF
    for garbage in (b"not json", b"[1, 2]", b'{"endpoint": ' + b'"' + b"x" * 5000 + b'"}'):
        answer = client.post(f"/t/{token}/push", data=garbage, content_type="application/json",
                             headers={"X-CSRFToken": csrf_token(client, f"/t/{token}")})
        assert answer.status_code == 422
    assert client.post("/t/nope/push", json=service.browser().subscription(),
                       headers={"X-CSRFToken": csrf_token(client, f"/t/{token}")}).status_code == 404


def test_vapid_key_is_made_once_shared_by_processes_and_served(make_app, tmp_path):
    from webapp.push.keys import KEY_FILE
    instance = tmp_path / "inst"
    code = ("import sys; from pathlib import Path; from webapp.push.keys import ensure_key_file, "
            "public_key_b64; print(public_key_b64(ensure_key_file(Path(sys.argv[1])).read_bytes()))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(instance)], cwd=ROOT,
                              stdout=subprocess.PIPE) for _ in range(4)]
    keys = {p.communicate(timeout=60)[0].decode().strip() for p in procs}
    assert len(keys) == 1 and (instance / KEY_FILE).stat().st_mode & 0o077 == 0
    app = make_app(INSTANCE_PATH=str(instance))
    [key] = keys
    assert app.test_client().get("/push/key").get_json() == {"publicKey": key}
    result = app.test_cli_runner().invoke(args=["push", "init-keys"])
    assert key in result.output      # existing key kept
    assert len(list(instance.glob(".vapid*"))) == 0


def _worker_env(app, **extra) -> dict:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args", {}).get("options")
    if options:
        url += "?options=" + quote(options)
    return {**os.environ, "FLASK_APP": "webapp", "DATABASE_URL": url,
            "INSTANCE_PATH": app.instance_path, "SECRET_KEY": app.config["SECRET_KEY"],
            "PUBLIC_BASE_URL": app.config["PUBLIC_BASE_URL"], "PUSH_ALLOW_HTTP": "1",
            "PUSH_ALLOWED_HOSTS": "127.0.0.1", "WORKER_POLL_SECONDS": "0.1",
            "OUTBOX_LOCK_SECONDS": "2", **extra}


def test_worker_killed_mid_batch_and_restarted_delivers_each_notification_once(make_app):
    """200 notifications (one status change, 200 phones); a `flask worker` process is killed
    with SIGKILL while sending, another one finishes (the rest of the dead worker's batch once
    its lease expires). Counted per (subscription, change) at the push service: every one
    arrives; only the one message in flight when the worker died may arrive twice, and then with
    the same Topic (collapsed by the push service) and the same tag (shown once by the phone)."""
    from webapp.push.services import subscribe as store_subscription
    app = make_app(PUSH_ALLOW_HTTP=True, PUSH_ALLOWED_HOSTS=["127.0.0.1"], PUSH_MAX_PER_REPORT=500)
    service = PushService(app.extensions["push"]["public_key"]).start()
    service.delay = 0.01
    flask = Path(sys.executable).with_name("flask")
    env = _worker_env(app)
    workers = []
    try:
        with app.test_request_context():
            report, _token = tracked_report()
            for _ in range(200):
                store_subscription(report, service.browser().subscription(), lang="pl")
            change_status(report)
            assert len(push_rows()) == 200
        first = subprocess.Popen([str(flask), "worker"], env=env, cwd=ROOT, start_new_session=True,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        workers.append(first)
        service.wait_for(60, timeout=60)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = len(service.received)
        assert killed_at < 200, "the worker finished before it was killed: make the batch slower"
        second = subprocess.Popen([str(flask), "worker"], env=env, cwd=ROOT, start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        workers.append(second)
        deadline = time.monotonic() + 120
        with app.app_context():
            while time.monotonic() < deadline:
                db.session.expire_all()
                if all(r.status == "sent" for r in push_rows()):
                    break
                time.sleep(0.1)
            assert [r.status for r in push_rows()] == ["sent"] * 200
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=20)
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        service.stop()
    per_key = Counter((r.sub_id, r.payload["tag"]) for r in service.received)
    assert len(per_key) == 200                                   # none lost
    twice = [key for key, n in per_key.items() if n > 1]
    assert max(per_key.values()) <= 2 and len(twice) <= 1        # at most the one in flight
    for sub_id, tag in twice:
        copies = [r for r in service.received if r.sub_id == sub_id]
        assert len({c.headers["Topic"] for c in copies}) == 1
        assert {c.payload["tag"] for c in copies} == {tag}
    print(f"killed after {killed_at} deliveries; delivered twice: {len(twice)}")
