// Drafts of the report form, saved on the device while typing; the "waiting to send (N)" list;
// sending when the connection returns; the "my reports" list. Storage and sending live in
// outbox.js (shared with the service worker). All strings come from data attributes.
//
// Online, the form is still sent by htmx (its attributes are left alone); this script only
// (1) keeps a draft of it in IndexedDB, (2) swaps the chosen photos for scaled-down copies, and
// (3) takes over when sending cannot happen now: offline, a connection cut mid-way, or a stale
// CSRF token. Then the draft is queued and sent by the outbox, exactly once.
(function () {
  "use strict";

  var Outbox = window.LckzmOutbox;
  var MAX_SIDE = 2048;           // px, long side of a photo sent from the phone
  var JPEG_QUALITY = 0.85;
  var MAX_PHOTOS = 5;
  var KEEP_ORIGINAL_BYTES = 2 * 1024 * 1024;  // a small JPEG is sent as it is (no re-encoding loss)
  var SAVE_DELAY_MS = 400;

  var root = document.getElementById("pwa");
  if (!Outbox || !root) return;
  var msg = root.dataset;
  var form = document.querySelector("form[data-draft-form]");
  var current = null;       // client_id of the draft in the form
  var photos = [];          // [{blob, name, type, lat, long, taken_at}] of the draft in the form
  var saveTimer = null;
  var retryTimer = null;
  var photoWork = Promise.resolve();
  var exifrLoading = null;

  function $(id) { return document.getElementById(id); }
  function fmt(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (_, key) {
      return values[key] === undefined ? "" : String(values[key]);
    });
  }
  function say(id, text) { var el = $(id); if (el) el.textContent = text || ""; }
  function syncOptions(force) {
    return { csrfUrl: msg.csrfUrl, reportUrl: msg.reportUrl, force: !!force };
  }

  // ---- the form's fields <-> a draft ----------------------------------------------------------

  function readFields() {
    var f = {};
    Outbox.FIELDS.forEach(function (name) {
      var el = form.elements.namedItem(name);
      f[name] = el ? el.value : "";
    });
    var consent = form.elements.namedItem("consent");
    f.consent = !!(consent && consent.checked);
    return f;
  }

  function writeFields(fields) {
    Outbox.FIELDS.forEach(function (name) {
      var el = form.elements.namedItem(name);
      if (el && fields[name] !== undefined) el.value = fields[name];
    });
    var consent = form.elements.namedItem("consent");
    if (consent) consent.checked = !!fields.consent;
  }

  function setClientId(id) {
    current = id;
    var el = form.elements.namedItem("client_id");
    if (el) el.value = id;
  }

  function isEmpty(fields) {
    return !fields.description && !fields.service_code && !fields.lat && !fields.long &&
      !fields.address_string && !fields.email && photos.length === 0;
  }

  // Save the form as the draft `current` (state kept, or "editing" for a new one).
  function save() {
    clearTimeout(saveTimer);
    saveTimer = null;
    if (!form || !current) return Promise.resolve(null);
    var fields = readFields();
    var id = current;
    return Outbox.getDraft(id).then(function (draft) {
      if (!draft && isEmpty(fields)) return null;  // an untouched form is not a draft
      draft = draft || { client_id: id, state: "editing", created_at: Date.now(), attempts: 0 };
      if (draft.state === "rejected") draft.state = "editing";  // being corrected
      draft.fields = fields;
      draft.photos = photos.slice();
      return Outbox.putDraft(draft).then(function () { return draft; });
    }).catch(function () { say("form-summary", msg.msgStorage); return null; });
  }

  function saveSoon() {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(function () { save().then(renderOutbox); }, SAVE_DELAY_MS);
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

  function notice(text, kind) {
    var summary = $("form-summary");
    if (!summary) return;
    summary.textContent = "";
    var box = document.createElement("div");
    box.className = "notice notice-" + (kind || "info");
    box.setAttribute("role", kind === "error" ? "alert" : "status");
    var p = document.createElement("p");
    p.textContent = text;
    box.appendChild(p);
    summary.appendChild(box);
  }

  function loadDraft(draft, message) {
    form.reset();
    clearErrors();
    setClientId(draft.client_id);
    writeFields(draft.fields || {});
    photos = (draft.photos || []).slice();
    putPhotosInInput();
    say("photo-status", "");
    if (message) notice(message, "info");
    if (draft.errors && draft.state === "rejected") showErrors(draft.errors);
  }

  function newDraft() {
    form.reset();
    setClientId(Outbox.newId());
    var source = form.elements.namedItem("location_source");
    if (source) source.value = "manual";
    photos = [];
    say("photo-status", "");
    say("location-status", "");
  }

  // ---- photos: EXIF first, then scale down --------------------------------------------------

  function loadExifr() {
    if (window.exifr) return Promise.resolve(window.exifr);
    if (!exifrLoading) {
      exifrLoading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = msg.exifrSrc;
        script.onload = function () { resolve(window.exifr); };
        script.onerror = function () { exifrLoading = null; reject(new Error("exifr")); };
        document.head.appendChild(script);
      });
    }
    return exifrLoading;
  }

  // {lat, long, taken_at} read from the original file (before any resizing drops the EXIF).
  function readExif(file) {
    return loadExifr().then(function (exifr) {
      return exifr.parse(file, { tiff: true, exif: true, gps: true, ifd1: false, xmp: false, icc: false, iptc: false });
    }).then(function (tags) {
      tags = tags || {};
      var ok = typeof tags.latitude === "number" && typeof tags.longitude === "number" &&
        isFinite(tags.latitude) && isFinite(tags.longitude) && !(tags.latitude === 0 && tags.longitude === 0);
      var taken = tags.DateTimeOriginal instanceof Date && !isNaN(tags.DateTimeOriginal) ? tags.DateTimeOriginal : null;
      return { lat: ok ? tags.latitude : null, long: ok ? tags.longitude : null, taken_at: taken ? taken.toISOString() : null };
    }).catch(function () { return { lat: null, long: null, taken_at: null }; });
  }

  function jpegName(name) { return String(name || "photo").replace(/\.[^.]*$/, "") + ".jpg"; }

  // A JPEG of at most MAX_SIDE px, upright (EXIF orientation applied); the original when it is
  // already a small JPEG or the browser cannot decode it (HEIC in most browsers: the server
  // converts it).
  function shrink(file) {
    return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bitmap) {
      var side = Math.max(bitmap.width, bitmap.height);
      if (side <= MAX_SIDE && file.type === "image/jpeg" && file.size <= KEEP_ORIGINAL_BYTES) {
        bitmap.close();
        return { blob: file, name: file.name, type: file.type };
      }
      var scale = Math.min(1, MAX_SIDE / side);
      var w = Math.max(1, Math.round(bitmap.width * scale));
      var h = Math.max(1, Math.round(bitmap.height * scale));
      var canvas = document.createElement("canvas");
      canvas.width = w;
      canvas.height = h;
      canvas.getContext("2d").drawImage(bitmap, 0, 0, w, h);
      bitmap.close();
      return new Promise(function (resolve, reject) {
        canvas.toBlob(function (blob) {
          if (blob) resolve({ blob: blob, name: jpegName(file.name), type: "image/jpeg" });
          else reject(new Error("toBlob"));
        }, "image/jpeg", JPEG_QUALITY);
      });
    });
  }

  function preparePhoto(file) {
    return readExif(file).then(function (meta) {
      var fallback = function () {
        meta.unreadable = true;
        return { blob: file, name: file.name, type: file.type };
      };
      var scaled = window.createImageBitmap ? shrink(file).catch(fallback) : Promise.resolve(fallback());
      return scaled.then(function (out) {
        return { blob: out.blob, name: out.name, type: out.type, lat: meta.lat, long: meta.long,
                 taken_at: meta.taken_at, unreadable: !!meta.unreadable, original_name: file.name };
      });
    });
  }

  function onPhotosChosen(input) {
    var files = Array.prototype.slice.call(input.files || []);
    if (!files.length) { photos = []; saveSoon(); return; }
    var messages = [];
    if (files.length > MAX_PHOTOS) {
      messages.push(fmt(msg.msgPhotoTooMany, { n: MAX_PHOTOS }));
      files = files.slice(0, MAX_PHOTOS);
    }
    say("photo-status", msg.msgPhotoReading);
    var id = current;
    photoWork = Promise.all(files.map(preparePhoto)).then(function (prepared) {
      if (id !== current) return;  // the resident moved to another draft meanwhile
      photos = prepared.map(function (p) {
        return { blob: p.blob, name: p.name, type: p.type, lat: p.lat, long: p.long, taken_at: p.taken_at };
      });
      prepared.forEach(function (p) {
        if (p.unreadable) messages.push(fmt(msg.msgPhotoUnreadable, { name: p.original_name }));
      });
      var located = prepared.filter(function (p) { return p.lat !== null; })[0];
      if (located && !inCity(located)) {
        messages.unshift(fmt(msg.msgPhotoOutside, { lat: located.lat.toFixed(5), long: located.long.toFixed(5) }));
      } else if (located) {
        var lat = form.elements.namedItem("lat");
        var long = form.elements.namedItem("long");
        if (lat && long && !lat.value && !long.value) {
          lat.value = located.lat.toFixed(6);
          long.value = located.long.toFixed(6);
          form.elements.namedItem("location_source").value = "photo";
        }
        messages.unshift(fmt(msg.msgPhotoPosition, { lat: located.lat.toFixed(5), long: located.long.toFixed(5) }) +
          (located.taken_at ? " " + fmt(msg.msgPhotoTaken, { time: new Date(located.taken_at).toLocaleString(document.documentElement.lang || undefined) }) : ""));
      } else {
        messages.unshift(fmt(msg.msgPhotoNoPosition, { name: files[0].name }));
      }
      say("photo-status", messages.join(" "));
      putPhotosInInput();
      return save().then(renderOutbox);
    });
  }

  // A first, coarse check against the city's bounding box (the server checks the real outline):
  // a photo from a holiday abroad must not silently become the location of the problem.
  function inCity(p) {
    var box = (msg.cityBbox || "").split(",").map(Number);
    if (box.length !== 4 || box.some(isNaN)) return true;
    return p.long >= box[0] && p.lat >= box[1] && p.long <= box[2] && p.lat <= box[3];
  }

  // No coordinates given: use the photo's EXIF position read on the device (a scaled-down copy
  // has no EXIF left for the server to read).
  function fillPositionFromPhotos() {
    var lat = form.elements.namedItem("lat");
    var long = form.elements.namedItem("long");
    var located = photos.filter(function (p) { return p.lat !== null && p.lat !== undefined; })[0];
    if (!lat || !long || lat.value || long.value || !located || !inCity(located)) return;
    lat.value = located.lat.toFixed(6);
    long.value = located.long.toFixed(6);
    form.elements.namedItem("location_source").value = "photo";
  }

  // ---- queueing and sending ----------------------------------------------------------------

  function requestBackgroundSync() {
    if (!("serviceWorker" in navigator)) return Promise.resolve();
    return navigator.serviceWorker.ready.then(function (registration) {
      if (registration.sync) return registration.sync.register(Outbox.SYNC_TAG);
      return null;
    }).catch(function () { return null; });
  }

  // Move the form's draft to the outbox and start a new, empty form.
  function queueCurrent(message) {
    return photoWork.catch(function () { return null; }).then(save).then(function (draft) {
      if (!draft) return null;
      return Outbox.updateDraft(draft.client_id, function (d) {
        d.state = "queued";
        d.next_try = 0;
        d.errors = null;
      });
    }).then(function (draft) {
      if (!draft) return;
      newDraft();
      notice(message, "info");
      requestBackgroundSync();
      renderOutbox();
      if (navigator.onLine) flush(true);
    });
  }

  function flush(force) {
    return Outbox.sendAll(syncOptions(force)).then(afterSend).catch(function () { return null; });
  }

  function afterSend(result) {
    result = result || {};
    var parts = [];
    (result.sent || []).forEach(function (entry) { parts.push(fmt(msg.msgSent, { number: entry.number })); });
    if (result.rejected) parts.push(msg.msgRejected);
    if (result.retry) parts.push(msg.msgRetry);
    if (parts.length) say("outbox-status", parts.join(" "));
    if ((result.sent || []).length) {
      if ($("form-summary") && form && document.body.contains(form)) notice(parts.join(" "), "success");
      if (window.LckzmPwa) window.LckzmPwa.offerInstall();
    }
    scheduleRetry();
    return Promise.all([renderOutbox(), renderMyReports()]).then(function () { return result; });
  }

  // Wake up when the earliest back-off ends (the outbox skips drafts whose time has not come).
  function scheduleRetry() {
    clearTimeout(retryTimer);
    Outbox.listDrafts().then(function (drafts) {
      var next = drafts.filter(function (d) { return d.state === "queued" && d.next_try; })
        .map(function (d) { return d.next_try; }).sort()[0];
      if (next) retryTimer = setTimeout(function () { if (navigator.onLine) flush(false); }, Math.max(1000, next - Date.now()));
    }).catch(function () { return null; });
  }

  // ---- the lists -------------------------------------------------------------------------

  function renderOutbox() {
    var section = $("outbox");
    var list = $("outbox-list");
    if (!section || !list) return Promise.resolve();
    return Outbox.listDrafts().then(function (drafts) {
      var shown = drafts.filter(function (d) { return !(form && d.client_id === current && document.body.contains(form)); });
      list.textContent = "";
      shown.forEach(function (draft) { list.appendChild(draftItem(draft)); });
      say("outbox-count", String(shown.length));
      section.hidden = shown.length === 0;
      $("outbox-send").hidden = !shown.some(function (d) { return d.state === "queued"; });
    }).catch(function () { return null; });
  }

  function draftItem(draft) {
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
    meta.textContent = " " + (msg[stateKey] || draft.state) +
      ((draft.photos || []).length ? " · " + fmt(msg.msgPhotos, { n: draft.photos.length }) : "");
    li.appendChild(meta);
    var edit = document.createElement("button");
    edit.type = "button";
    edit.className = "button button-secondary outbox-edit";
    edit.textContent = msg.msgEdit;
    edit.addEventListener("click", function () { editDraft(draft.client_id); });
    var del = document.createElement("button");
    del.type = "button";
    del.className = "button button-secondary outbox-delete";
    del.textContent = msg.msgDelete;
    del.addEventListener("click", function () {
      Outbox.deleteDraft(draft.client_id).then(function () {
        say("outbox-status", msg.msgDeleted);
        return renderOutbox();
      });
    });
    li.appendChild(edit);
    li.appendChild(del);
    return li;
  }

  function editDraft(id) {
    if (!form || !document.body.contains(form)) {
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

  // ---- htmx (online sending) ----------------------------------------------------------------

  function isOurForm(elt) { return form && elt === form; }

  function wireForm() {
    // Before htmx sees the submit: offline, queue instead of sending (capture phase runs first).
    document.addEventListener("submit", function (event) {
      if (!isOurForm(event.target)) return;
      clearTimeout(saveTimer);
      fillPositionFromPhotos();
      if (navigator.onLine) { save(); return; }  // htmx sends it; the draft is the safety net
      event.preventDefault();
      event.stopImmediatePropagation();
      if (!form.reportValidity()) return;
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
      // 400 = the CSRF token went stale (session expired): the outbox fetches a fresh one.
      // 5xx: the server cannot take it now; the outbox retries with back-off.
      // 429 (too many reports from this address) is said in place by app.js, form kept.
      if (xhr.status === 400 || xhr.status >= 500) {
        say("net-status", "");
        queueCurrent(msg.msgQueued);
      }
    });

    // Sent by htmx: remember it in "my reports" and drop the draft (before the form is swapped out).
    document.addEventListener("htmx:beforeSwap", function (event) {
      var xhr = event.detail.xhr;
      if (!isOurForm(event.detail.elt) || !xhr || (xhr.status !== 200 && xhr.status !== 201)) return;
      var doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
      var sent = doc.getElementById("report-sent");
      if (!sent) return;
      var id = current;
      clearTimeout(saveTimer);
      var number = sent.querySelector(".report-number");
      var tracking = sent.querySelector(".tracking-link");
      var publicLink = sent.querySelector(".links a");
      var entry = {
        client_id: id, service_request_id: "", number: number ? number.textContent.trim() : "",
        status: sent.dataset.status || "", tracking_url: tracking ? tracking.getAttribute("href") : "",
        public_url: publicLink ? publicLink.getAttribute("href") : "", sent_at: Date.now()
      };
      var match = /\/reports\/(\d+)/.exec(entry.public_url);
      if (match) entry.service_request_id = match[1];
      current = null;  // the form is gone: nothing more to save
      Outbox.putSent(entry).then(function () { return Outbox.deleteDraft(id); }).then(function () {
        renderOutbox();
        renderMyReports().then(refreshStatuses);  // the fragment has no machine-readable status
        if (window.LckzmPwa) window.LckzmPwa.offerInstall();
      });
    });

    form.addEventListener("input", function (event) {
      if (event.target && event.target.id === "media") return;
      saveSoon();
    });
    form.addEventListener("change", function (event) {
      if (event.target && event.target.id === "media") { onPhotosChosen(event.target); return; }
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
      renderMyReports().then(refreshStatuses);
      if (navigator.onLine) flush(false);  // on app open
    });
    var send = $("outbox-send");
    if (send) send.addEventListener("click", function () {
      say("outbox-status", msg.msgStateSending);
      flush(true);
    });
    window.addEventListener("online", function () { flush(true); });
    document.addEventListener("lckzm:outbox-changed", function (event) { afterSend(event.detail); });
  }

  start();
})();
