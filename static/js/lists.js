// The two lists kept on the device, drawn from IndexedDB (outbox.js): "waiting to send (N)"
// (#outbox, drafts not in the form) and "my reports" (#my-reports, with their last known status
// from the public Open311 API). Strings come from the data-msg-* attributes of #pwa.
// Exposed as window.LckzmLists.
(function () {
  "use strict";

  var Outbox = window.LckzmOutbox;
  var Dom = window.LckzmDom;
  var $ = Dom.byId, fmt = Dom.fmt;
  var root = $("pwa");
  if (!Outbox || !root) return;
  var msg = root.dataset;

  // Draw the waiting list. opts: {inForm: client_id of the draft open in the form (not listed)
  // or null, onEdit(client_id)}.
  function renderOutbox(opts) {
    var section = $("outbox");
    var list = $("outbox-list");
    if (!section || !list) return Promise.resolve();
    return Outbox.listDrafts().then(function (drafts) {
      var shown = drafts.filter(function (d) { return d.client_id !== opts.inForm; });
      list.textContent = "";
      shown.forEach(function (draft) { list.appendChild(draftItem(draft, opts)); });
      Dom.say("outbox-count", String(shown.length));
      section.hidden = shown.length === 0;
      $("outbox-send").hidden = !shown.some(function (d) { return d.state === "queued"; });
    }).catch(function () { return null; });
  }

  // `label` (optional) is the accessible name: "Edit the report “…”", not a bare "Edit".
  function button(className, text, onClick, label) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "button button-secondary " + className;
    b.textContent = text;
    if (label) b.setAttribute("aria-label", label);
    b.addEventListener("click", onClick);
    return b;
  }

  function draftItem(draft, opts) {
    var li = document.createElement("li");
    li.className = "outbox-item outbox-" + draft.state;
    li.dataset.clientId = draft.client_id;
    var fields = draft.fields || {};
    var title = document.createElement("strong");
    var text = (fields.description || "").trim();
    title.textContent = text ? (text.length > 60 ? text.slice(0, 60) + "…" : text) : msg.msgUntitled;
    li.appendChild(title);
    var meta = document.createElement("span");
    meta.className = "outbox-meta";
    var stateKey = "msgState" + draft.state.charAt(0).toUpperCase() + draft.state.slice(1);
    // Refused for now by a switched-off feature: its reason, not "waiting for a connection".
    var state = draft.state === "queued" && draft.reason ? draft.reason : (msg[stateKey] || draft.state);
    meta.textContent = " " + state +
      ((draft.photos || []).length ? " · " + fmt(msg.msgPhotos, { n: draft.photos.length }) : "");
    li.appendChild(meta);
    var named = { title: title.textContent };
    li.appendChild(button("outbox-edit", msg.msgEdit, function () { opts.onEdit(draft.client_id); },
      fmt(msg.msgEditNamed, named)));
    li.appendChild(button("outbox-delete", msg.msgDelete, function () {
      Outbox.deleteDraft(draft.client_id).then(function () {
        Dom.say("outbox-status", msg.msgDeleted);
        return renderOutbox(opts);
      });
    }, fmt(msg.msgDeleteNamed, named)));
    return li;
  }

  function renderMyReports() {
    var section = $("my-reports");
    var list = $("my-reports-list");
    if (!section || !list) return Promise.resolve();
    var labels = {};
    try { labels = JSON.parse(msg.statusLabels || "{}"); } catch (e) { labels = {}; }
    return Outbox.listSent().then(function (sent) {
      list.textContent = "";
      sent.forEach(function (entry) {
        var li = document.createElement("li");
        li.dataset.clientId = entry.client_id;
        var link = document.createElement("a");
        link.href = entry.tracking_url;
        link.className = "my-report-link";
        link.textContent = fmt(list.dataset.msgNumber, { number: entry.number });
        li.appendChild(link);
        if (entry.status) {
          var status = document.createElement("span");
          status.className = "my-report-status";
          status.textContent = " · " + fmt(list.dataset.msgStatus, { status: labels[entry.status] || entry.status });
          li.appendChild(status);
        }
        list.appendChild(li);
      });
      section.hidden = sent.length === 0;
    }).catch(function () { return null; });
  }

  // Last known status of "my reports", from the public Open311 API (once per page, online only).
  function refreshStatuses() {
    if (!navigator.onLine || !msg.statusUrl) return Promise.resolve();
    return Outbox.listSent().then(function (sent) {
      return Promise.all(sent.slice(0, 20).filter(function (e) { return e.service_request_id; }).map(function (entry) {
        var url = msg.statusUrl.replace("__id__", encodeURIComponent(entry.service_request_id));
        return fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" }).then(function (resp) {
          return resp.ok ? resp.json() : null;
        }).then(function (data) {
          var history = data && data[0] && data[0].status_history;
          var latest = history && history.length ? history[history.length - 1].status : null;
          if (!latest || latest === entry.status) return null;
          entry.status = latest;
          return Outbox.putSent(entry);
        }).catch(function () { return null; });
      }));
    }).then(renderMyReports).catch(function () { return null; });
  }

  window.LckzmLists = { renderOutbox: renderOutbox, renderMyReports: renderMyReports, refreshStatuses: refreshStatuses };
})();
