"""Paging and conditional GETs of Open311 ``requests.json``.

``page``/``page_size`` are the common GeoReport v2 extension (as in SeeClickFix and FixMyStreet's
Open311): ``page`` counts from 1, ``page_size`` defaults to :data:`DEFAULT_PAGE_SIZE` and is
capped at :data:`MAX_PAGE_SIZE`, so no single request serialises tens of thousands of rows.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping

from flask_babel import gettext as _

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# A page past this cannot hold rows of a 32-bit id table at the smallest page size.
MAX_PAGE = 2**31 // 1


class BadParameter(ValueError):
    """A query parameter the API cannot understand; its message is shown to the client."""


def _whole(name: str, value: str | None, default: int) -> int:
    value = (value or "").strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit()) or len(value) > 10 or int(value) < 1:
        raise BadParameter(_("%(name)s must be a whole number of at least 1.", name=name))
    return int(value)


def parse_paging(args: Mapping[str, str]) -> tuple[int, int]:
    """``(page, page_size)`` from query ``args``: page from 1 (default 1), page_size default
    50, larger values capped at 1000. Raises :class:`BadParameter` for a value that is not a
    whole number of at least 1."""
    page = min(_whole("page", args.get("page"), 1), MAX_PAGE)
    size = min(_whole("page_size", args.get("page_size"), DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
    return page, size


def etag_for(version_tag: str, query_string: bytes, lang: str) -> str:
    """A strong ETag for one answer: the data version (``queries.DataVersion.tag``), the
    query string and the language; any change to a report or its history changes it."""
    digest = hashlib.sha256(b"|".join((version_tag.encode(), query_string, lang.encode())))
    return digest.hexdigest()[:32]


#: Suffixes flask-compress gives the ETag of a compressed answer (``"<etag>:gzip"``): a client
#: that received it compressed sends that form back in ``If-None-Match``.
COMPRESSED_ETAG_SUFFIXES = ("", ":gzip", ":br", ":zstd", ":deflate")


def not_modified(request, etag: str, last_modified) -> bool:
    """Whether the client's copy is current: ``If-None-Match`` holds ``etag`` (as sent, or
    with the compression suffix of :data:`COMPRESSED_ETAG_SUFFIXES`), or (without
    ``If-None-Match``) ``If-Modified-Since`` is not older than ``last_modified`` (aware UTC).
    Answering here, before the list is read, is what makes an unchanged poll cheap."""
    if request.if_none_match:
        return any(request.if_none_match.contains(etag + suffix)
                   for suffix in COMPRESSED_ETAG_SUFFIXES)
    since = request.if_modified_since
    return bool(since and last_modified and last_modified.replace(microsecond=0) <= since)
