// The city map (/map, templates/map/index.html), the same map above the list on /reports
// (templates/map/_list_map.html, loaded on request), the small map of one report (its public
// page, templates/map/_report_map.html) and the phone's supporter id for "me too". All strings
// and URLs come from data-* attributes (translated there); no inline script or style (strict CSP).
//
// The city map: markers for the visible box come from /reports.geojson (RFC 7946, [long, lat]);
// the server sends single reports (clustered here by leaflet.markercluster) or, when the box
// holds too many, counts per grid cell (drawn as big circles; activating one zooms in). Without
// tiles (offline, blocked) the map keeps a plain background with the outline and the markers.
(function () {
  "use strict";
  if (window.LckzmCityMapLoaded) return;  // htmx re-runs the script when it swaps the form in
  window.LckzmCityMapLoaded = true;

  function fmt(text, values) {
    return String(text || "").replace(/\{(\w+)\}/g, function (m, k) { return k in values ? values[k] : m; });
  }
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---- the phone's supporter id ("me too" counted once per phone) ------------------------------
  var SUPPORTER_KEY = "lckzm-supporter-id";
  function supporterId() {
    var id = null;
    try { id = window.localStorage.getItem(SUPPORTER_KEY); } catch (e) { id = null; }
    if (!id && window.crypto && window.crypto.randomUUID) {
      id = window.crypto.randomUUID();
      try { window.localStorage.setItem(SUPPORTER_KEY, id); } catch (e) { /* private mode */ }
    }
    return id;
  }
  function fillSupporterIds(root) {
    var id = supporterId();
    if (!id) return;  // keep the id the server put in the page
    (root || document).querySelectorAll("input[data-supporter-id]").forEach(function (input) { input.value = id; });
  }
  document.addEventListener("DOMContentLoaded", function () { fillSupporterIds(document); });
  document.addEventListener("htmx:afterSettle", function (event) { fillSupporterIds(event.target); });
  // Offline the "already reported?" hint is simply absent: no request, no error.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (elt && elt.id === "nearby" && navigator.onLine === false) event.preventDefault();
  });

  // A "me too" tap right after typing a coordinate: leaving the field fires `change`, and the
  // list fetched anew would replace the button under the finger (the tap then sends nothing).
  // So the list is fetched again only when the category or the place really differ from what
  // it shows, and not while a "me too" button is being pressed (fetched a moment later, unless
  // the tap went through: its "thank you" stays).
  var nearbyShown = null;     // "code|lat|long" of the list on screen
  var pressedAt = 0;
  var supportSent = false;
  function nearbyKey() {
    return ["service_code", "lat", "long"].map(function (id) {
      var input = document.getElementById(id);
      return input ? input.value.trim() : "";
    }).join("|");
  }
  document.addEventListener("pointerdown", function (event) {
    if (event.target.closest && event.target.closest("#nearby-results button")) { pressedAt = Date.now(); supportSent = false; }
  }, true);
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (!elt) return;
    if (elt.closest && elt.closest("#nearby-results")) { supportSent = true; pressedAt = 0; return; }
    if (elt.id !== "nearby" || event.defaultPrevented) return;
    var key = nearbyKey();
    if (key === nearbyShown) { event.preventDefault(); return; }
    if (Date.now() - pressedAt < 1000) {
      event.preventDefault();
      setTimeout(function () { if (!supportSent && window.htmx) window.htmx.trigger(elt, "nearby-refresh"); }, 1000);
      return;
    }
    nearbyShown = key;
  });
  // The "me too" answer replaced the item with the pressed button (focus fell to <body>): focus
  // goes to the thank-you note, which #nearby's live region announces.
  document.addEventListener("htmx:afterSettle", function (event) {
    var item = event.target;
    if (!item || !item.matches) return;
    if (item.matches("#nearby-results .support-refused")) { item.focus(); return; }  // refused: why
    if (!item.matches("#nearby-results li.supported")) return;
    var note = item.querySelector("[data-support-note]");
    if (note) note.focus();
  });
  ["htmx:sendError", "htmx:responseError"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      if (event.detail && event.detail.elt && event.detail.elt.id === "nearby") nearbyShown = null;  // fetch again next time
    });
  });

  // ---- shared map parts -------------------------------------------------------------------------
  var LODZ = [51.7592, 19.4560];
  var OUTLINE = { color: "#8a1538", weight: 2, opacity: 0.9, fill: false, interactive: false };

  function baseMap(container, options) {
    var map = L.map(container, options);
    // No "Leaflet" link in the corner (a bare link in text, axe link-in-text-block); the tile
    // provider's attribution stays (its licence asks for it).
    if (map.attributionControl) map.attributionControl.setPrefix(false);
    var tiles = container.getAttribute("data-tile-url");
    if (tiles) {
      L.tileLayer(tiles, { maxZoom: 19, attribution: container.getAttribute("data-attribution") || "" }).addTo(map);
    }
    var boundary = container.getAttribute("data-boundary-url");
    if (boundary) {
      fetch(boundary, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) throw new Error("boundary");
        return r.json();
      }).then(function (geojson) { L.geoJSON(geojson, { style: OUTLINE }).addTo(map); })
        .catch(function () { /* the map works without the outline */ });
    }
    return map;
  }

  function statusIcon(props) {
    return L.divIcon({
      className: "citymap-marker status-" + props.status,
      html: "<span aria-hidden=\"true\">" + (props.symbol || "•").replace(/[<>&"]/g, "") + "</span>",
      iconSize: [28, 28], iconAnchor: [14, 14], popupAnchor: [0, -14]
    });
  }

  function popupContent(props, openLabel) {
    var box = el("div", "citymap-card");
    var link = el("a", null, props.number + " · " + props.category);
    link.href = props.url;
    box.appendChild(el("p")).appendChild(link);
    box.appendChild(el("p", "citymap-card-status", props.symbol + " " + props.status_label));
    box.appendChild(el("p", "citymap-card-age", props.age));
    var more = el("a", "button button-secondary", openLabel);
    more.href = props.url;
    box.appendChild(more);
    return box;
  }

  // A DivIcon that gives its element an accessible name (options.label) and the button role.
  var NamedIcon = null;
  function namedIcon(options) {
    if (!NamedIcon) {
      NamedIcon = L.DivIcon.extend({
        createIcon: function (old) {
          var node = L.DivIcon.prototype.createIcon.call(this, old);
          node.setAttribute("role", "button");
          if (this.options.label) node.setAttribute("aria-label", this.options.label);
          return node;
        }
      });
    }
    return new NamedIcon(options);
  }

  // ---- the city map (/map, and above the list on /reports) ----------------------------------------
  // "#map=zoom/lat/long" (OpenStreetMap's form; the moderation queue's small maps link so) opens
  // the map there; anything else, or a value out of range, opens the whole city.
  function startView(hash) {
    var m = /^#map=(\d{1,2})\/(-?\d{1,2}(?:\.\d+)?)\/(-?\d{1,3}(?:\.\d+)?)$/.exec(hash || "");
    if (!m) return [LODZ, 13];
    var zoom = parseInt(m[1], 10), lat = parseFloat(m[2]), lng = parseFloat(m[3]);
    if (zoom < 1 || zoom > 19 || Math.abs(lat) > 85 || Math.abs(lng) > 180) return [LODZ, 13];
    return [[lat, lng], zoom];
  }

  // The map of the reports matching some filters, drawn in `container` (its data-msg-* give the
  // texts). options: {url: function returning the GeoJSON URL with the filters (no bbox), read
  // on every load; status: the live region for progress; view: [[lat, long], zoom] to start}.
  // Returns {map, reload}: reload() fetches again when the URL changed (new filters).
  function cityMap(container, options) {
    var d = container.dataset;
    var status = options.status;
    function say(text) { if (status) status.textContent = text; }
    var map = baseMap(container, { keyboard: true, zoomControl: true });
    map.setView.apply(map, options.view);
    // A bubble of the clustering plug-in is a button (Enter zooms in) named by what it holds,
    // not a bare number.
    var cluster = L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 50,
      iconCreateFunction: function (group) {
        var n = group.getChildCount();
        return namedIcon({ html: "<div><span>" + n + "</span></div>", iconSize: L.point(40, 40),
          className: "marker-cluster marker-cluster-" + (n < 10 ? "small" : n < 100 ? "medium" : "large"),
          label: fmt(d.msgCell, { n: n }) });
      } });
    var cells = L.layerGroup();
    map.addLayer(cluster);
    map.addLayer(cells);
    var pending = null;
    var last = null;

    function load() {
      var b = map.getBounds();
      var box = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(4); }).join(",");
      var base = options.url();
      var url = base + (base.indexOf("?") < 0 ? "?" : "&") + "bbox=" + box;
      if (url === last) return;
      last = url;
      if (pending) pending.abort();
      pending = window.AbortController ? new AbortController() : null;
      container.setAttribute("aria-busy", "true");
      say(d.msgLoading);
      fetch(url, { credentials: "same-origin", signal: pending && pending.signal }).then(function (r) {
        if (!r.ok) throw new Error("geojson " + r.status);
        return r.json();
      }).then(function (data) {
        pending = null;
        draw(data);
        // Every load ends in its message, also when draw() kept the markers (the same reports).
        say(fmt(data.clustered ? d.msgClustered : d.msgCount, { n: data.count }));
        container.setAttribute("aria-busy", "false");
      }).catch(function (e) {
        if (e && e.name === "AbortError") return;
        last = null;
        container.setAttribute("aria-busy", "false");
        say(d.msgFailed);
      });
    }

    var drawn = null;
    var shown = {};  // "id:status" -> marker now on the map
    function draw(data) {
      // The same reports as already drawn (a small pan, or a popup's auto-pan): keep the markers,
      // so an open card stays open and focus stays where it is.
      var signature = (data.clustered ? "c" : "r") + data.features.map(function (f) {
        return f.properties.id || f.geometry.coordinates.join(":") + ":" + f.properties.count;
      }).join(",");
      if (signature === drawn) return;
      drawn = signature;
      cells.clearLayers();
      container.setAttribute("data-clustered", data.clustered ? "true" : "false");
      container.setAttribute("data-count", String(data.count));
      if (data.clustered) {
        cluster.clearLayers();
        shown = {};
        data.features.forEach(function (f) {
          var c = f.geometry.coordinates;
          var n = f.properties.count;
          var label = fmt(d.msgCell, { n: n });
          var marker = L.marker([c[1], c[0]], {
            icon: namedIcon({ className: "citymap-cell", html: "<span>" + n + "</span>", iconSize: [40, 40], label: label }),
            title: label, keyboard: true
          });
          function zoomIn() { map.setView([c[1], c[0]], map.getZoom() + 2); }
          marker.on("click", zoomIn);
          // A button works with Enter too (Leaflet only opens popups on Enter).
          marker.on("keypress", function (e) { if (e.originalEvent.key === "Enter") zoomIn(); });
          cells.addLayer(marker);
        });
        return;
      }
      // Only the reports that left the view go, only new ones come: a marker still in view (its
      // open card, its focus) survives the reload a popup's auto-pan or a small pan causes.
      var next = {};
      data.features.forEach(function (f) { next[f.properties.id + ":" + f.properties.status] = f; });
      var gone = Object.keys(shown).filter(function (key) { return !next[key]; });
      cluster.removeLayers(gone.map(function (key) { return shown[key]; }));
      gone.forEach(function (key) { delete shown[key]; });
      var fresh = Object.keys(next).filter(function (key) { return !shown[key]; }).map(function (key) {
        var f = next[key];
        var c = f.geometry.coordinates, p = f.properties;
        var label = p.number + ", " + p.category + ", " + p.status_label;
        var marker = L.marker([c[1], c[0]], { icon: statusIcon(p), title: label, keyboard: true });
        marker.bindPopup(function () { return popupContent(p, d.msgOpen); });
        marker.on("popupopen", function (e) { cardOpened(marker, e.popup); });
        marker.on("popupclose", function (e) { cardClosed(marker, e.popup); });
        marker.on("add", function () {
          var node = marker.getElement();
          node.setAttribute("aria-label", label);
          node.setAttribute("role", "button");
          node.setAttribute("data-report-id", String(p.id));
        });
        shown[key] = marker;
        return marker;
      });
      cluster.addLayers(fresh);
    }

    // Keyboard use of the cards: Enter on a marker opens its card and moves focus into it (its
    // first link); Escape, from the card or from the marker, closes it and puts focus back on
    // the marker; so does the card's close button. A pointer click leaves focus alone.
    var keyedMarker = null;  // the marker element Enter was pressed on, until its card opens
    var cardSource = null;   // the marker whose card is open
    container.addEventListener("keydown", function (event) {
      var target = event.target;
      if (event.key === "Enter" && target.classList && target.classList.contains("leaflet-marker-icon")) {
        keyedMarker = target;
      } else if (event.key === "Escape" && target !== container && cardSource && cardSource.isPopupOpen()) {
        event.preventDefault();  // (on the map box itself Leaflet closes the card)
        map.closePopup();
      }
    });
    container.addEventListener("pointerdown", function () { keyedMarker = null; }, true);
    function cardOpened(marker, popup) {
      cardSource = marker;
      var first = popup.getElement().querySelector("a[href]");
      // preventScroll: the browser must not scroll the map's box to the card (Leaflet pans it).
      if (marker.getElement() && marker.getElement() === keyedMarker && first) first.focus({ preventScroll: true });
      keyedMarker = null;
    }
    function cardClosed(marker, popup) {
      var active = document.activeElement;
      var card = popup.getElement();
      if (marker === cardSource) cardSource = null;
      // Focus was in the card (or dropped to the page with it): back to the marker it came from.
      if (marker.getElement() && (!active || active === document.body || (card && card.contains(active)))) {
        marker.getElement().focus({ preventScroll: true });
      }
    }

    map.on("moveend", load);
    load();
    window.LckzmCityMap = map;  // for the browser tests and the curious
    return { map: map, reload: load };
  }

  // ---- loading Leaflet (and the clustering plug-in) only when a map is wanted ---------------------
  var loads = {};
  // One <script> or stylesheet <link> per URL, once per page; a failure is forgotten (a later
  // try loads it again, e.g. back online).
  function loadOnce(url, kind) {
    if (!loads[url]) {
      loads[url] = new Promise(function (resolve, reject) {
        var node = document.createElement(kind === "script" ? "script" : "link");
        if (kind === "script") node.src = url; else { node.rel = "stylesheet"; node.href = url; }
        node.onload = resolve;
        node.onerror = function () { delete loads[url]; node.remove(); reject(new Error(url)); };
        document.head.appendChild(node);
      });
    }
    return loads[url];
  }
  function loadLeaflet(js, css) {
    if (window.L && window.L.map) return Promise.resolve();
    return Promise.all([loadOnce(css, "style"), loadOnce(js, "script")]);
  }

  // ---- the small map of one report --------------------------------------------------------------

  function reportMap(container) {
    var d = container.dataset;
    var point = [parseFloat(d.lat), parseFloat(d.long)];
    loadLeaflet(d.leafletJs, d.leafletCss).then(function () {
      container.hidden = false;
      var map = baseMap(container, { keyboard: false, dragging: false, scrollWheelZoom: false,
        zoomControl: false, doubleClickZoom: false, touchZoom: false, boxZoom: false,
        attributionControl: false }).setView(point, 16);
      L.marker(point, { icon: statusIcon({ status: d.status, symbol: d.symbol }), keyboard: false, interactive: false }).addTo(map);
    }).catch(function () { /* the coordinates stay as text */ });
  }

  // ---- the map above the list (/reports) ---------------------------------------------------------
  // A disclosure button: the first press loads Leaflet, the clustering plug-in and their CSS (the
  // list's first load stays small), then draws the reports matching the list's filters. Those are
  // read from the list itself (data-filter-query of the element named by data-list, sent again
  // with every htmx swap of the list), so the map always shows what the list counts. Focus stays
  // on the button; the map follows it in the tab order.
  var listMapState = null;  // {region, follow()} of the page's region

  function listMap(region) {
    var d = region.dataset;
    var button = region.querySelector("[data-map-toggle]");
    var panel = document.getElementById(button.getAttribute("aria-controls"));
    var container = panel.querySelector(".citymap");
    var status = region.querySelector("[role=status]");
    var shown = null;  // the cityMap, once drawn
    function say(text) { status.textContent = text; }
    function url() {
      var list = document.getElementById(d.list);
      var query = list ? list.getAttribute("data-filter-query") : "";
      return d.url + (query ? "?" + query : "");
    }
    function setOpen(open) {
      button.setAttribute("aria-expanded", open ? "true" : "false");
      button.textContent = open ? d.msgHide : d.msgShow;
      panel.hidden = !open;
    }
    function open() {
      setOpen(true);
      if (shown) { shown.map.invalidateSize(); shown.reload(); return; }
      panel.hidden = true;  // until Leaflet is there: no empty box
      say(d.msgLoadingMap);
      loadLeaflet(d.leafletJs, d.leafletCss).then(function () {
        return Promise.all([loadOnce(d.clusterCss, "style"), loadOnce(d.clusterThemeCss, "style"),
          loadOnce(d.clusterJs, "script")]);
      }).then(function () {
        if (button.getAttribute("aria-expanded") !== "true") return;  // closed meanwhile
        panel.hidden = false;
        // Zoom 13 as /map: about a district in view, the box bench/map_bbox.py measures.
        shown = cityMap(container, { url: url, status: status, view: [LODZ, 13] });
      }).catch(function () {
        setOpen(false);
        say(navigator.onLine === false ? d.msgOffline : d.msgFailedMap);
      });
    }
    button.addEventListener("click", function () {
      if (button.getAttribute("aria-expanded") === "true") { setOpen(false); say(""); } else { open(); }
    });
    region.hidden = false;  // without JavaScript there is only the list
    listMapState = {
      region: region,
      follow: function () { if (shown && !panel.hidden) shown.reload(); }
    };
  }

  function startListMap() {
    var region = document.getElementById("list-map");
    if (region && (!listMapState || listMapState.region !== region)) listMap(region);
  }
  // New filters or another page of the list: the map follows the list's (possibly new) filters.
  document.addEventListener("htmx:afterSettle", function () {
    if (listMapState && document.body.contains(listMapState.region)) listMapState.follow();
  });
  // Back/forward: htmx puts a fresh page in (historyCacheSize 0), with a new region to set up.
  document.addEventListener("htmx:historyRestore", startListMap);

  document.addEventListener("DOMContentLoaded", function () {
    var city = document.getElementById("citymap");
    if (city && window.L) {
      cityMap(city, { url: function () { return city.dataset.url; }, view: startView(window.location.hash),
        status: document.getElementById("citymap-status") });
    }
    startListMap();
    document.querySelectorAll("[data-report-map]").forEach(function (node) {
      if (!("IntersectionObserver" in window)) { reportMap(node); return; }
      var seen = new IntersectionObserver(function (entries) {
        if (entries.some(function (e) { return e.isIntersecting; })) { seen.disconnect(); reportMap(node); }
      });
      seen.observe(node.parentNode);
    });
  });
}());
