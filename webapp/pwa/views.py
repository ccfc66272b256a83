"""URLs of the installable app: ``/sw.js``, ``/manifest.json``, ``/offline``, ``/install``,
``/csrf-token``.

The service worker must be served from the root so its scope can be ``/`` (a script under
``/static/`` could only control ``/static/``); both it and the manifest are answered with
``no-cache`` so a new release reaches phones on the next visit.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from flask import (Blueprint, current_app, jsonify, make_response, render_template,
                   send_from_directory, url_for)
from flask_wtf.csrf import generate_csrf
from flask_babel import get_locale, gettext as _

bp = Blueprint("pwa", __name__)

#: Files under ``static/`` the service worker may cache, each under its own revision.
BUILD_SUFFIXES = (".js", ".css", ".png", ".json", ".svg", ".woff2")
#: Pages the service worker precaches (the shell) or may keep: their revision is the build id,
#: since they link every static file and carry the translated templates.
SHELL_PAGES = ("reports.new", "pwa.offline", "pages.home", "pwa.install")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


@lru_cache(maxsize=4)
def static_revisions(static_folder: str) -> dict[str, str]:
    """``{path under static/ (POSIX): 12-hex-digit SHA-256 of its bytes}`` for the shipped files.

    The service worker keeps a cached file while its revision is unchanged, so a release that
    changes one file makes phones download that file only. Computed once per process; a
    deployment restarts the process.
    """
    root = Path(static_folder)
    return {path.relative_to(root).as_posix(): _digest(path.read_bytes())
            for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in BUILD_SUFFIXES)}


@lru_cache(maxsize=4)
def static_build_id(static_folder: str, template_folder: str = "") -> str:
    """A 12-hex-digit SHA-256 over the static files' revisions and the templates' bytes.

    Prepended to ``sw.js`` as ``self.LCKZM_BUILD`` (with the revisions): any change to a
    shipped file or a template changes the service worker's bytes, which is how browsers
    notice an update (Service Workers § "Update"); the pages cached by the worker are named
    after it, so after a release no old page is served with the new scripts.
    """
    digest = hashlib.sha256()
    for name, revision in static_revisions(static_folder).items():
        digest.update(f"{name}:{revision}\n".encode())
    if template_folder:
        root = Path(template_folder)
        for path in sorted(p for p in root.rglob("*.html") if p.is_file()):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def build_id() -> str:
    """The current build id: ``PWA_BUILD`` from the config (a release tag) or the content hash."""
    template_folder = str(Path(current_app.root_path, current_app.template_folder or ""))
    return current_app.config.get("PWA_BUILD") or static_build_id(current_app.static_folder, template_folder)


def precache_revisions() -> dict[str, str]:
    """``{URL path: revision}`` of everything the service worker may cache under a revision:
    every static file (its content hash), ``/manifest.json``, and the shell pages (the build)."""
    files = static_revisions(current_app.static_folder)
    revisions = {url_for("static", filename=name): revision for name, revision in files.items()}
    if "manifest.json" in files:
        revisions[url_for("pwa.manifest")] = files["manifest.json"]
    build = build_id()
    revisions.update({url_for(endpoint): build for endpoint in SHELL_PAGES})
    return revisions


@bp.get("/sw.js")
def service_worker():
    """The service worker, with the build id and the revision of every file it may cache
    prepended, scope allowed at ``/``."""
    source = (Path(current_app.static_folder) / "sw.js").read_text(encoding="utf-8")
    body = (f"self.LCKZM_BUILD = {json.dumps(build_id())};\n"
            f"self.LCKZM_REVISIONS = {json.dumps(precache_revisions(), sort_keys=True)};\n{source}")
    response = make_response(body)
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    response.headers["Service-Worker-Allowed"] = "/"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/favicon.ico")
def favicon():
    """The site icon where browsers and crawlers look without reading the page's ``<link
    rel=icon>``: the 192 px PNG (every browser takes a PNG under this name), cached a day."""
    return send_from_directory(current_app.static_folder, "icons/icon-192.png",
                               mimetype="image/png", max_age=86_400)


@bp.get("/manifest.json")
def manifest():
    """The web app manifest (``static/manifest.json``) at the root, as ``application/manifest+json``,
    its names, description and screenshot labels in the request's UI language (``lang`` set to
    it; ``id`` stays ``/``, so it is one app whatever the language it was installed in)."""
    data = json.loads((Path(current_app.static_folder) / "manifest.json").read_text(encoding="utf-8"))
    data.update(lang=str(get_locale() or "pl"), name=_("ŁCKzM – report a problem in Łódź"),
                description=_("Report problems in public space in Łódź: potholes, broken street lights, "
                              "overflowing bins, fallen trees. Works without the internet too."))
    for shortcut in data.get("shortcuts", []):
        if shortcut.get("url") == "/report":
            shortcut.update(name=_("Report a problem"), short_name=_("New report"),
                            description=_("The form for a new report"))
    labels = {"phone-form": _("The report form on a phone"), "phone-list": _("Reports from residents"),
              "phone-report": _("A report's page with its status"), "wide-list": _("Reports from residents")}
    for shot in data.get("screenshots", []):
        name = Path(shot["src"]).stem
        if name in labels:
            shot["label"] = labels[name]
    response = make_response(json.dumps(data, ensure_ascii=False))
    response.mimetype = "application/manifest+json"
    response.headers["Cache-Control"] = "no-cache"
    response.vary.add("Cookie")
    response.vary.add("Accept-Language")
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
