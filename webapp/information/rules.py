"""The regulamin and the resident's consent, each kept as versioned files
(``content/rules/regulamin/<version>.md``, ``content/rules/consent/<version>.md``), and the
attachment to the regulamin (pkt 3: "automatycznie lub za pośrednictwem operatora") generated
from ``routing.toml``.

A version is *in force* from its ``effective`` date (Europe/Warsaw calendar day); the current one
is the newest in force. Published files are never edited: a change is a new file (pkt 9, 11).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup

from webapp.information.content import ContentError, as_date, load_dir
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Version:
    """One published version: ``version`` its label (``"2024-04-16"``), ``effective`` the day
    it took effect, ``published`` the day it was published, ``html`` its rendered text,
    ``texts`` (consent only) the consent sentence per language, ``source`` where it comes from."""

    kind: str
    version: str
    title: str
    effective: dt.date
    published: dt.date
    html: Markup
    source: str = ""
    texts: tuple[tuple[str, str], ...] = ()

    def text(self, lang: str) -> str:
        """The consent sentence in ``lang``; Polish when that language is missing."""
        found = dict(self.texts)
        return found.get(lang) or found["pl"]


def versions(root: str | Path, kind: str) -> list[Version]:
    """Every version of ``kind`` (``"regulamin"`` or ``"consent"``), newest effective first.

    Raises :class:`ContentError` for a file without ``version``/``effective``, or a consent
    without a Polish ``text``."""
    found = []
    for doc in load_dir(Path(root) / "rules" / kind):
        meta, where = doc.meta, str(doc.path)
        if not meta.get("version") or not meta.get("effective"):
            raise ContentError(f"{where}: version and effective are required")
        texts = meta.get("text") or {}
        if kind == "consent" and not (isinstance(texts, dict) and texts.get("pl")):
            raise ContentError(f"{where}: text.pl (the consent sentence) is required")
        effective = as_date(meta["effective"], f"{where}: effective")
        found.append(Version(kind=kind, version=str(meta["version"]), title=str(meta.get("title") or ""),
                             effective=effective,
                             published=as_date(meta.get("published") or effective, f"{where}: published"),
                             html=doc.html, source=str(meta.get("source") or ""),
                             texts=tuple((str(k), str(v)) for k, v in texts.items())))
    return sorted(found, key=lambda v: (v.effective, v.version), reverse=True)


def current(root: str | Path, kind: str, today: dt.date) -> Version | None:
    """The version of ``kind`` in force on ``today``: the newest whose ``effective`` ≤ today."""
    return next((v for v in versions(root, kind) if v.effective <= today), None)


def find(root: str | Path, kind: str, version: str) -> Version | None:
    """The version labelled ``version``, or ``None``."""
    return next((v for v in versions(root, kind) if v.version == version), None)


@dataclass(frozen=True)
class AttachmentRow:
    """One line of the regulamin's attachment: category (name and ``service_code``), its group,
    the unit that acts on it (id and name) and how reports reach it (``"auto"``/``"operator"``)."""

    group: str
    code: str
    category: str
    unit_id: str
    unit: str
    mode: str


def attachment(routing, lang: str) -> list[AttachmentRow]:
    """The attachment to the regulamin, generated from the routing configuration
    (:class:`webapp.routing.config.RoutingConfig`) in form order: every category once."""
    rows = []
    for group, services in routing.grouped():
        for s in services:
            rows.append(AttachmentRow(group=group.name(lang), code=s.code, category=s.name(lang),
                                      unit_id=s.unit, unit=routing.units[s.unit].name, mode=s.mode))
    return rows


def today_local() -> dt.date:
    """Today's date in Łódź (Europe/Warsaw): the day rules and consents take effect on."""
    return dt.datetime.now(ZoneInfo("Europe/Warsaw")).date()


def consent_for(root: str | Path, lang: str, pinned: str | None = None) -> tuple[str, str] | None:
    """``(version, text in lang)`` of the consent a resident gives today: the version
    ``pinned`` (config ``CONSENT_VERSION``) when it is published, else the one in force.
    ``None`` when no consent is published."""
    chosen = (find(root, "consent", pinned) if pinned else None) or current(root, "consent", today_local())
    return (chosen.version, chosen.text(lang)) if chosen else None
