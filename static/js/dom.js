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

  // ---- Is a point in Łódź? The real outline (/geo/boundary.geojson, the URL in #pwa's
  // data-boundary-url), fetched once per page, tested by ray casting. --------------------------
  var boundary = null;

  // GeoJSON (FeatureCollection, Feature, Polygon or MultiPolygon; lon/lat) -> [[ring, ...], ...].
  function polygonsOf(geo) {
    if (!geo) return [];
    if (geo.type === "FeatureCollection") return geo.features.reduce(function (all, f) { return all.concat(polygonsOf(f)); }, []);
    if (geo.type === "Feature") return polygonsOf(geo.geometry);
    if (geo.type === "Polygon") return [geo.coordinates];
    if (geo.type === "MultiPolygon") return geo.coordinates;
    return [];
  }

  // Ray casting: a ray from (x, y) to the east crosses the ring's edges an odd number of times
  // when the point is inside.
  function inRing(x, y, ring) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }

  function inPolygons(polygons, lat, long) {
    return polygons.some(function (rings) {
      return inRing(long, lat, rings[0]) && !rings.slice(1).some(function (hole) { return inRing(long, lat, hole); });
    });
  }

  // Resolves true (inside Łódź), false (outside) or null (outline not available, e.g. offline
  // before it was ever fetched: the server checks on sending anyway). lat/long: WGS84 degrees.
  function inCity(lat, long) {
    if (!boundary) {
      var pwa = byId("pwa");
      var url = pwa && pwa.dataset.boundaryUrl;
      boundary = !url || !window.fetch ? Promise.resolve(null) : fetch(url).then(function (resp) {
        return resp.ok ? resp.json() : null;
      }).then(function (geo) {
        var polygons = polygonsOf(geo);
        if (!polygons.length) boundary = null;
        return polygons.length ? polygons : null;
      }).catch(function () { boundary = null; return null; });
    }
    return boundary.then(function (polygons) {
      return polygons ? inPolygons(polygons, Number(lat), Number(long)) : null;
    });
  }

  window.LckzmDom = { byId: byId, fmt: fmt, say: say, escapeHtml: escapeHtml, notice: notice, setPosition: setPosition,
                      inCity: inCity };
})();
