"""Every route under /admin refuses everyone but staff (issue 7): walks the app's URL map."""
from __future__ import annotations

import pytest
from werkzeug.routing import IntegerConverter

from webapp.departments.services import issue_link, link_url
from webapp.extensions import db
from tests.factories import make_report
from tests.helpers import csrf_token, staff_client

#: The login steps themselves are the only /admin routes open to everyone.
PUBLIC = {"auth.login", "auth.second_factor", "auth.enrol", "auth.logout"}


def _staff_routes(app):
    """(endpoint, method, url, role) for every /admin rule, with sample values for its
    arguments."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or rule.endpoint in PUBLIC:
            continue
        view = app.view_functions[rule.endpoint]
        role = getattr(view, "staff_role", None)
        assert role in ("operator", "admin"), f"{rule.rule} is not behind staff_required"
        # The app's own int converter (webapp.inputs) is a subclass of Werkzeug's.
        values = {arg: (1 if isinstance(rule._converters[arg], IntegerConverter) else "note")
                  for arg in rule.arguments}
        url = rule.rule
        for arg, value in values.items():
            url = url.replace(f"<int:{arg}>", str(value)).replace(f"<{arg}>", str(value))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((rule.endpoint, method, url, role))
    return routes


def _request(client, method, url):
    if method == "GET":
        return client.get(url)
    # A real CSRF token, so the refusal comes from the access check, not from CSRF.
    return client.post(url, data={"csrf_token": csrf_token(client, "/report")})


def _is_login_redirect(response):
    return response.status_code == 302 and "/admin/login" in response.headers["Location"]


@pytest.fixture
def unit_holder(app):
    """A client that opened a unit's signed link (a valid one, so it has a session too)."""
    with app.app_context():
        report = make_report()
        link = issue_link(report, "zdit", max_age_days=30)
        db.session.commit()
        url = link_url(link).replace("http://127.0.0.1:5000", "")
    client = app.test_client()
    assert client.get(url).status_code == 200
    return client


def test_the_map_has_staff_routes(app):
    endpoints = {endpoint for endpoint, *_ in _staff_routes(app)}
    assert {"moderation.queue", "moderation.act", "audit.index", "auth.users",
            "moderation.switches_page", "moderation.outbox", "apikeys.index", "apikeys.create",
            "apikeys.confirm_revoke", "apikeys.revoke"} <= endpoints


def test_anonymous_and_unit_link_holders_are_sent_to_login(app, unit_holder):
    with app.app_context():
        make_report(status="awaiting_moderation")  # report 1 exists: the refusal is not a 404
    anonymous = app.test_client()
    for endpoint, method, url, _role in _staff_routes(app):
        for who, client in (("anonymous", anonymous), ("unit link holder", unit_holder)):
            response = _request(client, method, url)
            assert _is_login_redirect(response), f"{who}: {method} {url} answered {response.status_code}"


def test_operators_get_403_on_admin_routes(app):
    operator, _, _ = staff_client(app)
    admin_only = [(m, u) for _e, m, u, role in _staff_routes(app) if role == "admin"]
    assert admin_only
    for method, url in admin_only:
        response = _request(operator, method, url)
        assert response.status_code == 403, f"operator: {method} {url} answered {response.status_code}"


def test_htmx_request_without_a_session_is_told_to_reload_the_login(app):
    client = app.test_client()
    response = client.post("/admin/reports/1/approve",
                           data={"csrf_token": csrf_token(client, "/report")},
                           headers={"HX-Request": "true"})
    assert response.status_code == 401 and response.headers["HX-Redirect"].startswith("/admin/login")
