"""Push notifications asked for on the report form, in real headless Chromium: the choice is
ticked (the permission prompt comes with the tick) on a draft written offline; once the draft
is sent, by the page or by the service worker's Background Sync with the page closed, this
browser is subscribed and registered for the new report at the server; then a status change
reaches the local push service (tests/pushservice.py), signed with the app's VAPID key and
decrypted with the subscription's keys.

What is not real here: the browser's own push service registration. ``pushManager.subscribe``
asks the browser vendor's push service (FCM for Chromium) for an endpoint, and this machine
has no internet (Chromium answers "permission denied"). So ``PushManager.prototype.subscribe`` /
``getSubscription`` are replaced, in the page (init script) and in the service worker (its
script, routed), by a stand-in that answers like the browser would: it fails while offline,
checks the application server key is the app's, and returns a subscription at the local push
service with keys whose private half the test holds. Everything after that is the app's own
code and the real protocols.
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from tests.browser.axe import axe_violations
from tests.browser.waiting import wait_until
from tests.pushservice import PushService

SERVICE_CODE = "ROAD_POTHOLE"
CHOICE = "Notify me on this phone about status changes"

# Installed before the app's scripts: see the module docstring. `self` is the window in a page
# and the worker's global in the service worker.
STUB = """
(function (g) {
  var SUB = %(subscription)s, KEY = %(key)s, subscribed = false;
  g.__pushLog = [];
  function b64url(key) {
    var bytes = new Uint8Array(key instanceof ArrayBuffer ? key : key.buffer);
    return btoa(String.fromCharCode.apply(null, bytes)).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  }
  function made() {
    return { endpoint: SUB.endpoint, expirationTime: null, options: { userVisibleOnly: true },
             toJSON: function () { return JSON.parse(JSON.stringify(SUB)); },
             unsubscribe: function () { subscribed = false; return Promise.resolve(true); } };
  }
  // Like the real one, it needs the network (a request to the app's origin stands in for the
  // push service; navigator.onLine lags behind the emulated connection in the worker).
  PushManager.prototype.subscribe = function (options) {
    return fetch("/push/key", { cache: "no-store" }).then(function () { return true; }, function () { return false; })
      .then(function (online) {
        g.__pushLog.push(online ? "subscribe" : "subscribe offline");
        if (!online) throw new DOMException("Registration failed - push service not available", "AbortError");
        if (!options || !options.userVisibleOnly || !options.applicationServerKey || b64url(options.applicationServerKey) !== KEY)
          throw new DOMException("not the application server key", "InvalidAccessError");
        subscribed = true;
        return made();
      });
  };
  PushManager.prototype.getSubscription = function () { return Promise.resolve(subscribed ? made() : null); };
})(self);
"""


@pytest.fixture
def live_server_config():
    # The local push service is plain http on loopback.
    return {"PUSH_ALLOW_HTTP": True, "PUSH_ALLOWED_HOSTS": ["127.0.0.1"]}


@pytest.fixture
def push_service(live_server):
    service = PushService(expected_key=live_server.app.extensions["push"]["public_key"]).start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def phone(push_service, live_server):
    """The browser's subscription at the local push service, and the stand-in script for it."""
    browser = push_service.browser()
    stub = STUB % {"subscription": json.dumps(browser.subscription()),
                   "key": json.dumps(live_server.app.extensions["push"]["public_key"])}
    return browser, stub


# ---- helpers ---------------------------------------------------------------------------------

def wait_js(page, expression: str, timeout_s: float = 20.0):
    wait_until(page, lambda: page.evaluate(expression), timeout_s, what=expression)


def controlled(page):
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    wait_js(page, "navigator.serviceWorker.controller !== null")


def stub_in_service_worker(context, stub: str):
    """Serve /sw.js with the stand-in in front of it (the app's script unchanged after it)."""
    def handler(route):
        try:
            response = route.fetch()
        except Exception:  # noqa: BLE001 - offline: the update check fails as it would
            route.abort()
            return
        route.fulfill(response=response, body=stub + response.text())
    context.route("**/sw.js", handler)


def fill_report(page):
    page.select_option("#service_code", SERVICE_CODE)
    page.fill("#description", "Street light out at the tram stop, the whole stop is dark.")
    page.fill("#lat", "51.7592")
    page.fill("#long", "19.4560")


def subscriptions(app) -> list[dict]:
    from webapp.extensions import db
    from webapp.push.models import PushSubscription
    from webapp.reports.models import Report
    with app.app_context():
        rows = db.session.execute(select(PushSubscription, Report).join(
            Report, Report.id == PushSubscription.report_id)).all()
        found = [{"report": r.number, "client_id": r.client_id, "endpoint": s.endpoint,
                  "lang": s.lang, "p256dh": s.p256dh} for s, r in rows]
        db.session.remove()
        return found


