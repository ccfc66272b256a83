"""The offline-first app in real headless Chromium: manifest, service worker, drafts kept on the
device while offline, sent exactly once when the connection returns (also after an upload cut
off mid-way), and htmx requests that fail offline saying so in place.

The photo is the real geotagged tests/fixtures/photos/derived_lodz_gps_DSCN0025.jpg (EXIF GPS
51.7592 N, 19.4560 E, ul. Piotrkowska); for the scaling test an enlarged copy of it carries its
original EXIF block.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.browser.waiting import wait_until
from PIL import Image
from sqlalchemy import func, select

# The same folder as tests/conftest.py's fixture_photo() (not imported: tests/ is not a package).
PHOTO = Path(__file__).resolve().parent.parent / "fixtures" / "photos" / "derived_lodz_gps_DSCN0025.jpg"
EXIF_LAT, EXIF_LONG = 51.7592, 19.4560
SERVICE_CODE = "ROAD_POTHOLE"


# ---- helpers ---------------------------------------------------------------------------------

def count_reports(app) -> int:
    from webapp.extensions import db
    from webapp.reports.models import Report
    with app.app_context():
        n = db.session.scalar(select(func.count()).select_from(Report))
        db.session.remove()
        return n


def only_report(app):
    """(report fields, [photo original bytes]) of the single report in the database."""
    from webapp.extensions import db
    from webapp.photos.models import Photo
    from webapp.photos.storage import get_storage
    from webapp.reports.models import Report
    with app.app_context():
        reports = db.session.scalars(select(Report)).all()
        assert len(reports) == 1, f"expected exactly one report, found {len(reports)}"
        report = reports[0]
        photos = db.session.scalars(select(Photo).where(Photo.report_id == report.id)).all()
        originals = [get_storage().get(p.original_key) for p in photos]
        data = {"lat": report.lat, "long": report.long, "location_source": report.location_source,
                "client_id": report.client_id, "number": report.number}
        db.session.remove()
        return data, originals


def wait_js(page, expression: str, timeout_s: float = 20.0):
    """Wait until ``expression`` is truthy in the page. (page.wait_for_function evaluates its
    predicate with eval, which the app's CSP rightly forbids; page.evaluate goes through CDP.)"""
    wait_until(page, lambda: page.evaluate(expression), timeout_s, what=expression)


def controlled(page):
    """Wait until the service worker is active and controls the page (precache done)."""
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    wait_js(page, "navigator.serviceWorker.controller !== null")


def fill_report(page, photo: Path):
    page.select_option("#service_code", SERVICE_CODE)
    page.fill("#description", "Deep pothole by the pedestrian crossing, cars swerve around it.")
    page.set_input_files("#media", str(photo))
    # The position comes from the photo's EXIF, read in the browser.
    wait_js(page, "document.getElementById('lat').value !== ''")
    assert float(page.input_value("#lat")) == pytest.approx(EXIF_LAT, abs=1e-5)
    assert float(page.input_value("#long")) == pytest.approx(EXIF_LONG, abs=1e-5)
    assert page.input_value("#location_source") == "photo"


def draft_count(page) -> int:
    return page.evaluate("LckzmOutbox.listDrafts().then(d => d.length)")


@pytest.fixture
def large_photo(tmp_path) -> Path:
    """The real photo enlarged to 4096x3072 px, keeping its EXIF (GPS, time) byte for byte."""
    with Image.open(PHOTO) as im:
        exif = im.info["exif"]
        big = im.resize((4096, 3072), Image.BICUBIC)
    path = tmp_path / "large_lodz_gps.jpg"
    big.save(path, "JPEG", quality=92, exif=exif)
    return path


# ---- installable -----------------------------------------------------------------------------

def test_manifest_is_valid_and_its_icons_have_the_declared_sizes(client):
    response = client.get("/manifest.json")
    assert response.status_code == 200
    assert response.mimetype == "application/manifest+json"
    manifest = json.loads(response.data)
    for key in ("name", "short_name", "start_url", "scope", "display", "lang", "theme_color",
                "background_color", "icons"):
        assert manifest.get(key), f"manifest lacks {key}"
    assert manifest["lang"] == "pl" and manifest["display"] == "standalone" and manifest["scope"] == "/"
    assert manifest["start_url"].startswith("/")
    assert any(s["url"] == "/report" for s in manifest["shortcuts"])
    sizes = set()
    for icon in manifest["icons"]:
        png = client.get(icon["src"])
        assert png.status_code == 200, icon["src"]
        with Image.open(io.BytesIO(png.data)) as im:
            assert im.format == "PNG"
            assert f"{im.width}x{im.height}" == icon["sizes"]
        sizes.add((icon["sizes"], icon.get("purpose", "any")))
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes


def test_service_worker_is_served_for_the_whole_site_and_never_cached(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["Service-Worker-Allowed"] == "/"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.get_data(as_text=True).startswith('self.LCKZM_BUILD = "')
    token = client.get("/csrf-token")
    assert token.headers["Cache-Control"] == "no-store" and token.json["csrf_token"]
    assert client.get("/offline").status_code == 200
    assert client.get("/install").status_code == 200


def test_service_worker_carries_a_revision_per_file_and_the_build_for_the_pages(client):
    import hashlib
    import re
    body = client.get("/sw.js").get_data(as_text=True)
    build = json.loads(re.match(r"self\.LCKZM_BUILD = (\S+);\n", body).group(1))
    revisions = json.loads(re.search(r"^self\.LCKZM_REVISIONS = (.+);$", body, re.M).group(1))
    static = Path(__file__).resolve().parents[2] / "static"
    for name in ("js/app.js", "js/drafts.js", "css/app.css", "vendor/htmx/htmx.min.js"):
        assert revisions[f"/static/{name}"] == hashlib.sha256((static / name).read_bytes()).hexdigest()[:12]
    assert revisions["/report"] == revisions["/offline"] == build
    # every file the worker precaches has a revision (else its install would fail)
    precached = re.findall(r'^  "(/[^"]*)"', body[body.index("var PRECACHE"):], re.M)
    assert "/static/js/dom.js" in precached and set(precached) <= set(revisions)


@pytest.mark.browser
def test_service_worker_activates_controls_the_page_and_precaches_the_shell(page):
    page.goto("/report")
    controlled(page)
    names = page.evaluate("caches.keys()")
    assert any(n.startswith("lckzm-shell-v") for n in names)
    shell = next(n for n in names if n.startswith("lckzm-shell-v"))
    urls = page.evaluate("name => caches.open(name).then(c => c.keys()).then(ks => ks.map(k => new URL(k.url).pathname))", shell)
    assert {"/report", "/offline", "/static/js/drafts.js", "/static/vendor/exifr/lite.umd.js"} <= set(urls)
    # The install offer waits for a sent report: never on first load.
    assert page.locator("#install-offer").is_hidden()
    # Navigations start while the worker boots (navigation preload), the worker uses the answer.
    assert page.evaluate("navigator.serviceWorker.ready.then(r => r.navigationPreload.getState()).then(s => s.enabled)")
    response = page.reload()
    assert response.from_service_worker and page.locator("#report-form").is_visible()


# ---- offline drafts --------------------------------------------------------------------------

@pytest.mark.browser
def test_offline_report_with_photo_is_kept_and_sent_exactly_once_when_back_online(page, context, live_server, large_photo):
    page.goto("/report")
    controlled(page)

    context.set_offline(True)
    response = page.reload()
    assert response.from_service_worker
    assert page.locator("#report-form").is_visible()

    fill_report(page, large_photo)
    page.click("#report-form button[type=submit]")
    wait_js(page, "document.getElementById('outbox-count').textContent === '1'")
    assert "back online" in page.locator("#form-summary").inner_text()

    # Closing and reopening (a reload, still offline) loses nothing.
    page.reload()
    wait_js(page, "document.getElementById('outbox-count').textContent === '1'")
    assert page.locator("#outbox-list li").count() == 1
    assert draft_count(page) == 1
    assert count_reports(live_server.app) == 0

    context.set_offline(False)
    wait_until(page, lambda: count_reports(live_server.app) >= 1, what="the report to reach the server")
    wait_js(page, "document.getElementById('outbox').hidden")
    # The online event and Background Sync may both have started a send: wait until no send is
    # running or queued (the outbox holds the "lckzm-outbox" Web Lock while it sends), then still one.
    wait_js(page, "navigator.locks.query().then(s => s.held.length === 0 && s.pending.length === 0)")
    assert count_reports(live_server.app) == 1
    assert draft_count(page) == 0

    report, originals = only_report(live_server.app)
    assert report["lat"] == pytest.approx(EXIF_LAT, abs=1e-5)
    assert report["long"] == pytest.approx(EXIF_LONG, abs=1e-5)
    assert report["location_source"] == "photo"
    assert len(originals) == 1
    with Image.open(io.BytesIO(originals[0])) as im:
        assert im.format == "JPEG" and max(im.size) <= 2048, im.size  # scaled down on the phone
        assert im.size == (2048, 1536)

    # "My reports" keeps the number and the private tracking link; now the install offer.
    wait_js(page, "!document.getElementById('my-reports').hidden")
    assert report["number"] in page.locator("#my-reports-list").inner_text()
    assert page.locator("#my-reports-list a").get_attribute("href").startswith("/t/")
    assert page.locator("#install-offer").is_visible()


@pytest.mark.browser
def test_unfinished_draft_is_restored_after_a_reload(page, context):
    page.goto("/report")
    controlled(page)
    context.set_offline(True)
    page.fill("#description", "Street light out for a week at the corner.")
    wait_js(page, "LckzmOutbox.listDrafts().then(d => d.length === 1)")
    page.reload()
    wait_js(page, "document.getElementById('description').value !== ''")
    assert page.input_value("#description") == "Street light out for a week at the corner."


@pytest.mark.browser
def test_upload_cut_off_mid_way_still_makes_one_report(page, context, live_server):
    posts = []

    def cut_first_post(route):
        if route.request.method != "POST":
            route.continue_()
            return
        posts.append(route.request.headers.get("accept", ""))
        if len(posts) == 1:
            route.fetch()  # the server receives and stores it...
            route.abort("connectionreset")  # ...but the phone never hears back
        else:
            route.continue_()

    page.goto("/report")
    controlled(page)
    context.route("**/report", cut_first_post)
    fill_report(page, PHOTO)
    page.click("#report-form button[type=submit]")

    wait_until(page, lambda: len(posts) >= 2, what="the outbox to send again")
    wait_js(page, "!document.getElementById('my-reports').hidden")
    wait_js(page, "navigator.locks.query().then(s => s.held.length === 0 && s.pending.length === 0)")
    assert count_reports(live_server.app) == 1
    assert draft_count(page) == 0
    report, originals = only_report(live_server.app)
    assert report["lat"] == pytest.approx(EXIF_LAT, abs=1e-5)
    assert len(originals) == 1
    assert report["number"] in page.locator("#my-reports-list").inner_text()


@pytest.mark.browser
def test_htmx_request_failing_offline_says_so_in_place(page, context):
    page.goto("/reports")
    controlled(page)
    context.set_offline(True)
    page.select_option("#filter-status", "open")
    status = page.locator("#net-status")
    status.wait_for(state="visible")
    expected = page.locator("body").get_attribute("data-msg-offline")
    assert status.inner_text() == expected


@pytest.mark.browser
def test_a_new_version_is_offered_with_a_reload_banner_not_swapped_silently(page, live_server):
    page.goto("/report")
    controlled(page)
    first = page.evaluate("caches.keys()")
    assert page.locator("#sw-update").is_hidden()

    live_server.app.config["PWA_BUILD"] = "next-release"
    page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.update())")
    page.locator("#sw-update").wait_for(state="visible")
    # Still the old worker until the resident agrees.
    assert page.evaluate("caches.keys()") == first or all(n in page.evaluate("caches.keys()") for n in first)

    with page.expect_navigation():
        page.click("#sw-reload")
    controlled(page)
    wait_js(page, "caches.keys().then(ns => ns.includes('lckzm-pages-v2-next-release'))")
    names = page.evaluate("caches.keys()")
    # The pages seen under the old build are gone; the shell cache is kept (its files have
    # their own revisions, see the next test).
    assert not any(n in names for n in first if n.startswith("lckzm-pages-"))
    assert [n for n in names if n.startswith("lckzm-shell-")] == [n for n in first if n.startswith("lckzm-shell-")]


def release(page, live_server, monkeypatch, changed=()):
    """Publish a new build ("next-release") in which the static files ``changed`` (paths under
    static/) have new bytes, let the page's reload banner install it, and wait for control."""
    from webapp.pwa import views
    real = views.static_revisions
    monkeypatch.setattr(views, "static_revisions",
                        lambda folder: {**real(folder), **{name: "changed" + real(folder)[name][:5] for name in changed}})
    live_server.app.config["PWA_BUILD"] = "next-release"
    page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.update())")
    page.locator("#sw-update").wait_for(state="visible")
    with page.expect_navigation():
        page.click("#sw-reload")
    controlled(page)
    wait_js(page, "caches.keys().then(ns => ns.includes('lckzm-pages-v2-next-release'))")


