"""The parts every page shares (menu, languages, footer, offline-app messages) are rendered once
per language and kept (webapp.i18n.fragment, issue 12): what a resident sees must still follow
the page and the language of each request."""
from __future__ import annotations

import re


def _current_menu_item(html: str) -> str | None:
    match = re.search(r'<a href="([^"]+)" aria-current="page">', html)
    return match.group(1) if match else None


def test_the_menu_marks_the_page_being_shown_after_other_pages(client):
    for _round in range(2):  # the second round is served from the kept parts
        assert _current_menu_item(client.get("/reports").get_data(as_text=True)) == "/reports"
        assert _current_menu_item(client.get("/").get_data(as_text=True)) is None
        assert _current_menu_item(client.get("/about").get_data(as_text=True)) == "/about"


def test_the_chrome_follows_the_language_of_each_request(client):
    polish = client.get("/", headers={"Accept-Language": "pl"}).get_data(as_text=True)
    ukrainian = client.get("/", headers={"Accept-Language": "uk"}).get_data(as_text=True)
    polish_again = client.get("/", headers={"Accept-Language": "pl"}).get_data(as_text=True)
    nav = re.compile(r'<nav aria-label="[^"]+">.*?</nav>', re.S)
    assert "Zgłoszenia" in nav.search(polish).group(0)
    assert "Звернення" in nav.search(ukrainian).group(0)
    assert nav.search(polish_again).group(0) == nav.search(polish).group(0)
    # The offline app's messages and the manifest link too, not only the menu.
    assert 'href="/manifest.json?lang=uk"' in ukrainian
    assert 'href="/manifest.json?lang=pl"' in polish_again
    assert 'aria-current="true">Українська' in ukrainian
