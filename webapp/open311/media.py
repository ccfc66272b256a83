"""Fetching an Open311 ``media_url`` safely: only public http(s) addresses, a timeout, a size cap,
an image content type, and at most a few redirects, each hop checked again.

Every address the host name resolves to must be global (not loopback, private, link-local,
reserved, multicast, unspecified); ``allow_loopback`` (setting ``OPEN311_MEDIA_ALLOW_LOOPBACK``,
tests only) lets loopback through. The photo is then checked by content like any upload.
Known limit: the name is resolved again by the HTTP client, so a DNS answer changing between the
check and the connection (rebinding) is not caught here; a deployment should also block the
app's egress to internal networks.
"""
from __future__ import annotations

import ipaddress
import socket
from io import BytesIO
from urllib.parse import urljoin, urlsplit

import requests
from flask_babel import gettext as _

MAX_REDIRECTS = 3


class MediaError(ValueError):
    """``media_url`` cannot be used; the message is shown to the client."""


def check_address(url: str, *, allow_loopback: bool = False) -> None:
    """Raise :class:`MediaError` unless ``url`` is http(s) and its host resolves only to public
    addresses (or loopback when ``allow_loopback``)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise MediaError(_("media_url is not a valid address.")) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MediaError(_("media_url must be an http or https address."))
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, OSError):
        raise MediaError(_("The host of media_url cannot be found.")) from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if allow_loopback and address.is_loopback:
            continue
        if not address.is_global or address.is_multicast:
            raise MediaError(_("media_url must be a public internet address."))


def fetch_media(url: str, *, max_bytes: int, timeout: float,
                allow_loopback: bool = False) -> tuple[str, BytesIO]:
    """Download ``url`` and return ``(filename, bytes)`` for the photo pipeline.

    At most ``max_bytes`` bytes are read (more is an error), ``timeout`` seconds per connect
    and read; redirects are followed by hand (at most :data:`MAX_REDIRECTS`), each target
    checked by :func:`check_address`. Raises :class:`MediaError`.
    """
    for _hop in range(MAX_REDIRECTS + 1):
        check_address(url, allow_loopback=allow_loopback)
        try:
            response = requests.get(url, stream=True, timeout=timeout, allow_redirects=False,
                                    headers={"Accept": "image/*"})
        except requests.RequestException:
            raise MediaError(_("media_url could not be downloaded.")) from None
        with response:
            if response.is_redirect:
                url = urljoin(url, response.headers.get("Location", ""))
                continue
            return _read(url, response, max_bytes)
    raise MediaError(_("media_url redirects too many times."))


def _read(url: str, response, max_bytes: int) -> tuple[str, BytesIO]:
    if response.status_code != 200:
        raise MediaError(_("media_url answered with the error %(code)d.", code=response.status_code))
    if not response.headers.get("Content-Type", "").lower().startswith("image/"):
        raise MediaError(_("media_url is not an image."))
    body = BytesIO()
    for chunk in response.iter_content(64 * 1024):
        body.write(chunk)
        if body.tell() > max_bytes:
            raise MediaError(_("The image at media_url is too large."))
    body.seek(0)
    return (urlsplit(url).path.rsplit("/", 1)[-1] or "media"), body