def shell_revisions(page) -> dict:
    """{path: revision} of the entries in the service worker's shell cache."""
    return page.evaluate("""caches.keys().then(ns => caches.open(ns.find(n => n.startsWith('lckzm-shell-'))))
        .then(c => c.keys()).then(ks => Object.fromEntries(ks.map(k => {
            const u = new URL(k.url); return [u.pathname, u.searchParams.get('__rev')]; })))""")


@pytest.mark.browser
def test_a_release_downloads_only_the_static_files_it_changed(page, live_server, monkeypatch):
    page.goto("/report")
    controlled(page)
    before = shell_revisions(page)
    assert "/static/js/app.js" in before and "/static/css/app.css" in before

    fetched = []
    inner = live_server.app.wsgi_app

    def log_paths(environ, start_response):
        fetched.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    live_server.app.wsgi_app = log_paths
    release(page, live_server, monkeypatch, changed=["js/app.js"])

    static = {path for path in fetched if path.startswith("/static/")}
    # app.js again; outbox.js is the worker's importScripts, which the browser checks itself on
    # every update. No other file: not even a revalidation.
    assert "/static/js/app.js" in static
    assert static <= {"/static/js/app.js", "/static/js/outbox.js"}, static
    after = shell_revisions(page)
    assert after["/static/js/app.js"] != before["/static/js/app.js"]
    unchanged = {path: rev for path, rev in before.items() if path.startswith("/static/") and path != "/static/js/app.js"}
    assert unchanged and all(after[path] == rev for path, rev in unchanged.items())
    # The shell pages link every file: they belong to the build, fetched again.
    assert after["/report"] == after["/offline"] == "next-release"


