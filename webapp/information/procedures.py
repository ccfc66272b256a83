"""Procedures ("Sprawy urzędowe", regulamin pkt 2): how city matters are handled, one Markdown
page each in ``content/procedures/<lang>/<slug>.md``.

Polish is complete; a page missing in English or Ukrainian is shown in Polish (``lang`` of the
returned :class:`Procedure` says which, so the template marks it ``lang="pl"``).
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup

from webapp.information.content import ContentError, as_date, load, load_dir

FALLBACK = "pl"
_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")


@dataclass(frozen=True)
class Procedure:
    """One procedure page. ``unit`` is a unit id of ``routing.toml``, ``categories`` service
    codes it concerns, ``updated`` the date the text was last checked, ``lang`` the language of
    the text (may be ``"pl"`` when the requested one is missing)."""

    slug: str
    lang: str
    title: str
    summary: str
    unit: str
    categories: tuple[str, ...]
    updated: dt.date
    html: Markup
    text: str


def _from_document(doc, lang: str) -> Procedure:
    meta, where = doc.meta, str(doc.path)
    missing = [k for k in ("title", "unit", "categories", "updated") if not meta.get(k)]
    if missing:
        raise ContentError(f"{where}: missing front matter: {', '.join(missing)}")
    categories = meta["categories"]
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        raise ContentError(f"{where}: categories must be a list of service codes")
    return Procedure(slug=doc.path.stem, lang=lang, title=str(meta["title"]),
                     summary=str(meta.get("summary") or ""), unit=str(meta["unit"]),
                     categories=tuple(categories), updated=as_date(meta["updated"], f"{where}: updated"),
                     html=doc.html, text=doc.text)


def all_procedures(root: str | Path, lang: str) -> list[Procedure]:
    """Every procedure in ``lang`` (Polish for pages not translated), sorted by title."""
    root = Path(root) / "procedures"
    own = {d.path.stem: _from_document(d, lang) for d in load_dir(root / lang)} if lang != FALLBACK else {}
    pages = [own.get(d.path.stem) or _from_document(d, FALLBACK) for d in load_dir(root / FALLBACK)]
    return sorted(pages, key=lambda p: _fold(p.title))


def get_procedure(root: str | Path, slug: str, lang: str) -> Procedure | None:
    """The procedure ``slug`` in ``lang`` (or Polish); ``None`` when there is no such page."""
    if not _SLUG_RE.match(slug or ""):
        return None
    for candidate in (lang, FALLBACK):
        path = Path(root) / "procedures" / candidate / f"{slug}.md"
        if path.is_file():
            return _from_document(load(path), candidate)
    return None


def for_category(root: str | Path, service_code: str, lang: str) -> list[Procedure]:
    """Procedures that list ``service_code`` among their categories."""
    return [p for p in all_procedures(root, lang) if service_code in p.categories]


def _fold(text: str) -> str:
    """Lower case without diacritics ("Łódź" → "lodz"), so a search typed without Polish
    letters on a phone keyboard still finds the page."""
    text = text.casefold().replace("ł", "l")
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def search(procedures: list[Procedure], query: str, category_names: dict[str, str] | None = None) -> list[Procedure]:
    """Procedures matching every word of ``query`` at the start of a word (in the title,
    summary, text, the unit id or the names of its categories, given as ``{service_code:
    name}``), title matches first.
    An empty query returns all of them."""
    words = _fold(query or "").split()
    if not words:
        return list(procedures)
    names = category_names or {}
    hits = []
    for p in procedures:
        title = _fold(p.title)
        haystack = " ".join([title, _fold(p.summary), _fold(p.text), p.unit,
                             *(_fold(names.get(c, "")) for c in p.categories)])
        if all(_starts_word(w, haystack) for w in words):
            hits.append((0 if all(_starts_word(w, title) for w in words) else 1, p))
    return [p for _, p in sorted(hits, key=lambda h: h[0])]


def _starts_word(word: str, text: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(word), text) is not None
