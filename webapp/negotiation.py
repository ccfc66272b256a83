"""What kind of answer a request wants: a full page, an htmx fragment, or JSON.

One rule for every view (STYLE.md): decide "fragment or page" on ``HX-Target``, never on
``HX-Request`` alone; boosted and history-restore requests always get the full page; the
answer then carries ``Vary: HX-Target``. JSON goes to clients that ask for it (the offline
sync, API users) and never to htmx.
"""
from __future__ import annotations

from htmx_flask import request


def wants_fragment(target_id: str) -> bool:
    """True when htmx asked to swap the element ``target_id`` only (not a boosted navigation
    or a history restore, which need the whole page)."""
    htmx = request.htmx
    if not htmx or htmx.boosted or htmx.history_restore_request:
        return False
    return htmx.target == target_id


def is_htmx() -> bool:
    """True for any request made by htmx (``HX-Request: true``)."""
    return bool(request.htmx)


def wants_json() -> bool:
    """True when the client prefers ``application/json`` to HTML and is not htmx."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and not request.htmx
