"""The admin's API keys page in the moderation panel (issue 13): a key made there files a
report through ``POST requests.json``, and once revoked there it gets 403. Every change is in
the audit trail; the token is shown once and never stored or audited."""
from __future__ import annotations

import json
import re
import threading
from contextlib import contextmanager

import pyotp
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from werkzeug.serving import make_server

from tests.factories import create_staff
from tests.helpers import PASSWORD, SECRET_RE, csrf_token, element_attrs, staff_client
from webapp.audit.models import AuditEntry
from webapp.extensions import db
from webapp.open311.apikeys import authenticate
from webapp.reports.models import ApiKey

INSIDE = {"lat": "51.7593", "long": "19.4573"}  # ul. Piotrkowska
TOKEN_RE = re.compile(r'id="new-token"[^>]*value="([^"]+)"')


def _admin(app):
    client, _, _ = staff_client(app, "admin@lodz.example", role="admin")
    return client


def _create(client, **fields):
    data = {"csrf_token": csrf_token(client, "/admin/apikeys/"), "name": "Łódź Fixer",
            "contact": "dev@example.org", "rate_limit": ""}
    data.update(fields)
    return client.post("/admin/apikeys/?lang=en", data=data)


def _file_report(client, token, description="Dziura w jezdni przy przejściu"):
    return client.post("/open311/v2/requests.json",
                       data={"api_key": token, "service_code": "ROAD_POTHOLE",
                             "description": description, **INSIDE})


def _audit(app, action):
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_a_key_made_in_the_panel_files_a_report_and_is_refused_once_revoked(app):
    admin = _admin(app)
    made = _create(admin, rate_limit="50 per hour")
    assert made.status_code == 303 and made.headers["Location"].endswith("/admin/apikeys/")
    response = admin.get("/admin/apikeys/?lang=en")
    assert response.headers["Cache-Control"] == "private, no-store"
    html = response.get_data(as_text=True)
    token = TOKEN_RE.search(html).group(1)
    field = element_attrs(html, "new-token")
    assert "readonly" in field and "autofocus" in field
    assert field["aria-describedby"] == "new-token-note" and "not shown again" in html
    # Stored hashed only: the token is nowhere in the database or the audit entry.
    with app.app_context():
        key = db.session.scalar(select(ApiKey))
        assert (key.name, key.contact, key.rate_limit) == ("Łódź Fixer", "dev@example.org",
                                                           "50 per hour")
        assert token not in key.token_hash
    [created] = _audit(app, "apikey.create")
    assert created.actor_label == "admin@lodz.example" and created.object_id == str(key.id)
    assert created.after["name"] == "Łódź Fixer" and token not in str(created.after)

    # The list (a fresh GET) no longer shows the token, but shows the key and its last report.
    api = app.test_client()
    filed = _file_report(api, token)
    assert filed.status_code == 200, filed.get_data(as_text=True)
    listing = admin.get("/admin/apikeys/?lang=en").get_data(as_text=True)
    assert token not in listing and 'id="new-token"' not in listing
    row = listing.split(f'id="apikey-{key.id}"')[1].split("</tr>")[0]
    assert "Łódź Fixer" in row and "dev@example.org" in row and "50 per hour" in row
    assert "active" in row and "none yet" not in row

    # Revoking asks first; the confirmation's POST revokes it.
    confirm = admin.get(f"/admin/apikeys/{key.id}/revoke?lang=en")
    assert confirm.status_code == 200 and "refused with 403" in confirm.get_data(as_text=True)
    token_field = csrf_token(admin, f"/admin/apikeys/{key.id}/revoke")
    revoked = admin.post(f"/admin/apikeys/{key.id}/revoke", data={"csrf_token": token_field})
    assert revoked.status_code == 303 and revoked.headers["Location"].endswith("/admin/apikeys/")
    after = admin.get("/admin/apikeys/?lang=en").get_data(as_text=True)
    assert "is revoked" in after and "revoked 20" in after
    [entry] = _audit(app, "apikey.revoke")
    assert entry.before["revoked"] is False and entry.after["revoked"] is True

    refused = _file_report(api, token, "Inna dziura w jezdni obok")
    assert refused.status_code == 403
    assert refused.get_json()[0]["code"] == 403
    # A second revoke changes and records nothing.
    admin.post(f"/admin/apikeys/{key.id}/revoke",
               data={"csrf_token": csrf_token(admin, "/admin/apikeys/")})
    assert len(_audit(app, "apikey.revoke")) == 1