@pytest.mark.browser
def test_after_a_release_offline_pages_are_those_of_the_new_build(page, context, live_server, monkeypatch):
    page.goto("/report")
    controlled(page)
    page.goto("/about")  # seen online: kept in the pages cache of this build
    controlled(page)
    old_build = page.get_attribute("#pwa", "data-build")
    wait_js(page, "caches.keys().then(ns => caches.open(ns.find(n => n.startsWith('lckzm-pages-'))))"
                  ".then(c => c.match('/about')).then(Boolean)")
    release(page, live_server, monkeypatch, changed=["css/app.css"])

    context.set_offline(True)
    for path in ("/about", "/report", "/reports/999999"):  # once seen, precached, never seen
        response = page.goto(path)
        assert response.from_service_worker, path
        assert page.get_attribute("#pwa", "data-build") == "next-release" != old_build, path


@pytest.mark.browser
def test_changes_to_a_draft_from_the_page_and_the_worker_at_once_are_all_kept(page):
    """The page saving a draft while the service worker's sync records an attempt: each read
    and write is one transaction, so neither overwrites the other's change."""
    page.goto("/report")
    controlled(page)
    worker = page.context.service_workers[0]
    draft_id = page.evaluate("""LckzmOutbox.putDraft({client_id: 'race', state: 'queued', attempts: 0,
        created_at: Date.now(), fields: {description: ''}, photos: []}).then(() => 'race')""")
    page.evaluate("""void (window.edits = Promise.all(Array.from({length: 10}, () =>
        LckzmOutbox.updateDraft('race', d => { d.fields.description += 'x'; }))))""")
    worker.evaluate("""Promise.all(Array.from({length: 10}, () =>
        self.LckzmOutbox.updateDraft('race', d => { d.attempts += 1; })))""")
    draft = page.evaluate(f"window.edits.then(() => LckzmOutbox.getDraft('{draft_id}'))")
    assert draft["attempts"] == 10
    assert draft["fields"]["description"] == "x" * 10


