// Small progressive enhancements for server-rendered pages. No inline scripts (strict CSP).
(function () {
  "use strict";

  var Dom = window.LckzmDom;

  // "Use my location": fill the coordinates from the browser's geolocation.
  function setupLocate(root) {
    var button = root.querySelector("#use-location");
    if (!button || button.dataset.bound) return;
    button.dataset.bound = "1";
    var status = root.querySelector("#location-status");
    if (!("geolocation" in navigator)) { button.hidden = true; return; }
    button.addEventListener("click", function () {
      status.textContent = button.dataset.locating;
      navigator.geolocation.getCurrentPosition(function (pos) {
        var lat = pos.coords.latitude.toFixed(6), long = pos.coords.longitude.toFixed(6);
        Dom.inCity(lat, long).then(function (inside) {
          if (inside === false) {
            // Said at once, not on sending; the fields are left as they were.
            status.textContent = Dom.fmt(button.dataset.outside, { lat: Number(lat).toFixed(5), long: Number(long).toFixed(5) });
            return;
          }
          // With input/change events: the map's marker follows, the draft is saved.
          Dom.setPosition(root, lat, long, "device");
          status.textContent = button.dataset.found.replace("{m}", Math.round(pos.coords.accuracy));
        });
      }, function () {
        status.textContent = button.dataset.denied;
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    });
    ["lat", "long"].forEach(function (id) {
      var input = root.querySelector("#" + id);
      if (input) input.addEventListener("input", function () { root.querySelector("#location_source").value = "manual"; });
    });
  }

  // A category's extra questions: only the chosen category's set is shown and sent (the
  // others are disabled, so a code shared by two categories cannot send two answers).
  function setupAttributes(root) {
    var select = root.querySelector("#service_code");
    if (!select || select.dataset.attributesBound) return;
    select.dataset.attributesBound = "1";
    function sync() {
      root.querySelectorAll(".attribute-set").forEach(function (set) {
        var mine = set.dataset.category === select.value;
        set.hidden = !mine;
        set.disabled = !mine;
      });
    }
    select.addEventListener("change", sync);
    sync();
  }

  // Errors swapped in out of band (err-<name> boxes) mark their field the way the page
  // without JavaScript does: aria-invalid (a red border in the CSS), cleared once fixed.
  function syncInvalid(form) {
    form.querySelectorAll(".field-error[id^='err-']").forEach(function (box) {
      var name = box.id.slice(4);
      var control = form.querySelector("#" + name) || form.elements.namedItem(name);
      if (!control || !control.setAttribute || control.type === "hidden") return;
      if (box.textContent.trim()) control.setAttribute("aria-invalid", "true");
      else control.removeAttribute("aria-invalid");
    });
  }

  // The summary's links lead into the field: focus it (a fragment link alone may not).
  document.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest(".form-summary a[href^='#']");
    if (!link) return;
    var target = document.getElementById(link.getAttribute("href").slice(1));
    if (!target) return;
    e.preventDefault();
    target.scrollIntoView({ block: "center" });
    target.focus();
  });

  // What an htmx swap brought that must be heard ([data-announce]: a unit's saved status, the
  // list's new count) is read into #live, a live region present since the page loaded;
  // focus moves to it when it can take focus (tabindex), else stays where it was.
  function announceSwapped() {
    var live = document.getElementById("live");
    document.querySelectorAll("[data-announce]:not([data-announced])").forEach(function (el) {
      el.setAttribute("data-announced", "");
      if (!live) return;
      live.textContent = "";
      var text = el.textContent.replace(/\s+/g, " ").trim();
      // A fresh text node a moment later: read even when the same words come twice.
      setTimeout(function () { live.textContent = text; }, 50);
      if (el.hasAttribute("tabindex")) el.focus();
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-announce]").forEach(function (el) { el.setAttribute("data-announced", ""); });
    // A page sent back with errors (a plain form's 422, e.g. /contact): start at the summary,
    // read at once and in view on a phone, not below the fold.
    var summary = document.querySelector("#form-summary [role=alert]");
    if (summary) {
      var box = document.getElementById("form-summary");
      box.focus({ preventScroll: true });
      box.scrollIntoView({ block: "start" });
    }
  });
  document.addEventListener("htmx:afterSettle", announceSwapped);
  // "Older/Newer reports" replaced the list with the link that had focus: start reading the
  // new page at its heading rather than at the top of the document.
  document.addEventListener("htmx:afterSettle", function () {
    var heading = document.getElementById("report-list-heading");
    if (heading && (document.activeElement === document.body || !document.activeElement)) {
      heading.focus();
    }
  });
  document.addEventListener("htmx:oobAfterSwap", function () {
    var form = document.getElementById("report-form");
    if (form) syncInvalid(form);
  });

  // After an htmx swap: focus the error summary (read at once, role=alert) or the confirmation.
  document.addEventListener("htmx:afterSettle", function (e) {
    var form = document.getElementById("report-form");
    if (form) syncInvalid(form);
    var summary = document.querySelector("#form-summary [role=alert]");
    if (summary) { document.getElementById("form-summary").focus(); }
    var sent = document.getElementById("report-sent");
    if (sent) { sent.focus(); window.scrollTo(0, 0); }
  });

  // A failed htmx request (offline, server error) says so in place instead of doing nothing.
  function showNetError(message) {
    Dom.say("net-status", message);
  }
  document.addEventListener("htmx:sendError", function () {
    showNetError(document.body.dataset.msgOffline);
  });
  document.addEventListener("htmx:responseError", function (e) {
    var xhr = e.detail.xhr;
    if (!xhr) return;
    var doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    var msg = doc.querySelector("[role=alert] p");
    var text = msg ? msg.textContent : document.body.dataset.msgError;
    // Said next to the form the resident is using (e.g. 429, too many reports), else on top.
    var summary = e.detail.elt && e.detail.elt.querySelector ? e.detail.elt.querySelector(".form-summary") : null;
    if (summary) {
      Dom.notice(summary, text, "error");
      summary.focus();
    } else {
      showNetError(text);
    }
  });
  document.addEventListener("htmx:beforeRequest", function () { showNetError(""); });

  function init(root) { setupLocate(root); setupAttributes(root); }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (e) { init(e.detail.elt.ownerDocument || document); });
})();
