"""Staff accounts and logins for the panel tests, through real HTTP (pyotp computes codes)."""
from __future__ import annotations

import re
import time

import pyotp

from tests.helpers import csrf_token

PASSWORD = "correct horse battery staple"
SECRET_RE = re.compile(r'id="totp-secret">([A-Z2-7]+)<')
CODES_RE = re.compile(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>")


def create_staff(app, email="operator@lodz.example", role="operator", password=PASSWORD):
    """Insert a staff account (no TOTP yet) and return its id."""
    from webapp.auth.services import create_user
    from webapp.extensions import db
    with app.app_context():
        user = create_user(email, password, role)
        db.session.commit()
        return user.id


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


def _user_id(app, email):
    from webapp.auth.services import find_user
    with app.app_context():
        return find_user(email).id
