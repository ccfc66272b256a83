// ŁCKzM service worker: the app shell offline, one small strategy per kind of URL, and sending
// saved reports through Background Sync. Served at /sw.js (scope /) by webapp/pwa/views.py, which
// puts `self.LCKZM_BUILD = "<hash of the static files>"` on the first line: any change to a
// precached file changes this script, so browsers install the new version and the page offers a
// reload (we never skipWaiting on our own: the page asks, after the resident agreed).
"use strict";

importScripts("/static/js/outbox.js");

var BUILD = self.LCKZM_BUILD || "dev";
var VERSION = 1;  // bump when the caching strategies change
var PREFIX = "lckzm-";
var SHELL_CACHE = PREFIX + "shell-v" + VERSION + "-" + BUILD;  // precache: pages and static files
var PAGES_CACHE = PREFIX + "pages-v" + VERSION;                 // public pages seen while online
var PHOTOS_CACHE = PREFIX + "photos-v" + VERSION;               // public copies of report photos
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
  "/static/js/app.js",
  "/static/js/outbox.js",
  "/static/js/pwa.js",
  "/static/js/drafts.js",
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

function isPrivate(path) {
  return PRIVATE.some(function (re) { return re.test(path); });
}

// "no-cache": revalidate with the server (so the precache is current) but let a 304 reuse what
// the page itself has just downloaded, instead of fetching every file a second time.
function freshRequest(url) {
  return new Request(url, { cache: "no-cache", credentials: "same-origin" });
}

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL_CACHE).then(function (cache) {
    var optional = PRECACHE_OPTIONAL.map(function (url) {
      return cache.add(freshRequest(url)).catch(function () { return null; });
    });
    return Promise.all([cache.addAll(PRECACHE.map(freshRequest))].concat(optional));
  }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf(PREFIX) === 0 && KEEP.indexOf(name) < 0;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("message", function (event) {
  if (event.data && event.data.type === "SKIP_WAITING") self.skipWaiting();
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;  // POSTs go straight to the network, never cached
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.headers.get("HX-Request")) return;  // htmx fragments: network only, the page says when offline
  if (request.mode === "navigate") {
    event.respondWith(isPrivate(url.pathname) ? networkOrOfflinePage(request) : networkFirstPage(event, request));
    return;
  }
  if (isPrivate(url.pathname)) return;
  if (url.pathname.indexOf("/static/") === 0 || url.pathname === "/manifest.json") {
    event.respondWith(cacheFirst(request, SHELL_CACHE, 0));
  } else if (url.pathname.indexOf("/media/photos/") === 0) {
    event.respondWith(cacheFirst(request, PHOTOS_CACHE, MAX_PHOTOS));
  }
});

// Pages: the network, unless it fails or takes longer than the timeout; then the cached copy;
// then the offline page. Good answers of public pages refresh the cache.
function networkFirstPage(event, request) {
  var network = fetch(request);
  event.waitUntil(network.then(function (response) {
    if (cacheablePage(response)) return putCapped(PAGES_CACHE, request, response.clone(), MAX_PAGES);
    return null;
  }).catch(function () { return null; }));
  var timeout = new Promise(function (resolve) { setTimeout(resolve, NAVIGATION_TIMEOUT_MS, null); });
  var quick = Promise.race([network.catch(function () { return null; }), timeout]);
  return quick.then(function (response) {
    if (response) return response;
    return cachedPage(request).then(function (cached) {
      if (cached) return cached;
      return network.catch(offlinePage);  // slow, not cached: wait for the network after all
    });
  });
}

function networkOrOfflinePage(request) {
  return fetch(request).catch(offlinePage);
}

function cacheablePage(response) {
  if (!response || !response.ok || response.type !== "basic") return false;
  if (isPrivate(new URL(response.url).pathname)) return false;  // after redirects too
  return !/no-store|private/i.test(response.headers.get("Cache-Control") || "");
}

function cachedPage(request) {
  // The copy last seen online, then the precached one; the exact URL first, then the same page
  // whatever its query (?lang=, ?draft=).
  return caches.open(PAGES_CACHE).then(function (pages) {
    return pages.match(request);
  }).then(function (hit) {
    return hit || caches.match(request);
  }).then(function (hit) {
    return hit || caches.match(request, { ignoreSearch: true });
  });
}

function offlinePage() {
  return caches.match("/offline").then(function (hit) {
    return hit || new Response("Offline", { status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" } });
  });
}

// Static files (the build id in this script renames the cache when they change) and photos.
function cacheFirst(request, cacheName, max) {
  return caches.open(cacheName).then(function (cache) {
    return cache.match(request).then(function (hit) {
      if (hit) return hit;
      return fetch(request).then(function (response) {
        if (response.ok && response.type === "basic") {
          var copy = response.clone();
          if (max) putCapped(cacheName, request, copy, max); else cache.put(request, copy);
        }
        return response;
      });
    });
  });
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
  event.waitUntil(self.LckzmOutbox.sendAll({ csrfUrl: "/csrf-token", reportUrl: "/report", force: true })
    .then(function (result) {
      return tellPages(result).then(function () {
        if (result.retry && !event.lastChance) throw new Error("some reports are still waiting");
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
