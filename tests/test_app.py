"""Application-wide behaviour: health check, security headers, maintenance, languages."""
from __future__ import annotations

import uuid

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.reports.models import Report


def test_healthz_checks_the_database(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ok", "database": "ok", "outbox_dead": 0}


def test_healthz_reports_a_dead_database(make_app, tmp_path):
    app = make_app(SQLALCHEMY_DATABASE_URI="postgresql://postgres@127.0.0.1:1/none",
                   SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True})
    r = app.test_client().get("/healthz")
    assert r.status_code == 503
    assert r.get_json()["status"] == "error"


def test_every_page_has_a_strict_csp_without_inline_scripts(client):
    r = client.get("/report")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    html = r.get_data(as_text=True)
    # every <script> has a src: nothing inline for the CSP to block
    import re
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag, tag
    assert " style=" not in html


def test_pages_are_polish_by_default_and_switch_language(client):
    r = client.get("/report")
    assert '<html lang="pl">' in r.get_data(as_text=True)
    assert "Zgłoś problem" in r.get_data(as_text=True)
    r = client.get("/report?lang=en")
    assert '<html lang="en">' in r.get_data(as_text=True)
    assert "Report a problem" in r.get_data(as_text=True)
    # the choice is remembered
    r = client.get("/report")
    assert '<html lang="en">' in r.get_data(as_text=True)
    r = client.get("/report?lang=uk")
    assert '<html lang="uk">' in r.get_data(as_text=True)


def test_accept_language_picks_a_supported_language(client):
    r = client.get("/", headers={"Accept-Language": "uk-UA,uk;q=0.9"})
    assert '<html lang="uk">' in r.get_data(as_text=True)
    r = client.get("/", headers={"Accept-Language": "de-DE"})
    assert '<html lang="pl">' in r.get_data(as_text=True)


def test_maintenance_mode_answers_503_with_a_polish_message(make_app):
    app = make_app(MAINTENANCE_MODE=True)
    c = app.test_client()
    r = c.get("/report")
    assert r.status_code == 503
    assert r.headers["Retry-After"]
    assert "Przerwa techniczna" in r.get_data(as_text=True)
    assert c.get("/healthz").status_code == 200


def test_reporting_can_be_switched_off(make_app):
    app = make_app(REPORTS_ENABLED=False)
    c = app.test_client()
    page = c.get("/report").get_data(as_text=True)
    assert "tymczasowo wyłączone" in page
    assert 'id="report-form"' not in page
    # A complete, valid submission (CSRF token included, so CSRF cannot answer first) is
    # refused by the switch and stores nothing.
    token = c.get("/csrf-token").get_json()["csrf_token"]
    data = {"csrf_token": token, "client_id": str(uuid.uuid4()), "service_code": "ROAD_POTHOLE",
            "description": "Głęboka dziura w jezdni przy przejściu.", "lat": "51.7592",
            "long": "19.4560"}
    assert c.post("/report", data=data).status_code == 503
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Report)) == 0


def test_rules_page_shows_the_regulamin(client):
    page = client.get("/rules").get_data(as_text=True)
    assert "Portal nie służy do przesyłania zgłoszeń dotyczących zagrożeń zdrowia i życia" in page


def test_unknown_page_is_a_polish_404(client):
    r = client.get("/no-such-page")
    assert r.status_code == 404
    assert "Ta strona nie istnieje" in r.get_data(as_text=True)


def test_favicon_ico_is_the_site_icon_not_a_404(client):
    from tests.conftest import ROOT
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.get_data() == (ROOT / "static" / "icons" / "icon-192.png").read_bytes()
    assert "max-age=86400" in response.headers["Cache-Control"]
