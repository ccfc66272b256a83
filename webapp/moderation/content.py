"""Content rules (regulamin pkt 6): what holds a report's public text for an operator.

Checks, each giving ``{"rule": ..., "match": ...}``:

- ``word``: an entry of the forbidden list (``CONTENT_RULES_FILE``, default
  ``webapp/moderation/data/forbidden_pl.txt``): a plain line matches a word starting with it
  (case-insensitive), a ``re:`` line is a Python regular expression. The file is read again
  when it changes, so an admin's edit works without a restart.
- ``link``: ``http(s)://``, ``www.`` or a bare domain with a common top-level domain.
- ``email``: an e-mail address.
- ``phone``: a Polish phone number (9 digits, optionally ``+48``/``0048``, spaces or dashes).
- ``pesel``: 11 digits whose PESEL check digit is right.

Personal data (phone, e-mail, PESEL) is never public while the report is held: a held report
stays ``awaiting_moderation``, whose description and photos the public pages do not show.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

DEFAULT_FILE = Path(__file__).parent / "data" / "forbidden_pl.txt"

LINK_RE = re.compile(r"(?i)\b(?:https?://|www\.)\S+|\b[a-z0-9-]+\.(?:pl|com|net|org|eu|io|info)\b(?:/\S*)?")
EMAIL_RE = re.compile(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b")
PHONE_RE = re.compile(r"(?<![\d])(?:(?:\+|00)48[\s-]?)?(?:\d[\s-]?){8}\d(?![\d])")
PESEL_RE = re.compile(r"(?<!\d)\d{11}(?!\d)")
_PESEL_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)


def pesel_valid(digits: str) -> bool:
    """True when the 11 ``digits`` have a correct PESEL check digit."""
    if len(digits) != 11 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits, _PESEL_WEIGHTS))
    return (10 - total % 10) % 10 == int(digits[10])


@dataclass
class _Rules:
    mtime: float
    patterns: list[tuple[str, re.Pattern]]


_cache: dict[str, _Rules] = {}


def _load(path: Path) -> list[tuple[str, re.Pattern]]:
    patterns = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("re:"):
            try:
                patterns.append((line, re.compile(line[3:], re.IGNORECASE)))
            except re.error:
                current_app.logger.warning("content rules: bad pattern %r ignored", line)
        else:
            patterns.append((line, re.compile(r"(?<!\w)" + re.escape(line), re.IGNORECASE)))
    return patterns


def forbidden_patterns() -> list[tuple[str, re.Pattern]]:
    """The forbidden list as ``(source line, compiled pattern)``, re-read when the file
    changes. A missing file means an empty list (logged)."""
    path = Path(current_app.config.get("CONTENT_RULES_FILE") or DEFAULT_FILE)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        current_app.logger.warning("content rules file %s is missing", path)
        return []
    cached = _cache.get(str(path))
    if cached is None or cached.mtime != mtime:
        cached = _Rules(mtime, _load(path))
        _cache[str(path)] = cached
    return cached.patterns


def check_text(text: str) -> list[dict]:
    """Why ``text`` must wait for an operator: a list of ``{"rule", "match"}`` (empty: fine)."""
    text = text or ""
    found: list[dict] = []
    for source, pattern in forbidden_patterns():
        match = pattern.search(text)
        if match:
            found.append({"rule": "word", "match": match.group(0)})
    emails = [m.group(0) for m in EMAIL_RE.finditer(text)]
    for address in emails:
        found.append({"rule": "email", "match": address})
    without_emails = EMAIL_RE.sub(" ", text)
    for m in LINK_RE.finditer(without_emails):
        found.append({"rule": "link", "match": m.group(0)})
    for m in PESEL_RE.finditer(text):
        if pesel_valid(m.group(0)):
            found.append({"rule": "pesel", "match": m.group(0)})
    for m in PHONE_RE.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if len(digits) == 11 and pesel_valid(digits):
            continue
        found.append({"rule": "phone", "match": m.group(0).strip()})
    return found
