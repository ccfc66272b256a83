"""URLs of the installable app: ``/sw.js``, ``/manifest.json``, ``/offline``, ``/install``,
``/csrf-token``.

The service worker must be served from the root so its scope can be ``/`` (a script under
``/static/`` could only control ``/static/``); both it and the manifest are answered with
``no-cache`` so a new release reaches phones on the next visit.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, current_app, jsonify, make_response, render_template, send_from_directory
from flask_wtf.csrf import generate_csrf

bp = Blueprint("pwa", __name__)

#: Files under ``static/`` whose change must reach installed apps (the service worker precaches
#: them cache-first, so a new build id is what makes phones fetch them again).
BUILD_SUFFIXES = (".js", ".css", ".png", ".json", ".svg", ".woff2")


@lru_cache(maxsize=4)
def static_build_id(static_folder: str) -> str:
    """A 12-hex-digit SHA-256 over the names and bytes of the shipped static files.

    Prepended to ``sw.js`` as ``self.LCKZM_BUILD``: any change to a precached file changes the
    service worker's bytes, which is how browsers notice an update (Service Workers §
    "Update"). Computed once per process; a deployment restarts the process.
    """
    digest = hashlib.sha256()
    root = Path(static_folder)
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in BUILD_SUFFIXES):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def build_id() -> str:
    """The current build id: ``PWA_BUILD`` from the config (a release tag) or the static hash."""
    return current_app.config.get("PWA_BUILD") or static_build_id(current_app.static_folder)


@bp.get("/sw.js")
def service_worker():
    """The service worker, with the build id in its first line, scope allowed at ``/``."""
    source = (Path(current_app.static_folder) / "sw.js").read_text(encoding="utf-8")
    body = f'self.LCKZM_BUILD = "{build_id()}";\n{source}'
    response = make_response(body)
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    response.headers["Service-Worker-Allowed"] = "/"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/manifest.json")
def manifest():
    """The web app manifest (``static/manifest.json``) at the root, as ``application/manifest+json``."""
    response = send_from_directory(current_app.static_folder, "manifest.json",
                                   mimetype="application/manifest+json", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/offline")
def offline():
    """Shown by the service worker for a page that is neither reachable nor cached."""
    return render_template("pwa/offline.html")


@bp.get("/install")
def install():
    """How to add the portal to the home screen on Android and iOS."""
    return render_template("pwa/install.html")


@bp.get("/csrf-token")
def csrf_token():
    """``{"csrf_token": "..."}`` for the current session, never cached.

    A draft sent hours after its form was loaded (or from a precached form) carries a token
    that may no longer match the session; the sync asks for a fresh one right before sending.
    """
    response = jsonify({"csrf_token": generate_csrf()})
    response.headers["Cache-Control"] = "no-store"
    return response
