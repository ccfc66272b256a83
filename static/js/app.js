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
        // With input/change events: the map's marker follows, the draft is saved.
        Dom.setPosition(root, pos.coords.latitude.toFixed(6), pos.coords.longitude.toFixed(6), "device");
        status.textContent = button.dataset.found.replace("{m}", Math.round(pos.coords.accuracy));
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

  // After an htmx error response, move focus to the summary so screen readers announce it.
  document.addEventListener("htmx:afterSettle", function (e) {
    var summary = document.querySelector("#form-summary [role=alert]");
    if (summary) { document.getElementById("form-summary").focus(); }
    var sent = document.getElementById("report-sent");
    if (sent) sent.focus();
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
