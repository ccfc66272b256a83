"""The Polish catalogue is complete (Polish is the default UI language); Ukrainian too."""
from __future__ import annotations

import re
from pathlib import Path
import subprocess
import sys

import pytest
from babel.messages.pofile import read_po

from tests.conftest import ROOT


def _catalogue(lang):
    with open(ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po", "rb") as fh:
        return read_po(fh)


@pytest.fixture(scope="module")
def source_ids(tmp_path_factory):
    """Every message id in the code and templates now (pybabel extract, as `make extract-messages`)."""
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg",
                    "-k", "_l", "-k", "lazy_gettext", "--no-location", "-o", str(pot), "."],
                   cwd=ROOT, check=True, capture_output=True)
    with open(pot, "rb") as fh:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}


@pytest.mark.parametrize("lang", ["pl", "uk"])
def test_every_string_in_the_ui_is_translated(lang, source_ids):
    catalogue = _catalogue(lang)
    translated = {}
    for m in catalogue:
        if not m.id:
            continue
        key = m.id if isinstance(m.id, str) else m.id[0]
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        translated[key] = all(strings) and not m.fuzzy
    missing = sorted(i for i in source_ids if not translated.get(i))
    assert missing == [], f"{len(missing)} strings without a {lang} translation: {missing[:5]} (run make extract-messages, then translate)"


def test_ukrainian_calls_a_residents_report_one_name():
    """A resident's report is "звернення" everywhere in Ukrainian; "повідомлення" is kept for
    messages and notifications, so a user never wonders whether the two are different things."""
    report = re.compile(r"\breports?\b", re.IGNORECASE)
    about_messages = re.compile(r"\b(messages?|notifications?|notices?)\b", re.IGNORECASE)
    mixed = []
    for m in _catalogue("uk"):
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        if not m.id or not any(report.search(i) for i in ids) or any(about_messages.search(i) for i in ids):
            continue
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        if any("повідомлен" in s.lower() for s in strings):
            mixed.append((ids[0], strings))
    assert mixed == [], f"{len(mixed)} uk translations call a report \"повідомлення\": {mixed[:5]}"


def test_ukrainian_calls_the_portals_rules_one_name():
    """The portal's rules (regulamin) are "правила" everywhere in Ukrainian, never also
    "регламент" (which stays only in the name of the EU's GDPR, "Регламент (ЄС) 2016/679")."""
    mixed = [m.id for m in _catalogue("uk") if m.id and "регламент" in str(m.string).lower()]
    assert mixed == [], mixed
    for path in sorted((ROOT / "content").rglob("*.md")):
        if path.stem == "uk" or path.parent.name == "uk":
            text = path.read_text(encoding="utf-8").replace("Регламенту (ЄС)", "")
            assert "регламент" not in text.lower(), path


def _strings(message):
    return message.string if isinstance(message.string, tuple) else (message.string,)


def test_polish_uses_one_form_for_optional_fields_you_and_me_too():
    """Optional fields say "(nieobowiązkowo)"; "Ty" forms are capitalised as in a letter;
    no text speaks to (or for) a man only ("Zapisałem", "poparłeś"); "me too" buttons read
    the same on the form and on a report's page."""
    lower_you = re.compile(r"\b(ciebie|tobą|tobie|twój|twoja|twoje|twojej|twojego|twoim|twoich|twoją)\b")
    masculine = re.compile(r"\w+(łem|łeś)\b(?!/)")
    found = []
    for m in _catalogue("pl"):
        for s in _strings(m) if m.id else ():
            if "(opcjonalnie)" in s or lower_you.search(s) or masculine.search(s):
                found.append(s)
    assert found == [], found
    templates = Path(__file__).resolve().parent.parent / "templates" / "map"
    buttons = [re.findall(r'_\("(Me too:[^"]*)"\)', (templates / name).read_text())
               for name in ("_nearby.html", "_support.html")]
    assert buttons[0] and buttons[0] == buttons[1], buttons
