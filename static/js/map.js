// "Pick on the map" on the report form (templates/reports/_map.html). Leaflet, its CSS and the
// city outline are fetched only when the button is pressed (the form's first load stays small);
// all strings and URLs come from the data-* attributes of #map-picker (translated there).
//
// The map is an extra: the coordinate fields stay the way to type a position, the map only
// fills them (6 decimals, location_source "manual") and follows what is typed. A point outside
// the (simplified) city outline gets a message at once; the server still validates every report.
//
// htmx re-runs this file when it swaps the form in again (the <script> is in the fragment), so
// it sets itself up once and looks the elements up on every use.
(function () {
  "use strict";
  if (window.LckzmMap) return;

  var LODZ = { lat: 51.7592, lng: 19.4560, zoom: 13 };  // ul. Piotrkowska, the whole centre in view
  var POINT_ZOOM = 16;          // a position already in the fields: close enough to see the street
  var OUTLINE = { color: "#8a1538", weight: 2, opacity: 0.9, fill: false, interactive: false };

  var leafletLoading = null;
  var boundaryLoading = null;
  var state = null;             // {map, marker, container, polygons, last} for the shown map

  var Dom = window.LckzmDom;
  var $ = Dom.byId, fmt = Dom.fmt, escapeHtml = Dom.escapeHtml;
  function picker() { return $("map-picker"); }
  function say(text, warning) {
    var status = $("map-status");
    if (!status) return;
    status.textContent = text || "";
    status.classList.toggle("map-warning", !!warning);
  }

  // ---- loading, once per page -----------------------------------------------------------------

  function loadLeaflet(data) {
    if (window.L && window.L.map) return Promise.resolve(window.L);
    if (!leafletLoading) {
      leafletLoading = new Promise(function (resolve, reject) {
        var css = document.createElement("link");
        css.rel = "stylesheet";
        css.href = data.leafletCss;
        var script = document.createElement("script");
        script.src = data.leafletJs;
        var pending = 2;
        function done() { if (--pending === 0) resolve(window.L); }
        function fail() { leafletLoading = null; css.remove(); script.remove(); reject(new Error("leaflet")); }
        css.onload = done; css.onerror = fail;
        script.onload = done; script.onerror = fail;
        document.head.appendChild(css);
        document.head.appendChild(script);
      });
    }
    return leafletLoading;
  }

  // The outline as GeoJSON plus its rings as [[lng, lat], ...] for the inside test; null when it
  // cannot be had (the map still works, without the outline and the instant hint).
  function loadBoundary(url) {
    if (!boundaryLoading) {
      boundaryLoading = fetch(url, { credentials: "same-origin" }).then(function (response) {
        if (!response.ok) throw new Error("boundary " + response.status);
        return response.json();
      }).then(function (geojson) {
        return { geojson: geojson, polygons: polygonsOf(geojson) };
      }).catch(function () { boundaryLoading = null; return null; });
    }
    return boundaryLoading;
  }

  function polygonsOf(geojson) {
    var geoms = geojson.type === "FeatureCollection" ? geojson.features.map(function (f) { return f.geometry; })
      : geojson.type === "Feature" ? [geojson.geometry] : [geojson];
    var out = [];
    geoms.forEach(function (g) {
      if (!g) return;
      if (g.type === "Polygon") out.push(g.coordinates);
      else if (g.type === "MultiPolygon") out = out.concat(g.coordinates);
    });
    return out;
  }

  // Even-odd ray casting over every ring (holes included), GeoJSON order [lng, lat].
  function inRing(ring, lng, lat) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > lat) !== (yj > lat) && lng < (xj - xi) * (lat - yi) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }
  function insideCity(polygons, lat, lng) {
    return polygons.some(function (rings) {
      return rings.reduce(function (inside, ring) { return inRing(ring, lng, lat) ? !inside : inside; }, false);
    });
  }

  // ---- the fields ---------------------------------------------------------------------------------

  // Like the server's parse_coordinate: a dot or a decimal comma, finite, within range.
  function parse(value, limit) {
    var text = String(value || "").trim().replace(",", ".");
    if (!/^[-+]?(\d+\.?\d*|\.\d+)$/.test(text)) return null;
    var n = parseFloat(text);
    return isFinite(n) && Math.abs(n) <= limit ? n : null;
  }
  function typedPoint() {
    var lat = $("lat"), lng = $("long");
    if (!lat || !lng) return null;
    var a = parse(lat.value, 90), b = parse(lng.value, 180);
    if (a === null || b === null || (a === 0 && b === 0)) return null;
    return { lat: a, lng: b };
  }

  function fillFields(latlng) {
    var lat = latlng.lat.toFixed(6), lng = latlng.lng.toFixed(6);
    state.last = lat + "," + lng;  // already where the marker is: follow() skips it
    Dom.setPosition(document, lat, lng, "manual");  // input events: the draft is saved
  }

  // ---- the map --------------------------------------------------------------------------------------

  function check(latlng) {
    if (!state.polygons) return true;
    var inside = insideCity(state.polygons, latlng.lat, latlng.lng);
    if (!inside) say(picker().dataset.msgOutside, true);
    return inside;
  }

  function putMarker(latlng) {
    if (state.marker) { state.marker.setLatLng(latlng); return; }
    var data = picker().dataset;
    state.marker = window.L.marker(latlng, { draggable: true, autoPan: true, alt: data.msgMarker, title: data.msgMarker })
      .addTo(state.map);
    state.marker.on("dragend", function () { pick(state.marker.getLatLng()); });
  }

  // A point chosen on the map (tap, drag, Enter): into the fields, then the verdict.
  function pick(latlng) {
    latlng = latlng.wrap();
    putMarker(latlng);
    fillFields(latlng);
    if (check(latlng)) {
      say(fmt(picker().dataset.msgSet, { lat: latlng.lat.toFixed(6), long: latlng.lng.toFixed(6) }), false);
    }
  }

  // The fields changed (typed, or filled by another script, which sends input events too:
  // dom.js setPosition): move the marker there.
  function follow() {
    var panel = $("map-panel");
    if (!alive() || !panel || panel.hidden) return;
    var lat = $("lat"), lng = $("long");
    var key = (lat ? lat.value : "") + "," + (lng ? lng.value : "");
    if (key === state.last) return;
    state.last = key;
    var point = typedPoint();
    if (!point) { say("", false); return; }  // being typed: no verdict on half a number
    var latlng = window.L.latLng(point.lat, point.lng);
    putMarker(latlng);
    if (!state.map.getBounds().contains(latlng)) state.map.setView(latlng, Math.max(state.map.getZoom(), LODZ.zoom));
    if (check(latlng)) say("", false);
  }

  function build(L, boundary) {
    var data = picker().dataset;
    var container = $("report-map");
    var point = typedPoint();
    var map = L.map(container, {
      center: point ? [point.lat, point.lng] : [LODZ.lat, LODZ.lng],
      zoom: point ? POINT_ZOOM : LODZ.zoom,
      zoomControl: false,
      attributionControl: false
    });
    L.control.zoom({ zoomInTitle: data.msgZoomIn, zoomOutTitle: data.msgZoomOut }).addTo(map);
    var credit = escapeHtml(data.attribution);
    if (data.attributionUrl) credit = '<a href="' + escapeHtml(data.attributionUrl) + '">' + credit + "</a>";
    L.control.attribution({ prefix: '<a href="https://leafletjs.com">Leaflet</a>' }).addAttribution(credit).addTo(map);
    // strict-origin: the tile server learns the site (tile usage policies ask for a Referer), never the page.
    L.tileLayer(data.tileUrl, { maxZoom: 19, referrerPolicy: "strict-origin" }).addTo(map);
    state = { map: map, container: container, marker: null, polygons: null, last: null };
    if (boundary) {
      L.geoJSON(boundary.geojson, { style: OUTLINE, interactive: false }).addTo(map);
      state.polygons = boundary.polygons;
    }
    if (point) { putMarker(L.latLng(point.lat, point.lng)); check(L.latLng(point.lat, point.lng)); }
    state.last = ($("lat") || {}).value + "," + ($("long") || {}).value;
    map.on("click", function (e) { pick(e.latlng); });
    // Keyboard: Enter on the focused map puts the marker in its centre (arrows move the map).
    container.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && e.target === container) { e.preventDefault(); pick(map.getCenter()); }
    });
  }

  function alive() { return !!(state && state.map && document.body.contains(state.container)); }

  // The form was swapped out (htmx): let go of the old map and its listeners.
  function forget() {
    if (!state) return;
    try { state.map.remove(); } catch (e) { /* already detached */ }
    state = null;
  }

  function show(button, panel) {
    var data = picker().dataset;
    if (!navigator.onLine && !alive()) { say(data.msgOffline, true); return; }
    panel.hidden = false;
    button.setAttribute("aria-expanded", "true");
    button.textContent = data.msgHide;
    if (alive()) {
      state.map.invalidateSize();
      follow();
      return;
    }
    say(data.msgLoading, false);
    // aria-disabled, not disabled: a disabled button drops keyboard focus to <body>.
    button.setAttribute("aria-disabled", "true");
    button.dataset.loading = "1";
    Promise.all([loadLeaflet(data), loadBoundary(data.boundaryUrl)]).then(function (loaded) {
      say("", false);
      build(loaded[0], loaded[1]);  // may say at once that the position in the fields is outside
    }).catch(function () {
      hide(button, panel);
      say(data.msgFailed, true);
    }).then(function () {
      button.removeAttribute("aria-disabled");
      delete button.dataset.loading;
    });
  }

  function hide(button, panel) {
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
    button.textContent = picker().dataset.msgShow;
  }

  // ---- wiring (delegated: the form may be swapped in again by htmx) --------------------------------

  function setup() {
    var button = $("map-toggle");
    if (button) button.hidden = false;
  }

  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("#map-toggle");
    if (!button || button.dataset.loading) return;  // still loading: ignore repeated presses
    var panel = $("map-panel");
    if (!panel) return;
    if (state && !alive()) forget();
    if (panel.hidden) show(button, panel); else hide(button, panel);
  });
  // htmx copies the old attributes of an element it swaps (same id) onto the new one with
  // setAttribute, and Leaflet may have put an inline style on the map (outline-style on click):
  // a copied style= would break the CSP. Drop it first; Leaflet's styles are all in CSS anyway.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var target = e.detail && e.detail.target;
    if (state && state.container && target && target.contains(state.container)) state.container.removeAttribute("style");
  });
  function onField(e) {
    if (e.target && (e.target.id === "lat" || e.target.id === "long")) follow();
  }
  document.addEventListener("input", onField);
  document.addEventListener("change", onField);
  window.addEventListener("offline", function () {
    var panel = $("map-panel");
    if (panel && !panel.hidden) say(picker().dataset.msgOffline, true);
  });
  window.addEventListener("online", function () {
    var status = $("map-status");
    if (status && status.textContent === picker().dataset.msgOffline) say("", false);
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup); else setup();
  document.addEventListener("htmx:load", setup);
  window.LckzmMap = { insideCity: insideCity, parse: parse };
})();
