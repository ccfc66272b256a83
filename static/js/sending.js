// Sending the queued reports from the page: when the app opens, when the connection returns,
// on "send now", when a back-off ends; and saying the outcome. The service worker sends the same
// queue through Background Sync and tells the page (pwa.js: lckzm:outbox-changed). The sending
// itself is outbox.js's (one context at a time). Exposed as window.LckzmSending.
(function () {
  "use strict";

  var Outbox = window.LckzmOutbox;
  var Lists = window.LckzmLists;
  var Dom = window.LckzmDom;
  var root = Dom.byId("pwa");
  if (!Outbox || !Lists || !root) return;
  var msg = root.dataset;
  var retryTimer = null;
  var hooks = { renderOutbox: function () { return Promise.resolve(); }, onSent: function () {} };

  function noop() { return null; }

  function requestBackgroundSync() {
    if (!("serviceWorker" in navigator)) return Promise.resolve();
    return navigator.serviceWorker.ready.then(function (registration) {
      if (registration.sync) return registration.sync.register(Outbox.SYNC_TAG);
      return null;
    }).catch(noop);
  }

  // A report is waiting on this device only: ask the browser not to evict its storage under
  // pressure (it may grant it silently, e.g. for an installed app, or refuse).
  function keepStorage() {
    if (!navigator.storage || !navigator.storage.persist) return;
    navigator.storage.persist().catch(noop);
  }

  // Send the queued drafts (all when force, else those whose back-off is over).
  function flush(force) {
    return Outbox.sendAll(options(force)).then(report).catch(noop);
  }

  function options(force) {
    return { csrfUrl: msg.csrfUrl, reportUrl: msg.reportUrl, keyUrl: msg.pushKeyUrl, force: !!force };
  }

  // A report htmx has just sent asked for push: register it now (sendAll does it for the rest).
  function follow() {
    return Outbox.followAll(options(false)).then(function (result) {
      if (result.busy) return null;  // the other context is at it (and tells the page)
      return report(result);
    }).catch(noop);
  }

  // Push registered for reports sent from this device (here or by the worker): tell push.js
  // (the report's notification box, if shown, says "on") and say it once.
  function announcePush(result, parts) {
    (result.followed || []).forEach(function (entry) {
      document.dispatchEvent(new CustomEvent("lckzm:push-followed", {
        detail: { tracking_url: entry.tracking_url, endpoint: entry.push_endpoint } }));
      parts.push(Dom.fmt(msg.msgPushOn, { number: entry.number }));
    });
    (result.unfollowed || []).forEach(function (entry) {
      parts.push(Dom.fmt(msg.msgPushFailed, { number: entry.number }));
    });
  }

  // Say what a round of sending did ({sent, rejected, retry}, from the page or the worker).
  function report(result) {
    result = result || {};
    var parts = [];
    (result.sent || []).forEach(function (entry) { parts.push(Dom.fmt(msg.msgSent, { number: entry.number })); });
    if (result.rejected) parts.push(msg.msgRejected);
    if (result.retry) parts.push(result.reason || msg.msgRetry);  // a switched-off feature says why
    announcePush(result, parts);
    if (parts.length) Dom.say("outbox-status", parts.join(" "));
    if ((result.sent || []).length || (result.followed || []).length || (result.unfollowed || []).length) {
      hooks.onSent(parts.join(" "));
      if ((result.sent || []).length && window.LckzmPwa) window.LckzmPwa.offerInstall();
    }
    scheduleRetry();
    return Promise.all([hooks.renderOutbox(), Lists.renderMyReports()]).then(function () { return result; });
  }

  // Wake up when the earliest back-off ends (the outbox skips drafts whose time has not come).
  function scheduleRetry() {
    clearTimeout(retryTimer);
    Outbox.listDrafts().then(function (drafts) {
      var next = drafts.filter(function (d) { return d.state === "queued" && d.next_try; })
        .map(function (d) { return d.next_try; }).sort()[0];
      if (next) retryTimer = setTimeout(function () { if (navigator.onLine) flush(false); }, Math.max(1000, next - Date.now()));
    }).catch(noop);
  }

  // A draft was just queued: keep it safe on the device and try to send it.
  function queued() {
    keepStorage();
    requestBackgroundSync();
    if (navigator.onLine) flush(true);
  }

  // Start sending for this page. h: {renderOutbox() -> Promise (draws the waiting list),
  // onSent(text) (the page says it where the resident looks)}.
  function start(h) {
    hooks = h;
    if (navigator.onLine) flush(false);  // on app open
    var send = Dom.byId("outbox-send");
    if (send) send.addEventListener("click", function () {
      Dom.say("outbox-status", msg.msgStateSending);
      flush(true);
    });
    window.addEventListener("online", function () { flush(true); });
    document.addEventListener("lckzm:outbox-changed", function (event) { report(event.detail); });
  }

  window.LckzmSending = { start: start, queued: queued, follow: follow };
})();