def change_status_and_deliver(app, client_id: str) -> None:
    """A unit's public status change; the outbox sends its push messages (in this process)."""
    from webapp.dispatch.services import process_due
    from webapp.extensions import db
    from webapp.reports.lifecycle import set_status
    from webapp.reports.models import Report
    from webapp.routing.services import current_routing
    with app.app_context():
        report = db.session.scalar(select(Report).where(Report.client_id == client_id))
        target = "dispatched" if report.status == "awaiting_moderation" else "accepted"
        set_status(report, target, actor_kind="unit", actor_id="zdit",
                   note="The unit has the report.", routing=current_routing())
        db.session.commit()
        process_due()
        db.session.remove()


def assert_delivered(push_service, browser, number: str, client_id: str, app) -> None:
    from webapp.reports.services import tracking_token
    push_service.wait_for(1)
    [message] = push_service.for_browser(browser)
    assert message.payload["number"] == number
    assert number in message.payload["title"]
    assert message.payload["lang"] == "en"
    assert message.payload["body"] == "The unit has the report."
    with app.app_context():
        assert message.payload["url"].endswith(f"/t/{tracking_token(client_id)}")


# ---- tests -----------------------------------------------------------------------------------

@pytest.mark.browser
def test_choice_ticked_offline_subscribes_when_the_page_sends_the_draft(page, context, live_server, push_service, phone):
    browser, stub = phone
    # A browser without Background Sync (Firefox, Safari): only the page sends the draft.
    page.add_init_script(stub + "delete ServiceWorkerRegistration.prototype.sync;")
    context.grant_permissions(["notifications"], origin=live_server.url)
    page.goto("/report")
    controlled(page)
    choice = page.get_by_role("checkbox", name=CHOICE)
    wait_until(page, choice.is_visible, what="the push choice")
    assert page.evaluate("Notification.permission") == "granted"   # granted by the test, not asked on load
    assert axe_violations(page) == []

    context.set_offline(True)
    assert page.reload().from_service_worker
    fill_report(page)
    # Keyboard only: Tab reaches it after the e-mail consent's link, Space ticks it.
    page.focus("#consent")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "notify_push"
    page.keyboard.press("Space")
    assert choice.is_checked()
    wait_until(page, lambda: "once the report is sent" in page.inner_text("#notify_push-status"),
               what="the choice's confirmation")
    assert axe_violations(page) == []   # ticked, with its message
    # Subscribing needs the push service: it failed offline; the wish waits in the draft.
    wait_js(page, "window.__pushLog.length === 1")
    assert page.evaluate("window.__pushLog") == ["subscribe offline"]
    wait_js(page, "LckzmOutbox.listDrafts().then(d => d.length === 1 && d[0].fields.notify_push === true && d[0].lang === 'en')")
    page.click("#report-form button[type=submit]")
    wait_js(page, "document.getElementById('outbox-count').textContent === '1'")
    assert subscriptions(live_server.app) == []

    context.set_offline(False)
    wait_until(page, lambda: len(subscriptions(live_server.app)) == 1, what="the push subscription")
    [sub] = subscriptions(live_server.app)
    assert sub["endpoint"] == browser.endpoint and sub["lang"] == "en"
    assert sub["p256dh"] == browser.subscription()["keys"]["p256dh"]
    assert page.evaluate("window.__pushLog") == ["subscribe offline", "subscribe"]
    wait_js(page, "LckzmOutbox.listSent().then(s => s.length === 1 && s[0].push === 'on')")
    wait_until(page, lambda: f"Notifications about report {sub['report']} are on" in page.inner_text("#form-summary"),
               what="the resident is told")

    # A registration retried (a lost answer, the worker and the page both at it) adds nothing.
    page.evaluate("""LckzmOutbox.listSent().then(s => LckzmOutbox.updateSent(s[0].client_id, e => { e.push = 'wanted'; }))
                     .then(() => LckzmOutbox.followAll({csrfUrl: '/csrf-token', keyUrl: '/push/key'}))""")
    wait_js(page, "LckzmOutbox.listSent().then(s => s[0].push === 'on')")
    assert len(subscriptions(live_server.app)) == 1

    change_status_and_deliver(live_server.app, sub["client_id"])
    assert_delivered(push_service, browser, sub["report"], sub["client_id"], live_server.app)


