"""Small helpers shared by the HTTP-level tests."""
from __future__ import annotations

import re
import time
import uuid
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path

import pyotp
from sqlalchemy import event

from tests.factories import STAFF_PASSWORD as PASSWORD, create_staff
from webapp.extensions import db

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SECRET_RE = re.compile(r'id="totp-secret">([A-Z2-7]+)<')
CODES_RE = re.compile(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>")


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
# --------------------------------------------------------------------------- staff logins

def post_password(client, email, password=PASSWORD):
    token = csrf_token(client, "/admin/login")
    return client.post("/admin/login", data={"csrf_token": token, "email": email,
                                             "password": password})


def enrol(client, email, password=PASSWORD):
    """First login: password, scan (read the key), confirm. Returns (secret, recovery codes)."""
    response = post_password(client, email, password)
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/login/enrol")
    page = client.get("/admin/login/enrol").get_data(as_text=True)
    assert 'src="data:image/svg+xml;base64,' in page
    secret = SECRET_RE.search(page).group(1)
    token = csrf_token(client, "/admin/login/enrol")
    done = client.post("/admin/login/enrol", data={"csrf_token": token,
                                                   "code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200, done.get_data(as_text=True)
    codes = CODES_RE.findall(done.get_data(as_text=True))
    assert len(codes) == 10
    return secret, codes


def next_code(secret: str) -> str:
    """A code the server has not seen yet: the next 30 s step (one step of drift is allowed;
    a step already used is refused as a replay)."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def login(client, email, secret, password=PASSWORD, code=None):
    """A later login: password, then a TOTP code. Returns the second step's response."""
    response = post_password(client, email, password)
    assert response.status_code == 302, response.get_data(as_text=True)
    token = csrf_token(client, "/admin/login/code")
    return client.post("/admin/login/code", data={"csrf_token": token,
                                                  "code": code or next_code(secret)})


def staff_client(app, email="operator@lodz.example", role="operator"):
    """A test client logged in as a new, enrolled staff user: (client, secret, codes)."""
    create_staff(app, email, role)
    client = app.test_client()
    secret, codes = enrol(client, email)
    return client, secret, codes


def enrol_in_browser(page, url: str, email: str, password: str = PASSWORD, check=None) -> str:
    """Log staff ``email`` in through the panel's pages in a Playwright ``page`` (live server at
    ``url``), enrol the second factor with pyotp's code and wait for the recovery codes; calls
    ``check(page)`` (e.g. an axe assertion) on the login, enrolment and codes pages. Returns the
    TOTP secret shown on enrolment."""
    page.goto(f"{url}/admin/login?lang=pl")
    if check:
        check(page)
    page.fill("#email", email)
    page.fill("#password", password)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/admin/login/enrol"))
    if check:
        check(page)
    secret = page.inner_text("#totp-secret")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.keyboard.press("Enter")
    page.wait_for_selector(".recovery-codes")
    if check:
        check(page)
    return secret


@contextmanager
def statements(app):
    """Collect ``(statement, parameters)`` of every SQL statement run meanwhile."""
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
