// ŁCKzM service worker: the app shell offline, one small strategy per kind of URL, and sending
// saved reports through Background Sync. Served at /sw.js (scope /) by webapp/pwa/views.py, which
// puts two lines on top: `self.LCKZM_BUILD = "<build id>"` and `self.LCKZM_REVISIONS = {"<URL
// path>": "<revision>"}` (a content hash per static file; the build id for the shell pages). Any
// change to a shipped file or a template changes this script, so browsers install the new
// version and the page offers a reload (we never skipWaiting on our own: the page asks, after
// the resident agreed).
//
// Caches: the shell (static files and the shell pages, each stored under its revision and kept
// while the revision is the same, so a release downloads only the files it changed), and the
// pages and photos seen while online, named after the build (a page cached before a release
// links the old scripts, so it is not served after it). A cached photo is shown at once and
// checked with the server in the background: one an operator has hidden since is dropped.
"use strict";

importScripts("/static/js/outbox.js");

var BUILD = self.LCKZM_BUILD || "dev";
var REVISIONS = self.LCKZM_REVISIONS || {};
var VERSION = 2;  // bump when the caching strategies change
var PREFIX = "lckzm-";
var SHELL_CACHE = PREFIX + "shell-v" + VERSION;                           // files under their revision
var PAGES_CACHE = PREFIX + "pages-v" + VERSION + "-" + BUILD;             // public pages seen while online
var PHOTOS_CACHE = PREFIX + "photos-v" + VERSION + "-" + BUILD;           // public copies of report photos
var KEEP = [SHELL_CACHE, PAGES_CACHE, PHOTOS_CACHE];
var MAX_PAGES = 30;
var MAX_PHOTOS = 60;
var NAVIGATION_TIMEOUT_MS = 4000;

// The app shell. The report form must open offline; its CSRF token may go stale, which is why the
// outbox fetches a fresh one before sending.
var PRECACHE = [
  "/report",
  "/offline",
  "/manifest.json",
  "/static/css/app.css",
  "/static/vendor/htmx/htmx.min.js",
  "/static/vendor/exifr/lite.umd.js",
  "/static/js/dom.js",
  "/static/js/app.js",
  "/static/js/outbox.js",
  "/static/js/pwa.js",
  "/static/js/photos.js",
  "/static/js/lists.js",
  "/static/js/sending.js",
  "/static/js/drafts.js",
  "/static/js/push.js",
  "/static/js/citymap.js",  // the "already reported?" hint on the form; the map needs a connection
  "/static/css/citymap.css",
  "/static/js/map.js",  // only the button's script: Leaflet and tiles need a connection anyway
  "/static/icons/icon-192.png",
  "/static/icons/icon-512.png",
  "/static/icons/icon-maskable-512.png",
  "/static/icons/apple-touch-icon.png"
];
// Nice to have offline, but a failure here must not stop the install.
var PRECACHE_OPTIONAL = ["/", "/install"];

// Never cached, whatever the method: private links (tracking, department staff), admin, tokens.
var PRIVATE = [/^\/t\//, /^\/departments\//, /^\/admin(\/|$)/, /^\/csrf-token$/, /^\/sw\.js$/, /^\/open311\//];

function noop() { return null; }

function isPrivate(path) {
  return PRIVATE.some(function (re) { return re.test(path); });
}

// The shell cache's key for a URL path: the path under its current revision (the revision in the
// query, as Workbox does), or null for a path the build does not list (then never cached here).
function shellKey(path) {
  var revision = REVISIONS[path];
  return revision ? new URL(path + "?__rev=" + encodeURIComponent(revision), self.location.href).href : null;
}

// "no-cache": revalidate with the server (so the precache is current) but let a 304 reuse what
// the page itself has just downloaded, instead of fetching every file a second time.
function freshRequest(url) {
  return new Request(url, { cache: "no-cache", credentials: "same-origin" });
}

// Fetch a shell file unless it is already cached under its current revision.
function precache(cache, path) {
  var key = shellKey(path);
  if (!key) return Promise.reject(new Error("no revision for " + path));
  return cache.match(key).then(function (hit) {
    if (hit) return null;  // unchanged since the release that cached it
    return fetch(freshRequest(path)).then(function (response) {
      if (!response.ok) throw new Error(path + ": " + response.status);
      return cache.put(key, response);
    });
  });
}

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL_CACHE).then(function (cache) {
    var optional = PRECACHE_OPTIONAL.map(function (path) { return precache(cache, path).catch(noop); });
    return Promise.all(PRECACHE.map(function (path) { return precache(cache, path); }).concat(optional));
  }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(Promise.all([dropOldCaches(), dropOldRevisions(), enableNavigationPreload()])
    .then(function () { return self.clients.claim(); }));
});

// Caches of other versions or builds (by prefix: never another app's caches on the origin).
function dropOldCaches() {
  return caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf(PREFIX) === 0 && KEEP.indexOf(name) < 0;
    }).map(function (name) { return caches.delete(name); }));
  });
}

