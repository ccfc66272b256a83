// DOM helpers shared by app.js, map.js and the draft scripts (drafts.js, photos.js, lists.js).
// Loaded first (defer keeps the order of base.html); exposed as window.LckzmDom.
(function () {
  "use strict";

  function byId(id) { return document.getElementById(id); }

  // "Photos: {n}" + {n: 2} -> "Photos: 2" (templates come translated from data-msg-* attributes).
  function fmt(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (_, key) {
      return values[key] === undefined ? "" : String(values[key]);
    });
  }

  // Put text in the element with this id (missing element: nothing to say).
  function say(id, text) {
    var el = byId(id);
    if (el) el.textContent = text || "";
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  // Replace the content of `box` (a form's summary) with one notice: kind "info", "success" or
  // "error" (an error is an alert, read out at once; the others a status).
  function notice(box, text, kind) {
    if (!box) return;
    box.textContent = "";
    var div = document.createElement("div");
    div.className = "notice notice-" + (kind || "info");
    div.setAttribute("role", kind === "error" ? "alert" : "status");
    var p = document.createElement("p");
    p.textContent = text;
    div.appendChild(p);
    box.appendChild(div);
  }

  // Set the coordinate fields of `root` (a form or the document) the way typing would: the
  // values, then `input` and `change` events (the map follows them, the draft is saved), then
  // the location source ("device", "photo", "manual"), last, because typing in the coordinate
  // fields makes it "manual" (app.js). Values are strings (6 decimals) or "".
  function setPosition(root, lat, long, source) {
    var latEl = root.querySelector("#lat");
    var longEl = root.querySelector("#long");
    var sourceEl = root.querySelector("#location_source");
    if (!latEl || !longEl) return;
    latEl.value = lat;
    longEl.value = long;
    [latEl, longEl].forEach(function (el) {
      el.dispatchEvent(new Event("input", { bubbles: true }));
      el.dispatchEvent(new Event("change", { bubbles: true }));
    });
    if (sourceEl && source) sourceEl.value = source;
  }

  window.LckzmDom = { byId: byId, fmt: fmt, say: say, escapeHtml: escapeHtml, notice: notice, setPosition: setPosition };
})();