@pytest.mark.browser
def test_a_report_waiting_on_the_device_asks_the_browser_to_keep_its_storage(page, context):
    page.add_init_script("""(() => {
        window.persistCalls = 0;
        if (navigator.storage) navigator.storage.persist = () => { window.persistCalls += 1; return Promise.resolve(true); };
    })()""")
    page.goto("/report")
    controlled(page)
    context.set_offline(True)
    page.select_option("#service_code", SERVICE_CODE)
    page.fill("#description", "Overflowing bin at the tram stop, rubbish on the pavement.")
    page.fill("#lat", "51.7592")
    page.fill("#long", "19.4560")
    assert page.evaluate("window.persistCalls") == 0  # a draft being typed is not reason enough
    page.click("#report-form button[type=submit]")
    wait_js(page, "document.getElementById('outbox-count').textContent === '1'")
    assert page.evaluate("window.persistCalls") >= 1



@pytest.mark.browser
def test_online_report_is_sent_by_htmx_and_remembered_on_the_device(page, live_server):
    page.goto("/report")
    controlled(page)
    fill_report(page, PHOTO)
    wait_js(page, "LckzmOutbox.listDrafts().then(d => d.length === 1 && d[0].photos.length === 1)")
    page.click("#report-form button[type=submit]")
    page.locator("#report-sent").wait_for()
    wait_js(page, "!document.getElementById('my-reports').hidden")
    report, originals = only_report(live_server.app)
    assert len(originals) == 1
    assert draft_count(page) == 0
    assert report["number"] in page.locator("#my-reports-list").inner_text()
    # The last known status comes from the public API: "Sent to the responsible unit" or similar.
    page.locator("#my-reports-list .my-report-status").wait_for()
    labels = json.loads(page.locator("#pwa").get_attribute("data-status-labels"))
    assert any(label in page.locator("#my-reports-list").inner_text() for label in labels.values())


