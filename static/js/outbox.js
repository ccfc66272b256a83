// The outbox: report drafts kept in IndexedDB and sent to the server, exactly once.
// Shared by the pages (drafts.js) and the service worker (sw.js, Background Sync), so it uses no
// DOM: only IndexedDB, fetch and FormData. Exposed as self.LckzmOutbox.
//
// Stores in the "lckzm" database:
//   drafts: {client_id, state: "editing"|"queued"|"rejected", fields: {service_code, description,
//            lat, long, location_source, address_string, email, consent}, photos: [{blob, name,
//            type, lat, long, taken_at}], errors, attempts, next_try (ms epoch), created_at,
//            updated_at, reason: why the server refused it for now (a switched-off feature, its
//            words) or null}
//   sent:   {client_id, service_request_id, number, status, tracking_url, public_url, sent_at,
//            push: "wanted"|"on"|"blocked"|"refused"|"failed" (only when the draft asked for push
//            notifications: fields.notify_push), push_lang, push_endpoint, push_attempts}
// A draft's lang is the language of the page it was written in (notifications come in it).
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
  function changeDraft(id, fn) { return changeIn("drafts", id, fn); }

  function changeIn(name, id, fn) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(name, "readwrite");
        var store = tx.objectStore(name);
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

  // The same for a sent entry ("my reports").
  function updateSent(id, change) {
    return changeIn("sent", id, function (entry) {
      if (!entry) return null;
      change(entry);
      return entry;
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
        var off = status === 503 ? resp.headers.get("X-Switched-Off") : null;
        if (off) {
          // An admin switched something off (hooks.py _gate); the answer says why.
          var reason = (data && data[0] && data[0].description) || "";
          if (off === "photos") return { outcome: "rejected", data: { errors: { media: [reason] } }, status: status };
          return { outcome: "retry", status: status, reason: reason };
        }
        return { outcome: "retry", status: status };  // 408, 429, 5xx, an unexpected answer
      });
    }, function (error) {
      return { outcome: "retry", status: 0, error: String(error) };  // no connection, cut mid-way
    });
  }

  // Run fn() in this context only while no other context (page or worker) runs one (Web Locks
  // where available); resolves with `busy` when another one holds the lock.
  function exclusively(fn, busy) {
    if (global.navigator && global.navigator.locks && global.navigator.locks.request) {
      return global.navigator.locks.request("lckzm-outbox", { ifAvailable: true }, function (lock) {
        return lock ? fn() : busy;
      });
    }
    return fn();
  }

  // Send every queued draft (all of them when opts.force, else only those whose back-off is
  // over), then register push for the sent reports that asked for it (followAll). opts:
  // {csrfUrl, reportUrl, keyUrl, force}. Resolves {sent: [entries], rejected: n, retry: n,
  // followed: [entries], unfollowed: [entries], pushRetry: n, busy: bool}.
  function sendAll(opts) {
    return exclusively(function () {
      return sendQueued(opts).then(function (result) {
        return followPending(opts).then(function (push) { return merge(result, push); });
      });
    }, { sent: [], rejected: 0, retry: 0, followed: [], unfollowed: [], pushRetry: 0, busy: true });
  }

  function merge(result, push) {
    result.followed = push.followed;
    result.unfollowed = push.unfollowed;
    result.pushRetry = push.retry;
    return result;
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
      wantPush(entry, draft);
      result.sent.push(entry);
      return putSent(entry).then(function () { return deleteDraft(draft.client_id); });
    }
    if (out.outcome === "rejected") {
      result.rejected += 1;
      return updateDraft(draft.client_id, function (d) {
        d.state = "rejected";
        d.errors = (out.data && out.data.errors) || {};
        d.last_status = out.status;
        d.reason = null;
      });
    }
    result.retry += 1;
    if (out.reason) result.reason = out.reason;
    return updateDraft(draft.client_id, function (d) {
      d.attempts = (d.attempts || 0) + 1;
      d.next_try = Date.now() + backoffMs(d.attempts);
      d.last_status = out.status;
      d.reason = out.reason || null;  // none: the connection (the list says "waiting for a connection")
    });
  }

  // ---- push notifications for a sent report (issue 8) ---------------------------------------
  // A resident may tick "notify me on this phone" on a draft (fields.notify_push). Permission was
  // asked then, on the tick (a prompt needs a user gesture: nothing here can ask). Once the report
  // exists, this browser subscribes if it has not yet (subscribing needs the push service, so
  // offline it waits) and registers the subscription for the report at its tracking URL + "/push"
  // (webapp/push/views.py; idempotent per report and endpoint, so a retry adds nothing). Runs in
  // the page and in the service worker (Background Sync with the page closed).
  var PUSH_MAX_ATTEMPTS = 10;   // a browser whose push service never answers stops trying

  function wantPush(entry, draft) {
    if (!(draft.fields && draft.fields.notify_push)) return;
    entry.push = "wanted";
    entry.push_lang = draft.lang || "";
    entry.push_attempts = 0;
  }

  // The service worker's own registration, or the page's (undefined when none is active).
  function swRegistration() {
    if (global.registration && global.registration.pushManager) return Promise.resolve(global.registration);
    if (!global.navigator || !global.navigator.serviceWorker) return Promise.resolve(undefined);
    return global.navigator.serviceWorker.getRegistration().then(function (reg) {
      return reg && reg.active && reg.pushManager ? reg : undefined;
    });
  }

  function keyBytes(base64url) {
    var padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = global.atob(padded);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function fetchKey(keyUrl) {
    return fetch(keyUrl || "/push/key", { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (resp) {
        if (!resp.ok) throw new Error("push key " + resp.status);
        return resp.json();
      }).then(function (data) { return data.publicKey; });
  }

  // This browser's subscription: the existing one, else a new one (needs the push service).
  function subscription(reg, keyUrl) {
    return reg.pushManager.getSubscription().then(function (existing) {
      return existing || fetchKey(keyUrl).then(function (key) {
        return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
      });
    });
  }

  // The report's subscribe URL on this origin, in the language the draft was written in.
  function pushUrl(entry) {
    var path = new URL(entry.tracking_url, global.location.href).pathname.replace(/\/$/, "");
    return path + "/push" + (entry.push_lang ? "?lang=" + encodeURIComponent(entry.push_lang) : "");
  }

  function permissionOf(reg) {
    if (reg.pushManager.permissionState) return reg.pushManager.permissionState({ userVisibleOnly: true });
    return Promise.resolve(global.Notification ? global.Notification.permission : "denied");
  }

  // Register one entry. Resolves {state: "on"|"wanted"|"blocked"|"refused", endpoint, error};
  // "wanted" = try again later (offline, push service or server not answering, stale token).
  function followOne(entry, opts) {
    return swRegistration().then(function (reg) {
      if (!reg) return { state: "wanted" };
      return permissionOf(reg).then(function (permission) {
        if (permission !== "granted") return { state: "blocked" };
        return subscription(reg, opts.keyUrl).then(function (sub) {
          return fetchToken(opts.csrfUrl).then(function (token) {
            return fetch(pushUrl(entry), {
              method: "POST", credentials: "same-origin", body: JSON.stringify(sub.toJSON()),
              headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": token }
            });
          }).then(function (resp) {
            if (resp.ok) return { state: "on", endpoint: sub.endpoint };
            if (resp.status !== 404 && resp.status !== 422) return { state: "wanted" };
            return resp.json().catch(function () { return {}; }).then(function (data) {
              return { state: "refused", error: (data && data.error) || "" };
            });
          });
        });
      });
    }).catch(function () { return { state: "wanted" }; });
  }

  // Register every sent report that still waits for it. Resolves {followed: [entries],
  // unfollowed: [entries that will not be followed], retry: n}. Call inside exclusively().
  function followPending(opts) {
    var out = { followed: [], unfollowed: [], retry: 0 };
    return listSent().then(function (entries) {
      return entries.filter(function (e) { return e.push === "wanted"; }).reduce(function (chain, entry) {
        return chain.then(function () { return followOne(entry, opts); }).then(function (got) {
          return updateSent(entry.client_id, function (e) {
            e.push_attempts = (e.push_attempts || 0) + 1;
            e.push = got.state === "wanted" && e.push_attempts >= PUSH_MAX_ATTEMPTS ? "failed" : got.state;
            if (got.endpoint) e.push_endpoint = got.endpoint;
            if (got.error) e.push_error = got.error;
          }).then(function (stored) {
            if (!stored) return;
            if (stored.push === "on") out.followed.push(stored);
            else if (stored.push === "wanted") out.retry += 1;
            else out.unfollowed.push(stored);
          });
        });
      }, Promise.resolve());
    }).then(function () { return out; }, function () { return out; });
  }

  // For the page after htmx sent a report (sendAll does this itself): the same, one at a time.
  function followAll(opts) {
    return exclusively(function () { return followPending(opts); },
      { followed: [], unfollowed: [], retry: 0, busy: true });
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
    listDrafts: listDrafts, listSent: listSent, putSent: putSent, updateSent: updateSent,
    sendAll: sendAll, followAll: followAll
  };
})(self);
