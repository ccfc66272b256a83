// "Notify me on this phone": subscribes this browser to push notifications for one report.
// The permission prompt comes only after the resident clicks the button (never on page load).
// Markup and strings: templates/push/_notify.html (data attributes). Works for the tracking page
// and for the confirmation swapped in by htmx after sending. The notifications themselves are
// shown by the push handlers at the end of static/sw.js.
// Also the same wish on the report form (#notify_push, templates/reports/_form.html), which may
// be ticked offline: the draft keeps it (drafts.js) and outbox.js registers the report once sent.
(function () {
  "use strict";

  var STORE = "lckzm-push:";  // + subscribe URL -> endpoint this browser subscribed with

  function isIOS() {
    return /iPad|iPhone|iPod/.test(navigator.userAgent) ||
      (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
  }

  function installed() {
    return navigator.standalone === true ||
      (window.matchMedia && window.matchMedia("(display-mode: standalone)").matches);
  }

  function supported() {
    return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  }

  function keyBytes(base64url) {
    var padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = window.atob(padded);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function remembered(box) {
    try { return window.localStorage.getItem(STORE + box.dataset.subscribeUrl); } catch (e) { return null; }
  }

  function remember(box, endpoint) {
    try {
      if (endpoint) window.localStorage.setItem(STORE + box.dataset.subscribeUrl, endpoint);
      else window.localStorage.removeItem(STORE + box.dataset.subscribeUrl);
    } catch (e) { /* private mode: the server still knows */ }
  }

  function post(box, url, body) {
    var token = box.querySelector("input[name=csrf_token]");
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json",
                 "X-CSRFToken": token ? token.value : "" },
      body: JSON.stringify(body)
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok) throw new Error(data.error || "");
        return data;
      });
    });
  }

  function show(box, state, message) {
    box.querySelector(".push-on").hidden = state !== "off";
    box.querySelector(".push-off").hidden = state !== "on";
    box.querySelector(".push-status").textContent = message || "";
  }

  function registration() {
    return navigator.serviceWorker.ready;
  }

  function turnOn(box) {
    var on = box.querySelector(".push-on");
    on.disabled = true;
    // The prompt: only here, inside the resident's click.
    Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") throw new Error(box.dataset.msgDenied);
      return registration();
    }).then(function (reg) {
      return reg.pushManager.getSubscription().then(function (existing) {
        return existing || reg.pushManager.subscribe({
          userVisibleOnly: true, applicationServerKey: keyBytes(box.dataset.vapidKey) });
      });
    }).then(function (subscription) {
      return post(box, box.dataset.subscribeUrl, subscription.toJSON()).then(function () {
        remember(box, subscription.endpoint);
        show(box, "on", box.dataset.msgOn);
      });
    }).catch(function (err) {
      show(box, Notification.permission === "denied" ? "none" : "off",
           (err && err.message) || box.dataset.msgError);
    }).then(function () { on.disabled = false; });
  }

  function turnOff(box) {
    var off = box.querySelector(".push-off");
    off.disabled = true;
    registration().then(function (reg) { return reg.pushManager.getSubscription(); }).then(function (sub) {
      // The browser's subscription stays: it may serve other reports. The server forgets it
      // for this report only.
      return post(box, box.dataset.unsubscribeUrl, { endpoint: sub ? sub.endpoint : remembered(box) });
    }).then(function () {
      remember(box, null);
      show(box, "off", box.dataset.msgOff);
    }).catch(function () {
      show(box, "on", box.dataset.msgError);
    }).then(function () { off.disabled = false; });
  }

  function setUp(box) {
    if (box.dataset.pushReady) return;
    box.dataset.pushReady = "1";
    if (isIOS() && !installed()) return show(box, "none", box.dataset.msgIos);
    if (!supported()) return show(box, "none", box.dataset.msgUnsupported);
    if (Notification.permission === "denied") return show(box, "none", box.dataset.msgDenied);
    box.querySelector(".push-on").addEventListener("click", function () { turnOn(box); });
    box.querySelector(".push-off").addEventListener("click", function () { turnOff(box); });
    var mine = remembered(box);
    show(box, "off");
    if (!mine || Notification.permission !== "granted") return;
    registration().then(function (reg) { return reg.pushManager.getSubscription(); }).then(function (sub) {
      if (sub && sub.endpoint === mine) show(box, "on", box.dataset.msgOn);
    });
  }

  function scan() {
    Array.prototype.forEach.call(document.querySelectorAll(".push-notify"), setUp);
    setUpChoice();
  }

  // A report sent from this device was registered (by outbox.js, here or in the worker,
  // announced by sending.js): its notification box, if shown, says so; remembered for later.
  document.addEventListener("lckzm:push-followed", function (event) {
    var detail = event.detail || {};
    if (!detail.tracking_url || !detail.endpoint) return;
    var url = new URL(detail.tracking_url, window.location.href).pathname + "/push";
    try { window.localStorage.setItem(STORE + url, detail.endpoint); } catch (e) { /* private mode */ }
    Array.prototype.forEach.call(document.querySelectorAll(".push-notify"), function (box) {
      if (box.dataset.subscribeUrl === url && box.dataset.pushReady) show(box, "on", box.dataset.msgOn);
    });
  });

  // ---- the report form's choice -------------------------------------------------------------
  // Shown only where push can work. Ticking it is the gesture the permission prompt needs; this
  // browser then subscribes at once if it can (online), else when the report is sent.
  function setUpChoice() {
    var box = document.getElementById("field-notify_push");
    var input = document.getElementById("notify_push");
    if (!box || !input || box.dataset.pushReady) return;
    box.dataset.pushReady = "1";
    if ((isIOS() && !installed()) || !supported()) return;  // stays hidden; e-mail is above it
    box.hidden = false;
    var status = document.getElementById("notify_push-status");
    function say(text) { if (status) status.textContent = text || ""; }
    if (Notification.permission === "denied") {
      input.disabled = true;
      return say(box.dataset.msgDenied);
    }
    input.addEventListener("change", function () {
      if (!input.checked) return say("");
      // The prompt: only here, inside the resident's tick.
      Notification.requestPermission().then(function (permission) {
        if (permission !== "granted") {
          input.checked = false;
          input.dispatchEvent(new Event("input", { bubbles: true }));  // the draft forgets the wish
          return say(box.dataset.msgDenied);
        }
        say(box.dataset.msgWanted);
        // Subscribing needs the push service: offline it fails, and outbox.js tries again
        // once the report is sent.
        return registration().then(function (reg) {
          return reg.pushManager.getSubscription().then(function (existing) {
            return existing || reg.pushManager.subscribe({
              userVisibleOnly: true, applicationServerKey: keyBytes(box.dataset.vapidKey) });
          });
        }).catch(function () { return null; });
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", scan);
  else scan();
  document.addEventListener("htmx:afterSwap", scan);  // the confirmation after sending
})();
