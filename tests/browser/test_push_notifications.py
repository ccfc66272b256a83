"""Push notifications in real headless Chromium: the "notify me" button (no prompt on load), the
service worker's push handler showing a notification for a payload delivered through the
DevTools protocol, and a click on it opening the report's tracking page."""
from __future__ import annotations

import json
import uuid

from tests.browser.axe import axe_violations
from tests.browser.waiting import wait_until


def tracked_report(app):
    from tests.factories import make_report
    from webapp.extensions import db
    from webapp.reports.services import token_hash, tracking_token
    with app.app_context():
        client_id = str(uuid.uuid4())
        token = tracking_token(client_id)
        report = make_report(client_id=client_id, tracking_token_hash=token_hash(token),
                             history=[("dispatched", "", "system", None, "zdit", 0)])
        number = report.number
        db.session.remove()
    return token, number


def registration_id(cdp, scope: str) -> str:
    found = {}
    cdp.on("ServiceWorker.workerRegistrationUpdated",
           lambda e: found.update({r["scopeURL"]: r["registrationId"] for r in e["registrations"]}))
    cdp.send("ServiceWorker.enable")
    return found


def test_push_message_shows_a_notification_and_a_click_opens_the_tracking_page(page, context, live_server):
    token, number = tracked_report(live_server.app)
    context.grant_permissions(["notifications"], origin=live_server.url)
    page.goto(f"/t/{token}")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    # The button is offered with its consent text; nothing asked for permission on load.
    wait_until(page, lambda: page.is_visible("button.push-on"), what="notify button")
    assert "Your browser will then ask for permission" in page.inner_text(".push-consent")
    assert axe_violations(page) == []   # the notification box and the e-mail form included

    cdp = context.new_cdp_session(page)
    found = registration_id(cdp, live_server.url + "/")
    wait_until(page, lambda: live_server.url + "/" in found, what="service worker registration")
    payload = {"title": f"Report {number}: Accepted", "body": "The unit accepted your report.",
               "url": f"http://127.0.0.1:5000/t/{token}",   # PUBLIC_BASE_URL: another origin here
               "unsubscribe_url": "http://127.0.0.1:5000/push/stop/x", "stop_label": "Stop",
               "tag": "report-1-change-2", "number": number, "lang": "en",
               "icon": "/static/icons/icon-192.png", "badge": "/static/icons/icon-192.png"}
    cdp.send("ServiceWorker.deliverPushMessage", {"origin": live_server.url,
             "registrationId": found[live_server.url + "/"], "data": json.dumps(payload)})
    read = ("navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => ns.map(n => "
            "({title: n.title, body: n.body, tag: n.tag, icon: n.icon, badge: n.badge, data: n.data})))")
    wait_until(page, lambda: len(page.evaluate(read)) == 1, what="a notification")
    [shown] = page.evaluate(read)
    assert shown["title"] == f"Report {number}: Accepted" and shown["tag"] == "report-1-change-2"
    assert shown["body"] == "The unit accepted your report."
    assert shown["icon"].endswith("/static/icons/icon-192.png") and shown["badge"]
    assert shown["data"]["url"] == f"{live_server.url}/t/{token}"    # kept on our own origin

    # A click. Headless Chromium has no notification centre to click in, so the test sends the
    # worker the notificationclick event the browser would send, for the notification it shows.
    # Such a synthetic event carries no user activation, and Chromium then refuses
    # clients.openWindow ("Not allowed to open a window"); so openWindow is replaced by one that
    # records the URL and navigates the open (controlled) tab there instead.
    page.goto("/about")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    [worker] = context.service_workers
    worker.evaluate("""() => {
        self.__opened = [];
        self.clients.openWindow = url => {
            self.__opened.push(url);
            return self.clients.matchAll({type: 'window'}).then(cs => cs[0].navigate(url));
        };
        return self.registration.getNotifications().then(ns => {
            self.dispatchEvent(new NotificationEvent('notificationclick', {notification: ns[0]}));
        });
    }""")
    wait_until(page, lambda: page.url == f"{live_server.url}/t/{token}", what="the tracking page")
    assert worker.evaluate("self.__opened") == [f"{live_server.url}/t/{token}"]
    assert number in page.inner_text("h1")
    # The click closed the notification.
    assert page.evaluate(read) == []


def test_without_push_support_the_button_says_why_and_offers_email(page, live_server):
    token, _number = tracked_report(live_server.app)
    page.add_init_script("delete window.PushManager;")   # a browser without the Push API
    page.goto(f"/t/{token}")
    wait_until(page, lambda: page.inner_text(".push-status") != "", what="the explanation")
    assert "cannot show notifications" in page.inner_text(".push-status")
    assert "e-mail" in page.inner_text(".push-status")
    assert not page.is_visible("button.push-on")
    # Nothing asked for permission: no click, no prompt.
    assert page.evaluate("Notification.permission") == "default"


def test_on_an_iphone_outside_the_installed_app_the_button_explains_how(browser, live_server):
    token, _number = tracked_report(live_server.app)
    context = browser.new_context(base_url=live_server.url, locale="en-GB", user_agent=(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"))
    try:
        page = context.new_page()
        page.goto(f"/t/{token}")
        wait_until(page, lambda: page.inner_text(".push-status") != "", what="the explanation")
        assert "Add to Home Screen" in page.inner_text(".push-status")
        assert not page.is_visible("button.push-on")
    finally:
        context.close()
