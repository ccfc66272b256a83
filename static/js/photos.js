// Photos chosen in the report form, prepared on the device: the EXIF position and time read from
// the original (exifr, loaded on first use), then a scaled-down JPEG (a phone's 12 MP photo
// becomes ~0.5 MB, which matters on a weak connection). No DOM of the form here: drafts.js
// calls choose() and puts the result in the form and the draft. Exposed as window.LckzmPhotos.
(function () {
  "use strict";

  var MAX_SIDE = 2048;           // px, long side of a photo sent from the phone
  var JPEG_QUALITY = 0.85;
  var KEEP_ORIGINAL_BYTES = 2 * 1024 * 1024;  // a small JPEG is sent as it is (no re-encoding loss)

  var fmt = window.LckzmDom.fmt;
  var exifrLoading = null;

  function loadExifr(src) {
    if (window.exifr) return Promise.resolve(window.exifr);
    if (!exifrLoading) {
      exifrLoading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = src;
        script.onload = function () { resolve(window.exifr); };
        script.onerror = function () { exifrLoading = null; reject(new Error("exifr")); };
        document.head.appendChild(script);
      });
    }
    return exifrLoading;
  }

  // {lat, long, taken_at} read from the original file (before any resizing drops the EXIF).
  function readExif(file, exifrSrc) {
    return loadExifr(exifrSrc).then(function (exifr) {
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

  // Photo `p` ({blob, name, type, ...}) turned 90° clockwise: a new JPEG drawn upright on a
  // canvas, without EXIF orientation, so the server stores exactly what the preview shows.
  function rotate(p) {
    return createImageBitmap(p.blob, { imageOrientation: "from-image" }).then(function (bitmap) {
      var canvas = document.createElement("canvas");
      canvas.width = bitmap.height;
      canvas.height = bitmap.width;
      var ctx = canvas.getContext("2d");
      ctx.translate(canvas.width, 0);
      ctx.rotate(Math.PI / 2);
      ctx.drawImage(bitmap, 0, 0);
      bitmap.close();
      return new Promise(function (resolve, reject) {
        canvas.toBlob(function (blob) {
          if (!blob) { reject(new Error("toBlob")); return; }
          var out = {};
          Object.keys(p).forEach(function (k) { out[k] = p[k]; });
          out.blob = blob;
          out.type = "image/jpeg";
          out.name = jpegName(p.name);
          resolve(out);
        }, "image/jpeg", JPEG_QUALITY);
      });
    });
  }

  function isHeic(file) {
    return /^image\/hei[cf]/.test(file.type || "") || /\.hei[cf]$/i.test(file.name || "");
  }

  // The types the server takes (webapp/photos/pipeline.py); a file without a type (some
  // Android galleries) is judged by its name.
  var ACCEPTED_TYPE = /^image\/(jpeg|png|webp|hei[cf])$/;
  var ACCEPTED_NAME = /\.(jpe?g|png|webp|hei[cf])$/i;

  function acceptedType(file) {
    return file.type ? ACCEPTED_TYPE.test(file.type) : ACCEPTED_NAME.test(file.name || "");
  }

  // Whether a prepared photo ({blob, name, type}) may go with a report: a type the server
  // takes and, as it will be sent, at most maxBytes (none when maxBytes is not given).
  // drafts.js also drops from a restored draft the photos this refuses.
  function acceptable(photo, maxBytes) {
    if (!photo || !photo.blob) return false;
    if (!acceptedType({ type: photo.type || photo.blob.type, name: photo.name })) return false;
    return !(maxBytes > 0 && photo.blob.size > maxBytes);
  }

  function prepare(file, exifrSrc) {
    return readExif(file, exifrSrc).then(function (meta) {
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

  // A first, coarse check against the city's bounding box "minLong,minLat,maxLong,maxLat" (the
  // server checks the real outline): a photo from a holiday abroad must not silently become the
  // location of the problem.
  function inCity(p, bbox) {
    var box = (bbox || "").split(",").map(Number);
    if (box.length !== 4 || box.some(isNaN)) return true;
    return p.long >= box[0] && p.lat >= box[1] && p.long <= box[2] && p.lat <= box[3];
  }

  // The first photo with a position inside the city (the outline's answer kept in `inside`,
  // else the box), or null.
  function locatedInCity(photos, bbox) {
    return photos.filter(function (p) {
      return p.lat !== null && p.lat !== undefined && (p.inside === undefined || p.inside === null ? inCity(p, bbox) : p.inside);
    })[0] || null;
  }

  // Prepare the chosen files. opts: {max (photos kept), maxBytes (the server's limit per
  // photo), exifrSrc, bbox, msg (the #pwa dataset with the translated messages)}. Files of
  // another type or too big as they would be sent are refused with a message, not returned. Resolves {photos: [{blob, name, type, lat, long, taken_at}],
  // position: {lat, long} of the first photo taken in the city or null, message: what to tell
  // the resident}.
  function choose(files, opts) {
    var msg = opts.msg;
    var messages = [];
    var mb = Math.floor((opts.maxBytes || 0) / (1024 * 1024));
    // Refused photos are said and left out at once: never shown, kept in a draft or sent.
    files = files.filter(function (f) {
      if (acceptedType(f)) return true;
      messages.push(fmt(msg.msgPhotoWrongType, { name: f.name }));
      return false;
    });
    if (!files.length) return Promise.resolve({ photos: [], position: null, message: messages.join(" ") });
    if (files.length > opts.max) {
      messages.push(fmt(msg.msgPhotoTooMany, { n: opts.max }));
      files = files.slice(0, opts.max);
    }
    return Promise.all(files.map(function (f) { return prepare(f, opts.exifrSrc); })).then(function (prepared) {
      // Each position against the city's real outline (the box when it cannot be had).
      return Promise.all(prepared.map(function (p) {
        if (p.lat === null) return p;
        return window.LckzmDom.inCity(p.lat, p.long).then(function (inside) {
          p.inside = inside === null ? inCity(p, opts.bbox) : inside;
          return p;
        });
      }));
    }).then(function (prepared) {
      prepared = prepared.filter(function (p) {
        // Scaled copies are small; a photo this device cannot scale goes as it is and may not be.
        if (acceptable(p, opts.maxBytes)) return true;
        messages.push(fmt(msg.msgPhotoTooBig, { name: p.original_name, mb: mb }));
        return false;
      });
      if (!prepared.length) return { photos: [], position: null, message: messages.join(" ") };
      var later = [];
      prepared.forEach(function (p, i) {
        // HEIC: the browser cannot read it, the server can (and reads its position on sending).
        if (p.unreadable && isHeic({ type: p.type, name: p.original_name })) { p.heic = true; later.push(p.original_name); }
        else if (p.unreadable) messages.push(fmt(msg.msgPhotoUnreadable, { name: p.original_name }));
      });
      var located = prepared.filter(function (p) { return p.lat !== null; })[0];
      var position = null;
      if (!located && later.length) {
        messages.unshift(fmt(msg.msgPhotoPositionLater, { name: later.join(", ") }));
      } else if (located && !located.inside) {
        messages.unshift(fmt(msg.msgPhotoOutside, { lat: located.lat.toFixed(5), long: located.long.toFixed(5) }));
      } else if (located) {
        position = { lat: located.lat, long: located.long };
        messages.unshift(fmt(msg.msgPhotoPosition, { lat: located.lat.toFixed(5), long: located.long.toFixed(5) }) +
          (located.taken_at ? " " + fmt(msg.msgPhotoTaken, { time: new Date(located.taken_at).toLocaleString(document.documentElement.lang || undefined) }) : ""));
      } else {
        messages.unshift(fmt(msg.msgPhotoNoPosition, { name: prepared[0].original_name }));
      }
      return {
        photos: prepared.map(function (p) {
          return { blob: p.blob, name: p.name, type: p.type, lat: p.lat, long: p.long, taken_at: p.taken_at,
                   inside: p.inside, readable: !p.unreadable, heic: !!p.heic };
        }),
        position: position,
        message: messages.join(" ")
      };
    });
  }

  window.LckzmPhotos = { choose: choose, locatedInCity: locatedInCity, rotate: rotate, acceptable: acceptable };
})();