@contextmanager
def _served(app):
    """``app`` on a real HTTP port (werkzeug in a thread): its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _form_token(http, url):
    return CSRF_RE.search(http.get(url, timeout=10).text).group(1)


def _http_admin(url) -> requests.Session:
    """A ``requests`` session logged in as the admin (password, then TOTP enrolment)."""
    http = requests.Session()
    login = f"{url}/admin/login"
    http.post(login, timeout=10, data={"csrf_token": _form_token(http, login),
                                       "email": "admin@lodz.example", "password": PASSWORD})
    enrol = f"{url}/admin/login/enrol"
    page = http.get(enrol, timeout=10).text
    code = pyotp.TOTP(SECRET_RE.search(page).group(1)).now()
    done = http.post(enrol, timeout=10, data={"csrf_token": CSRF_RE.search(page).group(1),
                                              "code": code})
    assert "recovery" in done.text, done.text
    return http


def test_a_new_key_is_shown_once_after_a_redirect_and_a_reload_makes_no_second(app):
    create_staff(app, "admin@lodz.example", "admin")
    with _served(app) as url:
        http = _http_admin(url)
        page = f"{url}/admin/apikeys/"
        made = http.post(f"{page}?lang=en", allow_redirects=False, timeout=10, data={
            "csrf_token": _form_token(http, page), "name": "Łódź Fixer",
            "contact": "dev@example.org", "rate_limit": ""})
        assert made.status_code == 303 and made.headers["Location"].endswith("/admin/apikeys/")
        assert "new-token" not in made.text  # the token travels only in the page after it
        cookie = http.cookies.get(app.config["SESSION_COOKIE_NAME"])
        held = app.session_interface.get_signing_serializer(app).loads(cookie)
        shown = http.get(page, params={"lang": "en"}, timeout=10)
        assert shown.headers["Cache-Control"] == "private, no-store"
        token = TOKEN_RE.search(shown.text).group(1)
        copy = element_attrs(shown.text, "new-token-copy")  # shown by moderation.js
        assert copy["data-copy"] == "new-token" and "hidden" in copy
        assert element_attrs(shown.text, "new-token-status")["role"] == "status"
        with app.app_context():
            assert authenticate(token).name == "Łódź Fixer"
        # Kept in the (signed, readable) session cookie until then, but encrypted.
        assert held["apikey_fresh"]["token"].startswith("gAAAAA")
        assert token not in json.dumps(held) and token not in cookie
        reloaded = http.get(page, params={"lang": "en"}, timeout=10)
        assert reloaded.status_code == 200
        assert token not in reloaded.text and 'id="new-token"' not in reloaded.text
        assert "Łódź Fixer" in reloaded.text
    with app.app_context():
        assert db.session.scalar(select(func.count(ApiKey.id))) == 1
    assert len(_audit(app, "apikey.create")) == 1


def test_a_bad_rate_limit_or_missing_fields_are_shown_at_their_fields(app):
    admin = _admin(app)
    bad = _create(admin, rate_limit="lots, please")
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert "The rate limit is not valid" in html and 'id="new-token"' not in html
    field = element_attrs(html, "rate_limit")
    assert field["aria-invalid"] == "true" and "error-rate_limit" in field["aria-describedby"]
    assert element_attrs(html, "name")["value"] == "Łódź Fixer"  # what was typed stays
    empty = _create(admin, name="  ", contact="")
    assert empty.status_code == 422
    assert element_attrs(empty.get_data(as_text=True), "contact")["aria-invalid"] == "true"
    with app.app_context():
        assert db.session.scalar(select(ApiKey)) is None
    assert _audit(app, "apikey.create") == []


def test_without_a_csrf_token_nothing_is_made_or_revoked(app):
    admin = _admin(app)
    response = admin.post("/admin/apikeys/", data={"name": "X", "contact": "x@example.org"})
    assert response.status_code in (400, 422)
    with app.app_context():
        assert db.session.scalar(select(ApiKey)) is None
    _create(admin)
    with app.app_context():
        key_id = db.session.scalar(select(ApiKey.id))
    assert admin.post(f"/admin/apikeys/{key_id}/revoke").status_code == 400
    with app.app_context():
        assert db.session.get(ApiKey, key_id).revoked_at is None


def test_unknown_keys_are_404(app):
    admin = _admin(app)
    assert admin.get("/admin/apikeys/999/revoke").status_code == 404
    response = admin.post("/admin/apikeys/999/revoke",
                          data={"csrf_token": csrf_token(admin, "/admin/apikeys/")})
    assert response.status_code == 404


def test_the_panel_menu_links_the_keys_for_admins_only(app):
    admin = _admin(app)
    assert 'href="/admin/apikeys/"' in admin.get("/admin/queue").get_data(as_text=True)
    operator, _, _ = staff_client(app)
    assert 'href="/admin/apikeys/"' not in operator.get("/admin/queue").get_data(as_text=True)
    assert operator.get("/admin/apikeys/").status_code == 403


# The route fuzz (test_fuzz_routes.py) walks these routes too, but as an anonymous client,
# so it only meets the login redirect; this one sends its hostile values as a logged-in admin.
HOSTILE = st.one_of(st.text(max_size=300), st.sampled_from([
    "", " ", "\x00", "\u202e", "1 per 0 second", "0 per minute", "9" * 400 + " per hour",
    "100 per hour;10 per minute", "1/second", "per", ";;;", "-1 per day", "1 per 1 fortnight"]))


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_hostile_key_forms_never_answer_5xx(admin_for_fuzz, data):
    app, admin, token = admin_for_fuzz
    fields = {"csrf_token": token, "name": data.draw(HOSTILE), "contact": data.draw(HOSTILE),
              "rate_limit": data.draw(HOSTILE)}
    with app.app_context():
        before = db.session.scalar(select(func.count(ApiKey.id)))
    response = admin.post("/admin/apikeys/", data=fields)
    assert response.status_code in (303, 422), (fields, response.status_code)
    with app.app_context():
        after = db.session.scalar(select(func.count(ApiKey.id)))
    if response.status_code == 303:
        response = admin.get(response.headers["Location"])
    made = TOKEN_RE.search(response.get_data(as_text=True))
    assert bool(made) == (after == before + 1), fields
    if made:  # the key it showed works for the API's authentication
        with app.test_request_context():
            assert authenticate(made.group(1)).revoked_at is None


@pytest.fixture
def admin_for_fuzz(app):
    admin = _admin(app)
    return app, admin, csrf_token(admin, "/admin/apikeys/")
