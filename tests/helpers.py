"""Small helpers shared by the HTTP-level tests."""
from __future__ import annotations

import re
import uuid
from html.parser import HTMLParser
from pathlib import Path

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client, path: str = "/report") -> str:
    """GET ``path`` and return the CSRF token of its form (as a browser would)."""
    html = client.get(path).get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def report_form(client, **fields) -> dict:
    """A complete, valid report submission (ul. Piotrkowska, a pothole) with a fresh CSRF token
    and client_id; ``fields`` override or add values (e.g. ``media=[(fh, "a.jpg")]``)."""
    data = {
        "csrf_token": csrf_token(client),
        "client_id": str(uuid.uuid4()),
        "service_code": "ROAD_POTHOLE",
        "description": "Głęboka dziura w jezdni przy przejściu dla pieszych.",
        "lat": "51.7592",
        "long": "19.4560",
        "address_string": "Piotrkowska 104",
    }
    data.update(fields)
    return data


class _ById(HTMLParser):
    def __init__(self, wanted: str):
        super().__init__()
        self.wanted, self.found = wanted, None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if self.found is None and attributes.get("id") == self.wanted:
            self.found = {"tag": tag, **attributes}


def element_attrs(html: str, element_id: str) -> dict | None:
    """The attributes of the element with ``id=element_id`` in ``html`` (plus ``"tag"``), in
    any order, or None when there is none. Attributes without a value map to None."""
    parser = _ById(element_id)
    parser.feed(html)
    return parser.found


#: The procedure pages shipped in Polish (content/procedures/pl/*.md), by slug.
PROCEDURE_SLUGS = sorted(p.stem for p in (Path(__file__).resolve().parent.parent / "content"
                                          / "procedures" / "pl").glob("*.md"))
