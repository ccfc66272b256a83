"""Response headers that make the browser enforce our security policy, the reverse-proxy
headers we trust, and the same-origin check on state-changing requests."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable, TypeVar
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request
from flask_babel import gettext as _
from werkzeug.middleware.proxy_fix import ProxyFix
from webapp.errors import render_error

F = TypeVar("F", bound=Callable)

#: Methods that change state: they must come from our own pages (or an exempt API view).
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: HSTS for a year once the public address is https (no includeSubDomains: other lodz.pl hosts
#: are not ours to decide for).
HSTS = "max-age=31536000"

# No inline scripts or styles anywhere: every script is a file under /static.
# {img_extra} is the map's tile origin (``MAP_TILE_URL``), or nothing when the map is off.
_CSP_TEMPLATE = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:{img_extra}",
    "connect-src 'self'",
    "worker-src 'self'",
    "manifest-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
]

# A DNS label (IDNs as punycode) and a port, as CSP host-source allows them (CSP3 §2.3.1).
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_PORT = re.compile(r"^[0-9]{1,5}$")


def tile_origin(url_template: str | None) -> str | None:
    """The CSP source for the origin of a Leaflet tile URL template, or None when it is empty.

    ``"https://tile.openstreetmap.org/{z}/{x}/{y}.png"`` gives ``"https://tile.openstreetmap.org"``;
    a placeholder in the first host label (``https://{s}.tile.example.org/...``, Leaflet's
    subdomains) becomes CSP's wildcard: ``"https://*.tile.example.org"``. Only the scheme, host
    and port are kept, so nothing in the path or query can reach the header.

    Raises ``ValueError`` for a scheme other than http/https, user info, a placeholder anywhere
    else in the host, or a host or port CSP cannot express (quotes, spaces, ``;``...).
    """
    if not url_template or not url_template.strip():
        return None
    parts = urlsplit(url_template.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise ValueError(f"MAP_TILE_URL must be an http(s) URL, not {url_template!r}")
    netloc = parts.netloc
    if "@" in netloc:
        raise ValueError(f"MAP_TILE_URL must not carry user info: {url_template!r}")
    host, _, port = netloc.partition(":") if not netloc.startswith("[") else (netloc, "", "")
    labels = host.lower().split(".")
    if labels and "{" in labels[0]:
        labels[0] = "*"
    if not host or not all(_LABEL.match(label) for label in labels[1 if labels[0] == "*" else 0:]) \
            or (labels[0] == "*" and len(labels) < 3):
        raise ValueError(f"MAP_TILE_URL has a host a CSP source cannot name: {url_template!r}")
    if port and not _PORT.match(port):
        raise ValueError(f"MAP_TILE_URL has an invalid port: {url_template!r}")
    return f"{scheme}://{'.'.join(labels)}" + (f":{port}" if port else "")


@lru_cache(maxsize=8)
def build_csp(tile_url: str | None = None) -> str:
    """The Content-Security-Policy header value for a given ``MAP_TILE_URL``.

    The tile origin (see :func:`tile_origin`) is added to ``img-src`` and nowhere else: tiles
    are plain <img> elements. Raises ``ValueError`` like :func:`tile_origin`.
    """
    origin = tile_origin(tile_url)
    return "; ".join(_CSP_TEMPLATE).format(img_extra=f" {origin}" if origin else "")


#: The policy without the map's tile origin.
CSP = build_csp(None)


def cross_origin_allowed(view: F) -> F:
    """Exempt a view from the same-origin check (for APIs other sites' apps may POST to, such
    as a future Open311 POST endpoint). Such a view must authenticate by other means (an API
    key), as cookies are not what protects it."""
    view.cross_origin_allowed = True  # type: ignore[attr-defined]
    return view


def origin_of(url: str | None) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, lower-cased, default port dropped;
    None for anything else (``"null"``, a relative or malformed value)."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}[scheme]
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def private_page(response: Response) -> Response:
    """Mark ``response`` as a page whose URL is a credential (a tracking token, a unit's signed
    link, a push "stop" token): ``Cache-Control: private, no-store`` and ``X-Robots-Tag:
    noindex, nofollow``. Its Referrer-Policy stays the app's ``same-origin``, so the token is
    never sent to other sites; not ``no-referrer``, with which Chromium sends ``Origin: null``
    on the page's plain forms and :func:`_cross_origin_refused` refuses them."""
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def is_https_deployment(app: Flask) -> bool:
    """True when the portal's public address (``PUBLIC_BASE_URL``) is https."""
    return str(app.config.get("PUBLIC_BASE_URL") or "").lower().startswith("https://")


def _allowed_origins() -> set[str]:
    own = {origin_of(request.host_url), origin_of(current_app.config.get("PUBLIC_BASE_URL"))}
    return {o for o in own if o}


def _cross_origin_refused() -> bool:
    """True when a state-changing request names another site as its source.

    ``Origin`` decides when present (``null`` is another site: a sandboxed frame or a redirect
    from elsewhere); without it, ``Referer``. A request with neither passes here: some
    browsers and privacy tools strip both, and the form's CSRF token still protects it.
    """
    if request.method not in UNSAFE_METHODS:
        return False
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and getattr(view, "cross_origin_allowed", False):
        return False
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin_of(origin) not in _allowed_origins()
    referer = request.headers.get("Referer")
    if referer:
        return origin_of(referer) not in _allowed_origins()
    return False


def init_app(app: Flask) -> None:
    """Trust ``TRUSTED_PROXIES`` reverse proxies, refuse cross-origin writes, and add CSP, HSTS
    and the other hardening headers to every response.

    ``MAP_TILE_URL`` is checked here so a bad value stops the start (``ValueError``).
    """
    build_csp(app.config.get("MAP_TILE_URL") or None)
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies < 0:
        raise ValueError("TRUSTED_PROXIES must be 0 or more")
    if proxies:
        # Only the last `proxies` hops of X-Forwarded-* are believed; with 0 the headers are
        # ignored and the client's own address keys the rate limits.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies,  # type: ignore[method-assign]
                                x_host=proxies, x_port=proxies)
    https = is_https_deployment(app)
    if https:
        app.config["SESSION_COOKIE_SECURE"] = True

    def _same_origin():
        if _cross_origin_refused():
            return render_error(403, _("This request came from another website, so it was "
                                       "refused. Open the portal at its own address and send "
                                       "it again."))
        return None

    # Before CSRFProtect's own check, so a foreign page gets this answer, not "form expired".
    app.before_request_funcs.setdefault(None, []).insert(0, _same_origin)

    @app.after_request
    def _headers(response: Response) -> Response:
        csp = build_csp(current_app.config.get("MAP_TILE_URL") or None)
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Permissions-Policy", "geolocation=(self), camera=(self)")
        if https:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response
