"""Response headers that make the browser enforce our security policy."""
from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urlsplit

from flask import Flask, Response, current_app

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


def init_app(app: Flask) -> None:
    """Add CSP and the other hardening headers to every response.

    ``MAP_TILE_URL`` is checked here so a bad value stops the start (``ValueError``).
    """
    build_csp(app.config.get("MAP_TILE_URL") or None)

    @app.after_request
    def _headers(response: Response) -> Response:
        csp = build_csp(current_app.config.get("MAP_TILE_URL") or None)
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Permissions-Policy", "geolocation=(self), camera=(self)")
        return response
