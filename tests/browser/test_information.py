"""The information pages in real Chromium at phone width: axe-core finds nothing on any of
them in pl, en and uk (statistics with charts drawn), the statistics' tables fit a 390 px
screen inside focusable labelled regions with chart labels at a readable size, and the
search-as-you-type list updates its results and live count while the focus stays in the field."""
from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest

from tests.browser.axe import axe_violations
from tests.factories import make_report, statistics_world
from webapp.clock import utcnow
from tests.helpers import PROCEDURE_SLUGS as SLUGS

pytestmark = pytest.mark.browser

PAGES = ["/procedures", "/procedures?q=drzewo", *[f"/procedures/{s}" for s in SLUGS], "/rules",
         "/rules/versions", "/rules/versions/2024-04-16", "/rules/consent/2024-04-16",
         "/rules/attachment", "/privacy", "/accessibility", "/contact", "/statistics",
         "/statistics?days=30"]


@pytest.mark.parametrize("lang", ["pl", "en", "uk"])
def test_every_information_page_passes_axe_at_390_px(live_server, page, lang):
    with live_server.app.app_context():
        statistics_world()
    page.set_viewport_size({"width": 390, "height": 844})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_server.url}/?lang={lang}")  # the language cookie
    failures = {}
    for path in PAGES:
        page.goto(f"{live_server.url}{path}")
        assert page.locator("h1").count() == 1, path
        found = axe_violations(page)
        if found:
            failures[path] = found
    assert failures == {}
    assert page.locator("svg.chart").count() == 3
    # The contact form's answer after an error, and after sending.
    page.goto(f"{live_server.url}/contact")
    page.fill("#email", "jan@example.org")
    page.fill("#message", "Czy portal działa na starszych telefonach?")
    page.click("button[type=submit]")
    page.wait_for_selector("#err-consent")
    assert axe_violations(page) == []
    page.check("#consent")
    page.click("button[type=submit]")
    page.wait_for_selector("#contact-reference")
    assert axe_violations(page) == []
    assert [e for e in errors if "Content Security Policy" in e] == []


def test_contact_errors_are_summed_up_and_focused_on_a_phone(live_server, page):
    from playwright.sync_api import expect
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/contact?lang=pl")
    page.fill("#email", "jan@example.org")
    page.fill("#message", "Czy portal działa na starszych telefonach?")
    page.get_by_role("button", name="Wyślij pytanie").click()
    summary = page.locator("#form-summary")
    expect(summary).to_be_focused()
    expect(summary.locator("[role=alert]")).to_contain_text("Pytanie nie zostało wysłane")
    assert summary.bounding_box()["y"] < 844                      # in view, not below the fold
    assert page.input_value("#message") == "Czy portal działa na starszych telefonach?"
    summary.locator("a[href='#consent']").click()
    expect(page.locator("#consent")).to_be_focused()


def test_search_as_you_type_keeps_focus_and_announces_the_count(live_server, page):
    from playwright.sync_api import expect
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/procedures?lang=pl")
    page.evaluate("document.body.dataset.marker = 'same-page'")
    count = page.locator("#procedure-count")
    expect(count).to_have_attribute("role", "status")
    page.locator("#procedure-q").press_sequentially("sople", delay=30)
    expect(count).to_have_text(re.compile(r"1 strona pasuje do „sople”"))
    expect(page.locator("#procedure-results a")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"[?&]q=sople"))
    assert page.evaluate("document.activeElement.id") == "procedure-q"
    assert page.evaluate("document.body.dataset.marker") == "same-page"
    assert page.locator("#procedure-results").count() == 1


def test_category_help_appears_when_a_category_is_chosen(live_server, page):
    from playwright.sync_api import expect
    page.goto(f"{live_server.url}/report?lang=pl")
    page.select_option("#service_code", "TREE_PRIVATE")
    expect(page.locator("#category-help a")).to_have_attribute("href", "/procedures/drzewo-na-terenie-prywatnym")
    assert page.locator("#category-help").count() == 1


@pytest.mark.parametrize("lang", ["pl", "uk"])
def test_statistics_fit_a_phone_with_readable_chart_labels(live_server, page, lang):
    from playwright.sync_api import expect
    with live_server.app.app_context():
        statistics_world()
        # A long unit name and four-digit hours: the widest rows the tables get.
        make_report(unit="animal_patrol", status="resolved", requested_at=utcnow() - timedelta(days=100),
                    history=[("accepted", "", "unit", "animal_patrol", "animal_patrol", 6000),
                             ("resolved", "", "unit", "animal_patrol", "animal_patrol", 200000)])
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/statistics?days=365&lang={lang}")
    expect(page.locator("#statistics-as-of")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    regions = page.locator(".table-wrap")
    assert regions.count() == 4
    for i in range(regions.count()):
        region = regions.nth(i)
        assert region.get_attribute("role") == "region" and region.get_attribute("tabindex") == "0"
        assert region.get_attribute("aria-labelledby") and region.locator("caption").count() == 1
        # The table fits its region: nothing hidden to the right.
        assert region.evaluate("e => e.scrollWidth <= e.clientWidth"), region.inner_html()[:200]
    # Hours in the language's own number format (pl and uk: "3 333,3", a no-break space).
    expect(page.locator('[data-unit-times="animal_patrol"] td').last).to_have_text(
        re.compile(r"^3\s333,3$"))
    sizes = page.evaluate("""[...document.querySelectorAll('svg.chart text')]
        .map(t => t.getBoundingClientRect().height)""")
    assert sizes and min(sizes) >= 14  # rendered px: about a 15 px font
    colours = page.evaluate("""[...new Set([...document.querySelectorAll('svg.chart text')]
        .map(t => getComputedStyle(t).fill))]""")
    assert colours == ["rgb(26, 26, 26)"]  # #1a1a1a on white: 17:1
    page.locator(".table-wrap").first.focus()
    assert page.evaluate("document.activeElement.classList.contains('table-wrap')")
    assert axe_violations(page) == []


def test_statistics_being_prepared_page_passes_axe(live_server, page, monkeypatch):
    from playwright.sync_api import expect
    from webapp.information import stats
    released = threading.Event()
    real_compute = stats.compute

    def slow_compute(session, now):  # a first build longer than a request may wait
        released.wait(30)
        return real_compute(session, now)
    monkeypatch.setattr(stats, "compute", slow_compute)
    live_server.app.config["STATS_BUILD_WAIT_SECONDS"] = 0.1
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        page.goto(f"{live_server.url}/statistics?lang=pl")
        expect(page.locator("#statistics-preparing")).to_contain_text("przygotowywane")
        assert axe_violations(page) == []
    finally:
        released.set()
        live_server.app.extensions["statistics_rebuild"].join(30)