@pytest.mark.browser
def test_choice_on_a_draft_subscribes_from_the_service_worker_with_the_page_closed(page, context, live_server, push_service, phone):
    browser, stub = phone
    stub_in_service_worker(context, stub)
    page.add_init_script(stub)
    context.grant_permissions(["notifications"], origin=live_server.url)
    page.goto("/report")
    controlled(page)
    [worker] = context.service_workers
    assert worker.evaluate("typeof self.__pushLog") == "object"   # the stand-in runs in the worker

    context.set_offline(True)
    page.reload()
    fill_report(page)
    page.get_by_role("checkbox", name=CHOICE).check()
    wait_js(page, "LckzmOutbox.listDrafts().then(d => d.length === 1 && d[0].fields.notify_push === true)")
    page.click("#report-form button[type=submit]")
    wait_js(page, "document.getElementById('outbox-count').textContent === '1'")
    assert page.evaluate("window.__pushLog") == ["subscribe offline"]

    # The app is closed; the connection comes back; the browser fires Background Sync. With
    # no page of the app open, headless Chromium does not notice the emulated connection come
    # back, so the test fires the sync event the browser would (DevTools protocol, from a blank
    # tab of another origin: nothing of the app runs there).
    scope = live_server.url + "/"
    page.close()
    context.set_offline(False)
    blank = context.new_page()
    cdp = context.new_cdp_session(blank)
    found = {}
    cdp.on("ServiceWorker.workerRegistrationUpdated",
           lambda e: found.update({r["scopeURL"]: r["registrationId"] for r in e["registrations"]}))
    cdp.send("ServiceWorker.enable")
    wait_until(blank, lambda: scope in found, what="the service worker registration")
    cdp.send("ServiceWorker.dispatchSyncEvent", {"origin": live_server.url, "registrationId": found[scope],
                                                 "tag": "lckzm-outbox", "lastChance": False})
    wait_until(blank, lambda: len(subscriptions(live_server.app)) == 1, what="the push subscription from the worker")
    assert context.pages == [blank] and blank.url == "about:blank"
    # The app opened again knows this device follows the report.
    again = context.new_page()
    again.goto("/about")
    wait_js(again, "LckzmOutbox.listSent().then(s => s.length === 1 && s[0].push === 'on')")
    assert again.evaluate("LckzmOutbox.listSent().then(s => s[0].push_endpoint)") == browser.endpoint
    [sub] = subscriptions(live_server.app)
    assert sub["endpoint"] == browser.endpoint and sub["lang"] == "en"

    change_status_and_deliver(live_server.app, sub["client_id"])
    assert_delivered(push_service, browser, sub["report"], sub["client_id"], live_server.app)


@pytest.mark.browser
def test_choice_ticked_online_is_registered_after_htmx_sends_and_the_confirmation_says_so(page, context, live_server, push_service, phone):
    browser, stub = phone
    page.add_init_script(stub)
    context.grant_permissions(["notifications"], origin=live_server.url)
    page.goto("/report")
    controlled(page)
    fill_report(page)
    page.get_by_role("checkbox", name=CHOICE).check()
    wait_js(page, "window.__pushLog.length === 1")   # online: subscribed at once, on the tick
    assert page.evaluate("window.__pushLog") == ["subscribe"]
    page.click("#report-form button[type=submit]")
    page.locator("#report-sent").wait_for()
    wait_until(page, lambda: len(subscriptions(live_server.app)) == 1, what="the push subscription")
    [sub] = subscriptions(live_server.app)
    assert sub["endpoint"] == browser.endpoint
    # The confirmation's own notification box shows it on (and offers to stop).
    wait_until(page, lambda: page.is_visible("#report-sent button.push-off"), what="the box says on")
    assert "Notifications on this device are on" in page.inner_text("#report-sent .push-status")
    assert not page.is_visible("#report-sent button.push-on")


@pytest.mark.browser
def test_without_push_support_the_form_does_not_offer_the_choice(page, live_server):
    page.add_init_script("delete window.PushManager;")
    page.goto("/report")
    controlled(page)
    assert page.locator("#field-notify_push").is_hidden()
    assert page.evaluate("Notification.permission") == "default"   # nothing asked on load


@pytest.mark.browser
def test_choice_refused_permission_is_unticked_and_says_why(page, live_server):
    # No permission granted: the browser's prompt is answered "no" (headless cannot show one).
    page.goto("/report")
    controlled(page)
    choice = page.get_by_role("checkbox", name=CHOICE)
    wait_until(page, choice.is_visible, what="the push choice")
    choice.click()   # not check(): the box is unticked again at once, which check() would refuse
    wait_until(page, lambda: "blocks notifications" in page.inner_text("#notify_push-status"),
               what="the explanation")
    assert not choice.is_checked()
    fill_report(page)
    wait_js(page, "LckzmOutbox.listDrafts().then(d => d.length === 1 && d[0].fields.description !== '' "
                  "&& d[0].fields.notify_push === false)")
