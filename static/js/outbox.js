// The outbox: report drafts kept in IndexedDB and sent to the server, exactly once.
// Shared by the pages (drafts.js) and the service worker (sw.js, Background Sync), so it uses no
// DOM: only IndexedDB, fetch and FormData. Exposed as self.LckzmOutbox.
//
// Stores in the "lckzm" database:
//   drafts: {client_id, state: "editing"|"queued"|"rejected", fields: {service_code, description,
//            lat, long, location_source, address_string, email, consent}, photos: [{blob, name,
//            type, lat, long, taken_at}], errors, attempts, next_try (ms epoch), created_at,
//            updated_at}
//   sent:   {client_id, service_request_id, number, status, tracking_url, public_url, sent_at}
// A draft is deleted only after the server answered 200/201 with a service_request_id; the
// server is idempotent on client_id, so a repeated or interrupted upload makes one report.
(function (global) {
  "use strict";

  var DB_NAME = "lckzm";
  var DB_VERSION = 1;
  var FIELDS = ["service_code", "description", "lat", "long", "location_source", "address_string", "email"];
  var BACKOFF_BASE_MS = 10 * 1000;
  var BACKOFF_MAX_MS = 30 * 60 * 1000;
  var dbPromise = null;

  function promisify(request) {
    return new Promise(function (resolve, reject) {
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function openDb() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var request = indexedDB.open(DB_NAME, DB_VERSION);
        request.onupgradeneeded = function () {
          var db = request.result;
          if (!db.objectStoreNames.contains("drafts")) db.createObjectStore("drafts", { keyPath: "client_id" });
          if (!db.objectStoreNames.contains("sent")) db.createObjectStore("sent", { keyPath: "client_id" });
        };
        request.onsuccess = function () {
          var db = request.result;
          db.onversionchange = function () { db.close(); dbPromise = null; };
          resolve(db);
        };
        request.onerror = function () { dbPromise = null; reject(request.error); };
      });
    }
    return dbPromise;
  }

  // Run fn(store) in one transaction; resolves with fn's request result when the transaction commits.
  function withStore(name, mode, fn) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(name, mode);
        var result;
        var request = fn(tx.objectStore(name));
        if (request) request.onsuccess = function () { result = request.result; };
        tx.oncomplete = function () { resolve(result); };
        tx.onerror = function () { reject(tx.error); };
        tx.onabort = function () { reject(tx.error || new Error("transaction aborted")); };
      });
    });
  }

  function getDraft(id) { return withStore("drafts", "readonly", function (s) { return s.get(id); }); }
  function putDraft(draft) {
    draft.updated_at = Date.now();
    return withStore("drafts", "readwrite", function (s) { return s.put(draft); });
  }
  function deleteDraft(id) { return withStore("drafts", "readwrite", function (s) { return s.delete(id); }); }
  function listDrafts() {
    return withStore("drafts", "readonly", function (s) { return s.getAll(); }).then(function (all) {
      return (all || []).sort(function (a, b) { return (a.created_at || 0) - (b.created_at || 0); });
    });
  }
  function listSent() {
    return withStore("sent", "readonly", function (s) { return s.getAll(); }).then(function (all) {
      return (all || []).sort(function (a, b) { return (b.sent_at || 0) - (a.sent_at || 0); });
    });
  }
  function putSent(entry) { return withStore("sent", "readwrite", function (s) { return s.put(entry); }); }

  // Read, change and write a draft in ONE readwrite transaction, so the page and the service
  // worker's sync cannot interleave (two transactions would let one overwrite the other's
  // change). fn(draft or undefined) returns the draft to store, or null to leave it as it is;
  // it must be synchronous (a transaction commits once no request is pending). Resolves with
  // the stored draft, or null.
  function changeDraft(id, fn) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction("drafts", "readwrite");
        var store = tx.objectStore("drafts");
        var stored = null;
        store.get(id).onsuccess = function (event) {
          var draft = fn(event.target.result);
          if (!draft) return;
          draft.updated_at = Date.now();
          stored = draft;
          store.put(draft);
        };
        tx.oncomplete = function () { resolve(stored); };
        tx.onerror = function () { reject(tx.error); };
        tx.onabort = function () { reject(tx.error || new Error("transaction aborted")); };
      });
    });
  }

  // Change a stored draft in place; resolves null when there is none.
  function updateDraft(id, change) {
    return changeDraft(id, function (draft) {
      if (!draft) return null;
      change(draft);
      return draft;
    });
  }

  function backoffMs(attempts) {
    var delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * Math.pow(2, Math.max(0, attempts - 1)));
    return Math.round(delay * (0.8 + Math.random() * 0.4));  // jitter: phones do not retry in step
  }

  function fetchToken(csrfUrl) {
    return fetch(csrfUrl, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (resp) {
        if (!resp.ok) throw new Error("csrf-token " + resp.status);
        return resp.json();
      }).then(function (data) { return data.csrf_token; });
  }

  function buildBody(draft, token) {
    var body = new FormData();
    var fields = draft.fields || {};
    body.append("csrf_token", token);
    body.append("client_id", draft.client_id);
    FIELDS.forEach(function (name) {
      if (fields[name] !== undefined && fields[name] !== null) body.append(name, String(fields[name]));
    });
    if (fields.consent) body.append("consent", "y");
    (draft.photos || []).forEach(function (photo) { body.append("media", photo.blob, photo.name); });
    return body;
  }

  // One POST. Resolves {outcome: "sent"|"rejected"|"csrf"|"retry", data, status}; never rejects.
  function postDraft(draft, token, reportUrl) {
    return fetch(reportUrl, {
      method: "POST", body: buildBody(draft, token), credentials: "same-origin",
      headers: { Accept: "application/json" }
    }).then(function (resp) {
      var status = resp.status;
      var json = (resp.headers.get("Content-Type") || "").indexOf("json") >= 0 ? resp.json() : Promise.resolve(null);
      return json.catch(function () { return null; }).then(function (data) {
        if ((status === 200 || status === 201) && data && data.service_request_id) return { outcome: "sent", data: data, status: status };
        if (status === 422) return { outcome: "rejected", data: data || {}, status: status };
        if (status === 400) return { outcome: "csrf", status: status };  // stale token: refresh, retry
        if (status === 413) return { outcome: "rejected", data: { errors: { media: [] } }, status: status };
        return { outcome: "retry", status: status };  // 408, 429, 5xx, an unexpected answer
      });
    }, function (error) {
      return { outcome: "retry", status: 0, error: String(error) };  // no connection, cut mid-way
    });
  }

  // Send every queued draft (all of them when opts.force, else only those whose back-off is
  // over). opts: {csrfUrl, reportUrl, force}. Resolves {sent: [entries], rejected: n, retry: n,
  // busy: bool}. Only one context (page or worker) sends at a time (Web Locks where available).
  function sendAll(opts) {
    var run = function () { return sendQueued(opts); };
    if (global.navigator && global.navigator.locks && global.navigator.locks.request) {
      return global.navigator.locks.request("lckzm-outbox", { ifAvailable: true }, function (lock) {
        if (!lock) return { sent: [], rejected: 0, retry: 0, busy: true };
        return run();
      });
    }
    return run();
  }

  function sendQueued(opts) {
    var result = { sent: [], rejected: 0, retry: 0, busy: false };
    var now = Date.now();
    return listDrafts().then(function (drafts) {
      var due = drafts.filter(function (d) {
        return d.state === "queued" && (opts.force || !d.next_try || d.next_try <= now);
      });
      var token = null;
      var offline = false;
      return due.reduce(function (chain, draft) {
        return chain.then(function () {
          if (offline) { result.retry += 1; return null; }
          var tokenReady = token ? Promise.resolve(token) : fetchToken(opts.csrfUrl).then(function (t) { token = t; return t; });
          return tokenReady.then(function (t) {
            return postDraft(draft, t, opts.reportUrl).then(function (out) {
              if (out.outcome !== "csrf") return out;
              return fetchToken(opts.csrfUrl).then(function (fresh) {
                token = fresh;
                return postDraft(draft, fresh, opts.reportUrl);
              }).then(function (again) { return again.outcome === "csrf" ? { outcome: "retry", status: 400 } : again; });
            });
          }, function (error) {
            return { outcome: "retry", status: 0, error: String(error) };
          }).then(function (out) { return record(draft, out, result).then(function () {
            if (out.outcome === "retry" && out.status === 0) offline = true;  // do not hammer a dead link
          }); });
        });
      }, Promise.resolve());
    }).then(function () { return result; });
  }

  function record(draft, out, result) {
    if (out.outcome === "sent") {
      var data = out.data;
      var entry = {
        client_id: draft.client_id, service_request_id: String(data.service_request_id),
        number: data.number, status: data.status, tracking_url: data.tracking_url,
        public_url: data.public_url, sent_at: Date.now()
      };
      result.sent.push(entry);
      return putSent(entry).then(function () { return deleteDraft(draft.client_id); });
    }
    if (out.outcome === "rejected") {
      result.rejected += 1;
      return updateDraft(draft.client_id, function (d) {
        d.state = "rejected";
        d.errors = (out.data && out.data.errors) || {};
        d.last_status = out.status;
      });
    }
    result.retry += 1;
    return updateDraft(draft.client_id, function (d) {
      d.attempts = (d.attempts || 0) + 1;
      d.next_try = Date.now() + backoffMs(d.attempts);
      d.last_status = out.status;
    });
  }

  function newId() {
    if (global.crypto && global.crypto.randomUUID) return global.crypto.randomUUID();
    var b = global.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  global.LckzmOutbox = {
    SYNC_TAG: "lckzm-outbox",
    FIELDS: FIELDS,
    available: function () { return typeof global.indexedDB !== "undefined"; },
    newId: newId,
    getDraft: getDraft, putDraft: putDraft, deleteDraft: deleteDraft, updateDraft: updateDraft,
    changeDraft: changeDraft,
    listDrafts: listDrafts, listSent: listSent, putSent: putSent,
    sendAll: sendAll
  };
})(self);
