"""Browser fixtures: real headless Chromium (Debian's /usr/bin/chromium, never a downloaded
browser) driven by Playwright against the app served from this process on 127.0.0.1.

The recipe is ../shared/TESTING.md. Each test gets its own server (a new port, so a new origin:
no service worker, cache or IndexedDB left over from another test) on the shared test database.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # Fail, never skip: a suite that quietly skips its browser tests looks green while the
    # offline app is untested. `make test` installs Debian's chromium when it is missing.
    assert Path(CHROMIUM).exists(), f"browser tests need Debian's chromium at {CHROMIUM}: run make test"
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@dataclass
class LiveServer:
    """The app served on ``url`` (``http://127.0.0.1:<port>``) from a thread of the test."""

    app: object
    url: str


@pytest.fixture
def live_server_config() -> dict:
    """Extra app settings for :func:`live_server`; a test module overrides this fixture."""
    return {}


@pytest.fixture
def live_server(make_app, live_server_config):
    """Serve a test app (test database, no SMTP, no rate limit) with werkzeug in a daemon thread."""
    app = make_app(**{"MAIL_SERVER": None, "RATELIMIT_ENABLED": False, **live_server_config})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app=app, url=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


@pytest.fixture
def base_url(live_server):
    return live_server.url


@pytest.fixture
def browser_context_args(live_server):
    # Replaces pytest-playwright's session-wide one: the server (and its URL) is per test.
    return {"base_url": live_server.url, "locale": "en-GB"}


@pytest.fixture
def map_page(page):
    """``page`` with map tiles refused (as offline) and JavaScript errors and CSP violations
    collected in ``page.js_errors`` (the map tests)."""
    page.context.route("https://tile.openstreetmap.org/**", lambda route: route.abort())
    page.js_errors = []
    page.on("pageerror", lambda e: page.js_errors.append(str(e)))
    page.on("console", lambda m: page.js_errors.append(m.text)
            if m.type == "error" and "Content Security Policy" in m.text else None)
    page.set_viewport_size({"width": 1024, "height": 900})
    return page