// Shell entries whose revision this build no longer lists (the previous version of a file).
function dropOldRevisions() {
  var current = {};
  Object.keys(REVISIONS).forEach(function (path) { current[shellKey(path)] = true; });
  return caches.open(SHELL_CACHE).then(function (cache) {
    return cache.keys().then(function (keys) {
      return Promise.all(keys.filter(function (key) { return !current[key.url]; })
        .map(function (key) { return cache.delete(key); }));
    });
  });
}

// The page request starts while the worker is still starting up (it answers most navigations).
function enableNavigationPreload() {
  var preload = self.registration.navigationPreload;
  return preload ? preload.enable().catch(noop) : Promise.resolve();
}

self.addEventListener("message", function (event) {
  if (event.data && event.data.type === "SKIP_WAITING") self.skipWaiting();
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;  // POSTs go straight to the network, never cached
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.headers.get("HX-Request")) return;  // htmx fragments: network only, the page says when offline
  if (url.pathname.indexOf("/media/photos/") === 0) {
    // In a page, or opened full size from its thumbnail (a navigation): the same copy either way.
    cachedThenRevalidated(event, PHOTOS_CACHE, MAX_PHOTOS);
    return;
  }
  if (request.mode === "navigate") {
    event.respondWith(isPrivate(url.pathname) ? networkOrOfflinePage(event) : networkFirstPage(event));
    return;
  }
  if (isPrivate(url.pathname)) return;
  if (url.pathname.indexOf("/static/") === 0 || url.pathname === "/manifest.json") {
    var key = url.search ? null : shellKey(url.pathname);
    if (key) cacheFirst(event, SHELL_CACHE, key, 0);  // not in the build's list: network only
  }
});

// The page from the network: the navigation preload when the browser started one, else a fetch.
function networkPage(event) {
  return Promise.resolve(event.preloadResponse).catch(noop).then(function (preloaded) {
    return preloaded || fetch(event.request);
  });
}

// Pages: the network, unless it fails or takes longer than the timeout; then the cached copy;
// then the offline page. Good answers of public pages refresh the cache.
function networkFirstPage(event) {
  var request = event.request;
  var network = networkPage(event);
  event.waitUntil(network.then(function (response) {
    if (cacheablePage(response)) return putCapped(PAGES_CACHE, request, response.clone(), MAX_PAGES);
    return null;
  }).catch(noop));
  var timeout = new Promise(function (resolve) { setTimeout(resolve, NAVIGATION_TIMEOUT_MS, null); });
  var quick = Promise.race([network.catch(noop), timeout]);
  return quick.then(function (response) {
    if (response) return response;
    return cachedPage(request).then(function (cached) {
      if (cached) return cached;
      return network.catch(offlinePage);  // slow, not cached: wait for the network after all
    });
  });
}

function networkOrOfflinePage(event) {
  return networkPage(event).catch(offlinePage);
}

function cacheablePage(response) {
  if (!response || !response.ok || response.type !== "basic") return false;
  if (isPrivate(new URL(response.url).pathname)) return false;  // after redirects too
  return !/no-store|private/i.test(response.headers.get("Cache-Control") || "");
}

function shellPage(path) {
  var key = shellKey(path);
  if (!key) return Promise.resolve(undefined);
  return caches.open(SHELL_CACHE).then(function (cache) { return cache.match(key); });
}

function cachedPage(request) {
  // The copy last seen online in this build, then the precached one, then the same page
  // whatever its query (?lang=, ?draft=).
  return caches.open(PAGES_CACHE).then(function (pages) {
    return pages.match(request).then(function (hit) {
      return hit || shellPage(new URL(request.url).pathname);
    }).then(function (hit) {
      return hit || pages.match(request, { ignoreSearch: true });
    });
  });
}