@pytest.mark.browser
def test_a_draft_the_server_refuses_is_kept_with_its_errors(page, context, live_server):
    page.goto("/report")
    controlled(page)
    context.set_offline(True)
    page.select_option("#service_code", SERVICE_CODE)
    page.fill("#description", "Broken bench in the park, wood splintered.")
    page.fill("#lat", "52.2297")  # Warsaw: outside Łódź, refused by the server (422)
    page.fill("#long", "21.0122")
    page.click("#report-form button[type=submit]")
    wait_js(page, "document.getElementById('outbox-count').textContent === '1'")

    context.set_offline(False)
    wait_js(page, "LckzmOutbox.listDrafts().then(d => d.length === 1 && d[0].state === 'rejected')")
    assert count_reports(live_server.app) == 0
    page.locator("#outbox-list .outbox-rejected").wait_for()

    page.click("#outbox-list .outbox-edit")
    wait_js(page, "document.getElementById('lat').value === '52.2297'")
    assert page.locator("#err-lat").inner_text().strip() != ""  # the server's message, in place
    # opening it ends by scrolling the form into view: click after that, not at a moving button
    wait_js(page, "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))")
    page.fill("#lat", "51.7592")
    page.fill("#long", "19.4560")
    page.click("#report-form button[type=submit]")
    page.locator("#report-sent").wait_for()
    assert count_reports(live_server.app) == 1
    assert draft_count(page) == 0


