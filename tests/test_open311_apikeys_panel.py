"""The admin's API keys page in the moderation panel (issue 13): a key made there files a
report through ``POST requests.json``, and once revoked there it gets 403. Every change is in
the audit trail; the token is shown once and never stored or audited."""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.helpers import csrf_token, element_attrs, staff_client
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
    response = _create(admin, rate_limit="50 per hour")
    assert response.status_code == 200
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
    assert response.status_code in (200, 422), (fields, response.status_code)
    with app.app_context():
        after = db.session.scalar(select(func.count(ApiKey.id)))
    made = TOKEN_RE.search(response.get_data(as_text=True))
    assert (response.status_code == 200) == bool(made) == (after == before + 1), fields
    if made:  # the key it showed works for the API's authentication
        with app.test_request_context():
            assert authenticate(made.group(1)).revoked_at is None


@pytest.fixture
def admin_for_fuzz(app):
    admin = _admin(app)
    return app, admin, csrf_token(admin, "/admin/apikeys/")