function offlinePage() {
  return shellPage("/offline").then(function (hit) {
    return hit || new Response("Offline", { status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" } });
  });
}

// Static files (under their revision): the cache, else the network; the copy is stored within
// the event's lifetime (waitUntil), so the worker is not stopped half-way.
function cacheFirst(event, cacheName, key, max) {
  var stored = null;
  var response = caches.open(cacheName).then(function (cache) {
    return cache.match(key).then(function (hit) {
      if (hit) return hit;
      return fetch(event.request).then(function (fresh) {
        if (fresh.ok && fresh.type === "basic") {
          var copy = fresh.clone();
          stored = max ? putCapped(cacheName, key, copy, max) : cache.put(key, copy);
        }
        return fresh;
      });
    });
  });
  event.respondWith(response);
  event.waitUntil(response.then(function () { return stored; }).catch(noop));
}

// Photos: the cached copy at once (fast, and offline), else the network; either way the server is
// asked too, past the browser's HTTP cache ("no-cache": an unchanged photo costs a 304), since an
// operator may hide a photo (its URL then answers 404) or rotate it (new bytes, same URL). 404 or
// 410 drops the copy, so the next view no longer shows it; a good answer replaces it; anything
// else (offline, 5xx, maintenance) keeps it. The check runs within the event's lifetime.
function cachedThenRevalidated(event, cacheName, max) {
  var request = event.request;
  // A photo opened full size is a navigation: its preload (through the HTTP cache, which may
  // keep a hidden photo for an hour) is not used, only settled so the browser does not warn.
  if (request.mode === "navigate") event.waitUntil(Promise.resolve(event.preloadResponse).catch(noop));
  var checked = fetch(freshRequest(request.url)).then(function (fresh) {
    // Cloned before the page may start reading the body.
    return { response: fresh, stored: revalidated(cacheName, request, fresh.clone(), max) };
  });
  var response = caches.open(cacheName).then(function (cache) {
    return cache.match(request);
  }).then(function (hit) {
    return hit || checked.then(function (answer) { return answer.response; });
  });
  event.respondWith(request.mode === "navigate" ? response.catch(offlinePage) : response);
  event.waitUntil(checked.then(function (answer) { return answer.stored; }).catch(noop));
}

function revalidated(cacheName, request, response, max) {
  if (response.status === 404 || response.status === 410) {
    return caches.open(cacheName).then(function (cache) { return cache.delete(request); });
  }
  if (response.ok && response.type === "basic") return putCapped(cacheName, request, response, max);
  return null;
}

// Put, then drop the oldest entries beyond max (Cache keys come back in insertion order).
function putCapped(cacheName, request, response, max) {
  return caches.open(cacheName).then(function (cache) {
    return cache.put(request, response).then(function () { return cache.keys(); }).then(function (keys) {
      return Promise.all(keys.slice(0, Math.max(0, keys.length - max)).map(function (key) { return cache.delete(key); }));
    });
  });
}

// Background Sync: send saved reports when the browser says the connection is back, even after
// the tab was closed. Throwing asks the browser to try again later (it backs off by itself).
self.addEventListener("sync", function (event) {
  if (event.tag !== self.LckzmOutbox.SYNC_TAG) return;
  // Push for a report that asked for it is registered here too (self.registration.pushManager:
  // the permission was given on the form), so it works with the page closed.
  event.waitUntil(self.LckzmOutbox.sendAll({ csrfUrl: "/csrf-token", reportUrl: "/report", keyUrl: "/push/key", force: true })
    .then(function (result) {
      return tellPages(result).then(function () {
        if ((result.retry || result.pushRetry) && !event.lastChance) throw new Error("some reports are still waiting");
      });
    }));
});

function tellPages(result) {
  return self.clients.matchAll({ includeUncontrolled: true, type: "window" }).then(function (clients) {
    clients.forEach(function (client) { client.postMessage({ type: "outbox-changed", result: result }); });
  });
}

// ==== Push notifications (issue 8; webapp/push) ============================================
// A status change of a followed report arrives as an encrypted Web Push message whose JSON is
// {title, body, url, unsubscribe_url, stop_label, tag, number, lang, icon, badge}
// (webapp.push.services.notification_for). Shown even when no page of the app is open; a click
// focuses the report's tracking page or opens it. The tag makes a repeated message replace the
// notification instead of adding a second one.

// Only our own pages: a URL of another origin is reduced to its path on this one.
function sameOriginUrl(url) {
  try {
    var u = new URL(url || "/", self.location.origin);
    return u.origin === self.location.origin ? u.href : self.location.origin + u.pathname + u.search;
  } catch (e) {
    return self.location.origin + "/";
  }
}

self.addEventListener("push", function (event) {
  var data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (e) {
    data = { body: event.data ? event.data.text() : "" };
  }
  var options = {
    body: data.body || "",
    tag: data.tag || undefined,
    lang: data.lang || undefined,
    icon: data.icon || "/static/icons/icon-192.png",
    badge: data.badge || "/static/icons/icon-192.png",
    data: { url: sameOriginUrl(data.url), unsubscribeUrl: data.unsubscribe_url ? sameOriginUrl(data.unsubscribe_url) : null,
            number: data.number || null },
    actions: data.unsubscribe_url && data.stop_label ? [{ action: "unsubscribe", title: data.stop_label }] : []
  };
  event.waitUntil(self.registration.showNotification(data.title || ("ŁCKzM " + (data.number || "")), options));
});

self.addEventListener("notificationclick", function (event) {
  var info = event.notification.data || {};
  event.notification.close();
  var target = event.action === "unsubscribe" && info.unsubscribeUrl ? info.unsubscribeUrl : (info.url || self.location.origin + "/");
  event.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
    for (var i = 0; i < windows.length; i++) {
      if (windows[i].url === target && "focus" in windows[i]) return windows[i].focus();
    }
    return self.clients.openWindow(target);
  }));
});
// ==== end of push notifications =============================================================