# ---- photos an operator hides ----------------------------------------------------------------

def report_with_photos(app, photos) -> tuple[int, list[int]]:
    """A public (dispatched) report with ``photos`` saved as an upload saves them:
    (report id, [photo ids])."""
    from tests.factories import make_report
    from webapp.extensions import db
    from webapp.photos.pipeline import process_photo
    from webapp.photos.services import save_photo
    with app.app_context():
        report = make_report(commit=False)
        db.session.flush()
        saved = [save_photo(process_photo(path.read_bytes(), filename=path.name), report=report, position=i)
                 for i, path in enumerate(photos)]
        db.session.commit()
        ids = report.id, [photo.id for photo in saved]
        db.session.remove()
        return ids


def hide_photo(app, report_id: int, photo_id: int):
    """What "Hide" in the moderation panel does: webapp.moderation.photos.set_hidden, committed."""
    from tests.factories import create_staff
    from webapp.auth.models import StaffUser
    from webapp.extensions import db
    from webapp.moderation.photos import set_hidden
    from webapp.reports.models import Report
    operator = create_staff(app)
    with app.app_context():
        set_hidden(db.session.get(Report, report_id), photo_id, db.session.get(StaffUser, operator))
        db.session.commit()
        db.session.remove()


def fetch_status(page, url: str):
    """What a page asking for ``url`` gets through the service worker: the HTTP status, or
    "failed" (offline and not cached)."""
    return page.evaluate("url => fetch(url).then(r => r.status, () => 'failed')", url)


def cached(page, url: str) -> bool:
    """Whether any of the service worker's caches holds ``url``."""
    return page.evaluate("url => caches.match(url).then(Boolean)", url)


@pytest.mark.browser
def test_a_photo_an_operator_hides_leaves_the_phone_at_its_next_view(page, context, live_server):
    second = PHOTO.parent / "gps_DSCN0010.jpg"
    report_id, (hidden, kept) = report_with_photos(live_server.app, [PHOTO, second])
    thumb, kept_thumb = f"/media/photos/{hidden}/thumb.jpg", f"/media/photos/{kept}/thumb.jpg"
    full = f"/media/photos/{hidden}/public.jpg"
    page.goto("/report")
    controlled(page)

    # Seen once online: the thumbnails on the report's page, and the photo opened full size.
    page.goto(f"/reports/{report_id}")
    wait_until(page, lambda: cached(page, thumb) and cached(page, kept_thumb), what="the thumbnails to be kept")
    with page.expect_navigation():
        page.click(f'a[href="{full}"]')
    wait_until(page, lambda: cached(page, full), what="the full-size photo to be kept")

    hide_photo(live_server.app, report_id, hidden)
    page.goto(f"/reports/{report_id}")
    assert thumb not in page.content() and kept_thumb in page.content()
    # The next views of the photo (a page rendered before it was hidden, the full-size photo
    # opened again) get the phone's copy at once, while the worker asks the server: 404.
    fetch_status(page, thumb)
    fetch_status(page, kept_thumb)
    page.goto(full)
    page.goto(f"/reports/{report_id}")
    wait_until(page, lambda: not cached(page, thumb) and not cached(page, full),
               what="the hidden photo to leave the worker's caches")
    # From now on the server's answer, not the phone's copy.
    assert fetch_status(page, thumb) == 404
    assert page.goto(full).status == 404
    assert cached(page, kept_thumb)  # the photo still shown was revalidated (200) and stays

    # Offline, the photo still shown works from the phone; the hidden one is gone.
    page.goto(f"/reports/{report_id}")
    context.set_offline(True)
    assert fetch_status(page, kept_thumb) == 200
    assert fetch_status(page, thumb) == "failed"
    offline = page.goto(full)
    assert offline.from_service_worker and offline.headers["content-type"].startswith("text/html")
