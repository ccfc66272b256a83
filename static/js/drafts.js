// The report form's draft, saved on the device while typing, and queued when it cannot be sent
// now. Its helpers: dom.js (shared DOM helpers), photos.js (EXIF, scaling), lists.js ("waiting
// to send (N)", "my reports"), sending.js (when to send, saying the outcome), outbox.js
// (IndexedDB and sending, shared with the service worker). All strings come from the data-msg-* attributes of #pwa.
//
// Online, the form is still sent by htmx (its attributes are left alone); this script only
// (1) keeps a draft of it in IndexedDB, (2) swaps the chosen photos for scaled-down copies, and
// (3) takes over when sending cannot happen now: offline, a connection cut mid-way, or a stale
// CSRF token. Then the draft is queued and sent by the outbox, exactly once. A report sent by
// htmx is announced by the server in an HX-Trigger header ("report-sent", the same fields as the
// JSON answer) and moves to "my reports".
(function () {
  "use strict";

  var Outbox = window.LckzmOutbox;
  var Photos = window.LckzmPhotos;
  var Lists = window.LckzmLists;
  var Sending = window.LckzmSending;
  var Dom = window.LckzmDom;
  var $ = Dom.byId, say = Dom.say;
  var SAVE_DELAY_MS = 400;
  var MAX_PHOTOS = 5;            // when the form does not say (data-max-photos, from the config)

  var root = $("pwa");
  if (!Outbox || !Photos || !Lists || !Sending || !root) return;
  var msg = root.dataset;
  var form = document.querySelector("form[data-draft-form]");
  var current = null;       // client_id of the draft in the form
  var photos = [];          // [{blob, name, type, lat, long, taken_at}] of the draft in the form
  var loading = false;      // a draft is being put in the form: its input events are not edits
  var saveTimer = null;
  var photoWork = Promise.resolve();

  function noop() { return null; }
  function formShown() { return !!(form && document.body.contains(form)); }
  function notice(text, kind) { Dom.notice($("form-summary"), text, kind); }
  function maxPhotos() { return parseInt(form.dataset.maxPhotos, 10) || MAX_PHOTOS; }
  function maxPhotoBytes() { return parseInt(form.dataset.maxPhotoBytes, 10) || 0; }

  // ---- the form's fields <-> a draft ----------------------------------------------------------

  function readFields() {
    var f = {};
    Outbox.FIELDS.forEach(function (name) {
      var el = form.elements.namedItem(name);
      f[name] = el ? el.value : "";
    });
    var consent = form.elements.namedItem("consent");
    f.consent = !!(consent && consent.checked);
    var push = $("notify_push");  // no name: never posted; push.js registers it once sent
    f.notify_push = !!(push && push.checked && !push.disabled);
    return f;
  }

  function writeFields(fields) {
    Outbox.FIELDS.forEach(function (name) {
      var el = form.elements.namedItem(name);
      if (el && fields[name] !== undefined) el.value = fields[name];
    });
    var consent = form.elements.namedItem("consent");
    if (consent) consent.checked = !!fields.consent;
    var push = $("notify_push");
    if (push && !push.disabled) push.checked = !!fields.notify_push;
    // The coordinates again, with events: the map (if open) follows.
    Dom.setPosition(form, fields.lat || "", fields.long || "", fields.location_source || "manual");
  }

  function setClientId(id) {
    current = id;
    var el = form.elements.namedItem("client_id");
    if (el) el.value = id;
  }

  function isEmpty(fields, kept) {
    return !fields.description && !fields.service_code && !fields.lat && !fields.long &&
      !fields.address_string && !fields.email && kept.length === 0;
  }

  // Save the form as the draft `current` (its state kept, or "editing" for a new one). One
  // transaction: a sync running meanwhile cannot slip its write in between.
  function save() {
    clearTimeout(saveTimer);
    saveTimer = null;
    if (!form || !current) return Promise.resolve(null);
    var fields = readFields();
    var kept = photos.slice();
    return Outbox.changeDraft(current, function (draft) {
      if (!draft && isEmpty(fields, kept)) return null;  // an untouched form is not a draft
      draft = draft || { client_id: current, state: "editing", created_at: Date.now(), attempts: 0 };
      if (draft.state === "rejected") draft.state = "editing";  // being corrected
      draft.fields = fields;
      draft.photos = kept;
      draft.lang = document.documentElement.lang || "";  // the notifications' language
      return draft;
    }).catch(function () { say("form-summary", msg.msgStorage); return null; });
  }

  function saveSoon() {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(function () { save().then(renderOutbox); }, SAVE_DELAY_MS);
  }

  // Thumbnails of the photos as they will be sent, each with its position and "rotate" /
  // "remove" (named after the photo for screen readers).
  function renderPreviews() {
    var list = $("photo-previews");
    if (!list) return;
    list.querySelectorAll("img").forEach(function (img) { URL.revokeObjectURL(img.src); });
    list.textContent = "";
    photos.forEach(function (p, i) {
      var n = { n: i + 1, name: p.name };
      var li = document.createElement("li");
      li.className = "photo-preview";
      if (p.readable === false) {
        var ph = document.createElement("span");
        ph.className = "photo-placeholder";
        ph.textContent = p.name;
        li.appendChild(ph);
      } else {
        var img = document.createElement("img");
        img.src = URL.createObjectURL(p.blob);
        img.alt = Dom.fmt(msg.msgPhotoAlt, n);
        li.appendChild(img);
      }
      var caption = document.createElement("p");
      caption.className = "photo-caption";
      if (p.lat !== null && p.lat !== undefined) {
        caption.textContent = Dom.fmt(p.inside === false ? msg.msgPhotoPositionOutside : msg.msgPhotoPositionShort,
          { lat: p.lat.toFixed(5), long: p.long.toFixed(5) });
      } else {
        caption.textContent = p.heic ? msg.msgPhotoPositionLaterShort : msg.msgPhotoNoPositionShort;
      }
      li.appendChild(caption);
      var actions = document.createElement("div");
      actions.className = "photo-actions";
      if (p.readable !== false && window.createImageBitmap) {
        actions.appendChild(photoButton("photo-rotate", msg.msgRotate, Dom.fmt(msg.msgRotateNamed, n), function () { rotatePhoto(i); }));
      }
      actions.appendChild(photoButton("photo-remove", msg.msgRemove, Dom.fmt(msg.msgRemoveNamed, n), function () { removePhoto(i); }));
      li.appendChild(actions);
      list.appendChild(li);
    });
  }

  function photoButton(className, text, label, onClick) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "button button-secondary " + className;
    b.textContent = text;
    b.setAttribute("aria-label", label);
    b.addEventListener("click", onClick);
    return b;
  }

  function photosChanged() {
    putPhotosInInput();
    renderPreviews();
    return save().then(renderOutbox);
  }

  function rotatePhoto(i) {
    var n = { n: i + 1 };
    say("photo-status", msg.msgPhotoPreparing);
    photoWork = Photos.rotate(photos[i]).then(function (turned) {
      photos[i] = turned;
      return photosChanged();
    }).then(function () {
      say("photo-status", Dom.fmt(msg.msgPhotoRotated, n));
      var again = document.querySelectorAll("#photo-previews .photo-rotate")[i];
      if (again) again.focus();
    }).catch(function () { say("photo-status", Dom.fmt(msg.msgPhotoUnreadable, { name: photos[i] && photos[i].name })); });
  }

  function removePhoto(i) {
    photos.splice(i, 1);
    photosChanged();
    say("photo-status", Dom.fmt(msg.msgPhotoRemoved, { n: i + 1 }));
    // Focus stays in the list (the next photo's "remove"), or goes back to choosing photos (or,
    // uploads off, to the notice saying so).
    var removes = document.querySelectorAll("#photo-previews .photo-remove");
    var next = removes[Math.min(i, removes.length - 1)] || $("media") || $("photos-off");
    if (next) next.focus();
  }

  function putPhotosInInput() {
    var input = $("media");
    if (!input || typeof DataTransfer === "undefined") return;
    try {
      var transfer = new DataTransfer();
      photos.forEach(function (p) { transfer.items.add(new File([p.blob], p.name, { type: p.type || p.blob.type })); });
      input.files = transfer.files;  // htmx sends these (the scaled copies) when online
    } catch (e) { /* old browser: htmx sends what was chosen */ }
  }

  function clearErrors() {
    var summary = $("form-summary");
    if (summary) summary.textContent = "";
    form.querySelectorAll(".field-error").forEach(function (el) { el.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
  }

  function showErrors(errors) {
    Object.keys(errors || {}).forEach(function (name) {
      var box = $("err-" + name);
      if (!box) return;
      box.textContent = "";
      (errors[name] || []).forEach(function (text) {
        var p = document.createElement("p");
        p.textContent = text;
        box.appendChild(p);
      });
      var input = form.elements.namedItem(name);
      if (input && input.setAttribute) input.setAttribute("aria-invalid", "true");
    });
  }

  // Offline, the server cannot say what is missing: the required fields (aria-required, not
  // `required`, which would expose an untouched field as invalid) are checked here.
  function requiredFilled() {
    var errors = {};
    form.querySelectorAll("[aria-required=true]").forEach(function (el) {
      if (!String(el.value || "").trim()) errors[el.name] = [form.dataset.msgRequired];
    });
    var names = Object.keys(errors);
    if (!names.length) return true;
    clearErrors();
    showErrors(errors);
    notice(form.dataset.msgRequiredSummary, "error");
    form.elements.namedItem(names[0]).focus();
    return false;
  }

  // Put a draft, or an empty form, in the form without its events counting as edits.
  function fillForm(fill) {
    loading = true;
    try { form.reset(); fill(); } finally { loading = false; }
  }

  function loadDraft(draft, message) {
    fillForm(function () {
      clearErrors();
      setClientId(draft.client_id);
      writeFields(draft.fields || {});
    });
    // A draft saved before the phone checked photos may hold ones the server would refuse.
    photos = (draft.photos || []).filter(function (p) { return Photos.acceptable(p, maxPhotoBytes()); });
    if (photos.length !== (draft.photos || []).length) saveSoon();
    putPhotosInInput();
    renderPreviews();
    say("photo-status", "");
    if (message) notice(message, "info");
    if (draft.errors && draft.state === "rejected") showErrors(draft.errors);
  }

  function newDraft() {
    fillForm(function () {
      setClientId(Outbox.newId());
      Dom.setPosition(form, "", "", "manual");
    });
    photos = [];
    renderPreviews();
    say("photo-status", "");
    say("location-status", "");
    say("notify_push-status", "");
    clearCategoryParts();
  }

  // form.reset() fires no change event: what the previous category and location brought in
  // (the category's help, its extra questions, "already reported?") would stay under an empty form.
  function clearCategoryParts() {
    ["category-help", "nearby-results"].forEach(function (id) { var box = $(id); if (box) box.textContent = ""; });
    form.querySelectorAll(".attribute-set").forEach(function (set) { set.hidden = true; set.disabled = true; });
  }

  // ---- photos -------------------------------------------------------------------------------

  // A position into empty coordinate fields only: what the resident typed wins.
  function fillPosition(position) {
    var lat = form.elements.namedItem("lat");
    var long = form.elements.namedItem("long");
    if (!position || !lat || !long || lat.value || long.value) return;
    Dom.setPosition(form, position.lat.toFixed(6), position.long.toFixed(6), "photo");
  }

  // Photos chosen (gallery) or taken (camera) are added to those already in the form, up to
  // the limit; the camera's input is emptied (its photo now travels in #media).
  function onPhotosChosen(input) {
    var files = Array.prototype.slice.call(input.files || []);
    if (!files.length) return;
    say("photo-status", msg.msgPhotoPreparing);
    var list = $("photo-previews");
    if (list) list.setAttribute("aria-busy", "true");
    var id = current;
    var typed = form.elements.namedItem("lat").value && form.elements.namedItem("long").value &&
      form.elements.namedItem("location_source").value !== "photo";
    var room = Math.max(0, maxPhotos() - photos.length);
    photoWork = Photos.choose(files, { max: room, maxBytes: maxPhotoBytes(), exifrSrc: msg.exifrSrc, bbox: msg.cityBbox, msg: msg })
      .then(function (chosen) {
        if (list) list.removeAttribute("aria-busy");
        if (id !== current) return null;  // the resident moved to another draft meanwhile
        if (input.id !== "media") input.value = "";
        photos = photos.concat(chosen.photos).slice(0, maxPhotos());
        var message = chosen.message;
        if (typed && chosen.position) {
          // Both exist: the typed location wins; say so, and how to use the photo's instead.
          message = Dom.fmt(msg.msgPhotoTypedWins, { lat: chosen.position.lat.toFixed(5), long: chosen.position.long.toFixed(5) });
        }
        fillPosition(chosen.position);
        say("photo-status", message);
        return photosChanged();
      });
  }

  // ---- queueing ----------------------------------------------------------------------------

  // Move the form's draft to the outbox and start a new, empty form.
  // `reason` (optional): why the server did not take it now (its words), shown in the list.
  function queueCurrent(message, reason) {
    return photoWork.catch(noop).then(save).then(function (draft) {
      if (!draft) return null;
      return Outbox.updateDraft(draft.client_id, function (d) {
        d.state = "queued";
        d.next_try = 0;
        d.errors = null;
        d.reason = reason || null;
      });
    }).then(function (draft) {
      if (!draft) return;
      newDraft();
      notice(message, "info");
      // The resident pressed "send" at the bottom of the form: bring the confirmation (and the
      // waiting list above it) into view and move focus there, not left on an emptied form.
      return renderOutbox().then(function () {
        var summary = $("form-summary");
        if (summary) { summary.focus({ preventScroll: true }); summary.scrollIntoView({ block: "center" }); }
        Sending.queued();
      });
    });
  }

  // ---- the waiting list ---------------------------------------------------------------------

  function renderOutbox() {
    return Lists.renderOutbox({ inForm: formShown() ? current : null, onEdit: editDraft });
  }

  function editDraft(id) {
    if (!formShown()) {
      window.location.href = msg.formUrl + "?draft=" + encodeURIComponent(id);
      return;
    }
    save().then(function () { return Outbox.getDraft(id); }).then(function (draft) {
      if (!draft) return renderOutbox();
      var wasRejected = draft.state === "rejected";
      loadDraft(draft, wasRejected ? null : msg.msgEditing);
      if (wasRejected) notice(msg.msgRejected, "error");
      // Being edited: it leaves the queue until sent again (keeps the server's errors to show).
      return Outbox.updateDraft(id, function (d) { if (d.state === "queued") d.state = "editing"; })
        .then(renderOutbox);
    }).then(function () { form.scrollIntoView(); });
  }

  // ---- htmx (online sending) ----------------------------------------------------------------

  function isOurForm(elt) { return !!form && elt === form; }

  // Sent by htmx: the server's HX-Trigger {"report-sent": {client_id, service_request_id, number,
  // status, tracking_url, public_url}} arrives before the form is swapped out.
  function onReportSent(event) {
    var data = event.detail || {};
    if (!isOurForm(data.elt || event.target) || !data.client_id) return;
    clearTimeout(saveTimer);
    if (data.client_id === current) current = null;  // the form is going: nothing more to save
    var entry = {
      client_id: data.client_id, service_request_id: String(data.service_request_id || ""),
      number: data.number || "", status: data.status || "", tracking_url: data.tracking_url || "",
      public_url: data.public_url || "", sent_at: Date.now()
    };
    var fields = readFields();  // still the sent form: htmx swaps it out after this event
    if (fields.notify_push) {
      entry.push = "wanted";
      entry.push_lang = document.documentElement.lang || "";
      entry.push_attempts = 0;
    }
    Outbox.putSent(entry).then(function () { return Outbox.deleteDraft(entry.client_id); }).then(function () {
      renderOutbox();
      Lists.renderMyReports();
      if (window.LckzmPwa) window.LckzmPwa.offerInstall();
      if (entry.push) Sending.follow();
    });
  }

  // A 503 from a switch an admin turned off (the server names it in X-Switched-Off and says why
  // in a role=alert box): {name: "photos"|"reports"|"maintenance", text}, else null (the server
  // or the way to it is down: a plain retry).
  function switchedOff(xhr) {
    var name = xhr.getResponseHeader("X-Switched-Off");
    if (xhr.status !== 503 || !name) return null;
    var doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    var box = doc.querySelector("[role=alert] p");
    return { name: name, text: box ? box.textContent.trim() : "" };
  }

  // Photos off: sending again will never help; the form stays as it is, the reason by the
  // photos (app.js said it in the summary). Reports off or a technical break: the draft waits in
  // the outbox labelled with the reason, and is sent when the switch is back.
  function onSwitchedOff(refusal) {
    say("net-status", "");
    if (refusal.name === "photos") {
      showErrors({ media: [refusal.text] });
      save().then(renderOutbox);
      return;
    }
    queueCurrent(refusal.text || msg.msgQueued, refusal.text);
  }

  function wireForm() {
    // Before htmx sees the submit: offline, queue instead of sending (capture phase runs first).
    document.addEventListener("submit", function (event) {
      if (!isOurForm(event.target)) return;
      // No coordinates given: the photo's EXIF position read on the device (a scaled-down copy
      // has no EXIF left for the server to read).
      fillPosition(Photos.locatedInCity(photos, msg.cityBbox));
      // Uploads switched off (the form came without pickers) but a restored draft has photos:
      // htmx would send the report without them unsaid, the outbox would be refused. Ask first.
      var photosOff = $("photos-off");
      if (photosOff && photos.length) {
        event.preventDefault();
        event.stopImmediatePropagation();
        clearErrors();
        showErrors({ media: [photosOff.textContent.trim()] });
        notice(photosOff.textContent.trim(), "error");
        $("form-summary").focus();
        return;
      }
      if (navigator.onLine) { save(); return; }  // htmx sends it; the draft is the safety net
      event.preventDefault();
      event.stopImmediatePropagation();
      clearTimeout(saveTimer);
      if (!requiredFilled()) return;
      queueCurrent(msg.msgSavedOffline);
    }, true);

    document.addEventListener("htmx:beforeRequest", function (event) {
      if (isOurForm(event.detail.elt)) putPhotosInInput();
    });

    // Connection lost on the way (or cut mid-upload): keep the draft, send it from the outbox.
    document.addEventListener("htmx:sendError", function (event) {
      if (!isOurForm(event.detail.elt)) return;
      say("net-status", "");
      queueCurrent(msg.msgSavedOffline);
    });
    document.addEventListener("htmx:timeout", function (event) {
      if (isOurForm(event.detail.elt)) queueCurrent(msg.msgQueued);
    });

    document.addEventListener("htmx:responseError", function (event) {
      var xhr = event.detail.xhr;
      if (!isOurForm(event.detail.elt) || !xhr) return;
      var refusal = switchedOff(xhr);
      if (refusal) { onSwitchedOff(refusal); return; }
      // 400 = the CSRF token went stale (session expired): the outbox fetches a fresh one.
      // 5xx: the server cannot take it now; the outbox retries with back-off.
      // 429 (too many reports from this address) is said in place by app.js, form kept.
      if (xhr.status === 400 || xhr.status >= 500) {
        say("net-status", "");
        queueCurrent(msg.msgQueued);
      }
    });

    document.addEventListener("report-sent", onReportSent);

    form.addEventListener("input", function (event) {
      if (loading || (event.target && (event.target.id === "media" || event.target.id === "camera"))) return;
      saveSoon();
    });
    form.addEventListener("change", function (event) {
      if (loading) return;
      if (event.target && (event.target.id === "media" || event.target.id === "camera")) { onPhotosChosen(event.target); return; }
      saveSoon();
    });
    // Closing the tab or switching apps: save now.
    document.addEventListener("visibilitychange", function () { if (document.visibilityState === "hidden" && saveTimer) save(); });
    window.addEventListener("pagehide", function () { if (saveTimer) save(); });
  }

  function openForm() {
    var wanted = new URLSearchParams(window.location.search).get("draft");
    return Outbox.listDrafts().then(function (drafts) {
      var pick = null;
      var message = null;
      if (wanted) pick = drafts.filter(function (d) { return d.client_id === wanted; })[0] || null;
      if (pick) {
        message = pick.state === "rejected" ? null : msg.msgEditing;
      } else {
        // The unfinished draft last touched, restored after a reload or a closed app.
        pick = drafts.filter(function (d) { return d.state === "editing"; })
          .sort(function (a, b) { return (b.updated_at || 0) - (a.updated_at || 0); })[0] || null;
        message = msg.msgRestored;
      }
      if (pick) {
        loadDraft(pick, message);
        if (pick.state === "rejected") notice(msg.msgRejected, "error");
        if (pick.state === "queued") return Outbox.updateDraft(pick.client_id, function (d) { d.state = "editing"; });
      } else {
        // Never reuse the id in the page: a precached form would give every draft the same one.
        setClientId(Outbox.newId());
      }
      return null;
    });
  }

  // ---- start --------------------------------------------------------------------------------

  function start() {
    if (!Outbox.available()) return;
    var ready = Promise.resolve();
    if (form) {
      wireForm();
      ready = openForm().catch(function () { setClientId(Outbox.newId()); });
    }
    ready.then(function () {
      renderOutbox();
      Lists.renderMyReports().then(Lists.refreshStatuses);
      Sending.start({
        renderOutbox: renderOutbox,
        onSent: function (text) { if (formShown()) notice(text, "success"); }
      });
    });
  }

  start();
})();
