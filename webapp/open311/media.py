"""Fetching an Open311 ``media_url`` safely: only public http(s) addresses, a timeout, a size cap,
an image content type, and at most a few redirects, each hop checked again.

Every address the host name resolves to must be global (not loopback, private, link-local,
reserved, multicast, unspecified); ``allow_loopback`` (setting ``OPEN311_MEDIA_ALLOW_LOOPBACK``,
tests only) lets loopback through. The photo is then checked by content like any upload.

DNS rebinding: the name is resolved once per hop, and the connection goes to one of exactly
those checked addresses (urllib3 pool on the IP, ``Host`` header and TLS SNI/certificate check
on the name), so a DNS answer that changes after the check cannot steer the download to the
server's own network. Proxies from the environment are not used for the same reason.
"""
from __future__ import annotations

import ipaddress
import socket
from io import BytesIO
from urllib.parse import urljoin, urlsplit

import urllib3
from flask_babel import gettext as _
from requests.certs import where as ca_bundle
from urllib3.exceptions import ConnectTimeoutError, HTTPError as Urllib3Error, NewConnectionError

MAX_REDIRECTS = 3
#: At most this many of a name's checked addresses are tried (a dual-stack host whose IPv6
#: address is unreachable from here still works over IPv4).
MAX_ADDRESSES = 3
REDIRECTS = (301, 302, 303, 307, 308)


class MediaError(ValueError):
    """``media_url`` cannot be used; the message is shown to the client."""


def check_address(url: str, *, allow_loopback: bool = False) -> list[str]:
    """Resolve the host of ``url`` once and return its addresses (IP texts, resolver order,
    no duplicates). Raise :class:`MediaError` unless ``url`` is http(s) and every address is
    public (or loopback when ``allow_loopback``)."""
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
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not (allow_loopback and address.is_loopback) and (not address.is_global
                                                               or address.is_multicast):
            raise MediaError(_("media_url must be a public internet address."))
        if str(address) not in addresses:
            addresses.append(str(address))
    if not addresses:
        raise MediaError(_("The host of media_url cannot be found."))
    return addresses


def fetch_media(url: str, *, max_bytes: int, timeout: float,
                allow_loopback: bool = False) -> tuple[str, BytesIO]:
    """Download ``url`` and return ``(filename, bytes)`` for the photo pipeline.

    At most ``max_bytes`` bytes are read (more is an error), ``timeout`` seconds per connect
    and read; redirects are followed by hand (at most :data:`MAX_REDIRECTS`), each target
    resolved and checked by :func:`check_address` and connected to at a checked address.
    Raises :class:`MediaError`.
    """
    for _hop in range(MAX_REDIRECTS + 1):
        addresses = check_address(url, allow_loopback=allow_loopback)
        with _get(url, addresses, timeout) as response:
            if response.status in REDIRECTS:
                url = urljoin(url, response.headers.get("Location", ""))
                continue
            return _read(url, response, max_bytes)
    raise MediaError(_("media_url redirects too many times."))


def _get(url: str, addresses: list[str], timeout: float) -> urllib3.BaseHTTPResponse:
    """GET ``url`` from the first of ``addresses`` that accepts a connection (the body is
    streamed, not read)."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    host_header = parts.netloc.rpartition("@")[2]  # what a browser sends: no user info
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    tls = {"server_hostname": parts.hostname, "cert_reqs": "CERT_REQUIRED",
           "ca_certs": ca_bundle()} if https else {}
    pool_class = urllib3.HTTPSConnectionPool if https else urllib3.HTTPConnectionPool
    for address in addresses[:MAX_ADDRESSES]:
        pool = pool_class(address, port, timeout=urllib3.Timeout(connect=timeout, read=timeout),
                          retries=False, maxsize=1, **tls)
        try:
            return pool.urlopen("GET", target, redirect=False, preload_content=False,
                                assert_same_host=False,
                                headers={"Host": host_header, "Accept": "image/*",
                                         "User-Agent": "lckzm-open311-media"})
        except (NewConnectionError, ConnectTimeoutError):
            continue  # this address does not answer: the next checked one may
        except (Urllib3Error, OSError, ValueError):
            break
    raise MediaError(_("media_url could not be downloaded."))


def _read(url: str, response, max_bytes: int) -> tuple[str, BytesIO]:
    if response.status != 200:
        raise MediaError(_("media_url answered with the error %(code)d.", code=response.status))
    if not response.headers.get("Content-Type", "").lower().startswith("image/"):
        raise MediaError(_("media_url is not an image."))
    body = BytesIO()
    try:
        for chunk in response.stream(64 * 1024):
            body.write(chunk)
            if body.tell() > max_bytes:
                raise MediaError(_("The image at media_url is too large."))
    except (Urllib3Error, OSError):
        raise MediaError(_("media_url could not be downloaded.")) from None
    body.seek(0)
    return (urlsplit(url).path.rsplit("/", 1)[-1] or "media"), body
