"""Make the install dialog's screenshots (manifest.json ``screenshots``) from the real pages.

Drives Debian's headless Chromium (/usr/bin/chromium) through Playwright against a running
app: it files sample reports through the real form (so the list and the report page show real
data), then photographs the form, the list and a report page at phone size (narrow, 390x844
CSS px at 2x → 780x1688 PNG) and the list at desktop size (wide, 1280x800).

    make run                           # or any running instance, e.g. PORT=5191 make run
    .venv/bin/python scripts/make_screenshots.py --base-url http://127.0.0.1:5000
    # writes static/screenshots/*.png; their sizes are those listed in static/manifest.json

Run it against a throw-away database: it sends reports (they appear on the public list).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "static" / "screenshots"
CHROMIUM = "/usr/bin/chromium"

SAMPLES = [
    ("ROAD_POTHOLE", "Głęboka dziura w jezdni przy przejściu dla pieszych, auta ją omijają.", "51.759200", "19.456000",
     "ul. Piotrkowska 104"),
    ("STREET_LIGHT", "Latarnia nie świeci od tygodnia, na przystanku jest zupełnie ciemno.", "51.771900", "19.463000",
     "pl. Wolności"),
    ("TREE_HAZARD", "Przewrócone drzewo leży na ścieżce rowerowej w parku.", "51.752300", "19.437600", "Park Poniatowskiego"),
]


def file_report(page, service_code, description, lat, long, address) -> str:
    """Send one report through the form; returns the URL of its public page."""
    page.goto("/report")
    page.select_option("#service_code", service_code)
    page.fill("#description", description)
    page.fill("#lat", lat)
    page.fill("#long", long)
    page.fill("#address_string", address)
    page.get_by_role("button", name="Wyślij zgłoszenie").click()
    sent = page.locator("#report-sent")
    expect(sent).to_be_visible(timeout=30_000)
    return sent.locator("a[href^='/reports/']").get_attribute("href")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:5000")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox"])
        phone = browser.new_context(base_url=args.base_url, locale="pl-PL", viewport={"width": 390, "height": 844},
                                    device_scale_factor=2, is_mobile=True, has_touch=True,
                                    service_workers="block")
        page = phone.new_page()
        detail = None
        for sample in SAMPLES:
            if service_code_exists(page, sample[0]):
                detail = file_report(page, *sample)
        page.goto("/report")
        page.screenshot(path=str(OUT / "phone-form.png"))
        page.goto("/reports")
        page.screenshot(path=str(OUT / "phone-list.png"))
        if detail:
            page.goto(detail)
            page.screenshot(path=str(OUT / "phone-report.png"))
        wide = browser.new_context(base_url=args.base_url, locale="pl-PL", viewport={"width": 1280, "height": 800},
                                   service_workers="block")
        page = wide.new_page()
        page.goto("/reports")
        page.screenshot(path=str(OUT / "wide-list.png"))
        browser.close()
    for png in sorted(OUT.glob("*.png")):
        print(png.relative_to(ROOT))


def service_code_exists(page, code: str) -> bool:
    page.goto("/report")
    return page.locator(f"#service_code option[value='{code}']").count() == 1


if __name__ == "__main__":
    main()
