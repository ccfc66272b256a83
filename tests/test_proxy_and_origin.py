"""Behind a reverse proxy: which headers are believed (rate-limit key, https links), HSTS and
Secure cookies on an https deployment, and the same-origin check on writes."""
from __future__ import annotations

from flask import url_for

from tests.helpers import report_form
from webapp.extensions import csrf
from webapp.security import cross_origin_allowed, origin_of


def _limited_app(make_app, **overrides):
    return make_app(RATELIMIT_ENABLED=True, REPORT_RATE_LIMIT="1 per minute",
                    REPORT_ATTEMPT_RATE_LIMIT="100 per minute", **overrides)


def test_without_a_trusted_proxy_a_spoofed_forwarded_for_shares_the_bucket(make_app):
    app = _limited_app(make_app)  # TRUSTED_PROXIES defaults to 0
    alice, mallory = app.test_client(), app.test_client()
    r = alice.post("/report", data=report_form(alice), headers={"X-Forwarded-For": "203.0.113.1"})
    assert r.status_code == 303
    # Another "resident" claiming another address is still the same client address: refused.
    r = mallory.post("/report", data=report_form(mallory),
                     headers={"X-Forwarded-For": "198.51.100.7"})
    assert r.status_code == 429
    r = mallory.post("/report", data=report_form(mallory))
    assert r.status_code == 429


def test_behind_one_trusted_proxy_each_resident_has_their_own_bucket(make_app):
    app = _limited_app(make_app, TRUSTED_PROXIES=1)
    alice, bob = app.test_client(), app.test_client()
    # nginx appends the client's address; a value the client itself sent comes first and is
    # ignored with one trusted hop.
    headers_a = {"X-Forwarded-For": "203.0.113.1"}
    headers_b = {"X-Forwarded-For": "8.8.8.8, 198.51.100.7"}
    assert alice.post("/report", data=report_form(alice), headers=headers_a).status_code == 303
    assert bob.post("/report", data=report_form(bob), headers=headers_b).status_code == 303
    assert alice.post("/report", data=report_form(alice), headers=headers_a).status_code == 429
    # Forging the first hop does not give Bob a fresh bucket: the proxy's hop is what counts.
    headers_b_forged = {"X-Forwarded-For": "1.2.3.4, 198.51.100.7"}
    assert bob.post("/report", data=report_form(bob), headers=headers_b_forged).status_code == 429


def _add_link_view(app):
    @app.get("/_test/link")
    def _link():
        return url_for("pages.home", _external=True)


def test_forwarded_proto_makes_links_https_only_behind_a_trusted_proxy(make_app):
    trusting = make_app(TRUSTED_PROXIES=1)
    _add_link_view(trusting)
    r = trusting.test_client().get("/_test/link", headers={"X-Forwarded-Proto": "https",
                                                           "X-Forwarded-Host": "zgloszenia.lodz.pl"})
    assert r.get_data(as_text=True) == "https://zgloszenia.lodz.pl/"

    direct = make_app()
    _add_link_view(direct)
    r = direct.test_client().get("/_test/link", headers={"X-Forwarded-Proto": "https",
                                                         "X-Forwarded-Host": "evil.example"})
    assert r.get_data(as_text=True) == "http://localhost/"


def test_https_deployment_sends_hsts_and_secure_cookies(make_app):
    app = make_app(PUBLIC_BASE_URL="https://zgloszenia.lodz.pl")
    c = app.test_client()
    r = c.get("/report?lang=en")
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    cookies = r.headers.getlist("Set-Cookie")
    assert any(h.startswith("session=") for h in cookies)
    assert any(h.startswith("lang=en") for h in cookies)
    assert all("Secure" in h for h in cookies), cookies


def test_plain_http_deployment_has_no_hsts_and_no_secure_cookies(make_app):
    c = make_app(PUBLIC_BASE_URL="http://127.0.0.1:5000").test_client()
    r = c.get("/report?lang=en")
    assert "Strict-Transport-Security" not in r.headers
    assert all("Secure" not in h for h in r.headers.getlist("Set-Cookie"))


def test_a_form_posted_from_another_site_is_refused_in_polish(client):
    for headers in ({"Origin": "https://evil.example"},
                    {"Origin": "null"},
                    {"Referer": "https://evil.example/page.html"},
                    {"Origin": "http://localhost.evil.example"}):
        r = client.post("/report", data=report_form(client), headers=headers)
        assert r.status_code == 403, headers
        assert "z innej strony" in r.get_data(as_text=True), headers


def test_same_origin_posts_pass(client, app):
    ok = [{"Origin": "http://localhost"},
          {"Referer": "http://localhost/report"},
          {"Origin": "http://127.0.0.1:5000"},  # PUBLIC_BASE_URL, when the Host differs
          {}]  # neither header (stripped by a privacy tool): the CSRF token still protects
    for headers in ok:
        r = client.post("/report", data=report_form(client), headers=headers)
        assert r.status_code == 303, headers
    # Without the CSRF token, "neither header" is still refused.
    data = report_form(client)
    del data["csrf_token"]
    assert client.post("/report", data=data).status_code == 400


def test_reads_are_not_checked(client):
    assert client.get("/reports", headers={"Origin": "https://evil.example"}).status_code == 200


def test_a_view_can_be_opened_to_other_sites(make_app):
    app = make_app()

    @app.post("/_test/api")
    @cross_origin_allowed
    def _api():
        return {"ok": True}, 201
    csrf.exempt(_api)
    r = app.test_client().post("/_test/api", headers={"Origin": "https://app.example"})
    assert r.status_code == 201


def test_origin_of_normalises_and_rejects_non_urls():
    assert origin_of("HTTPS://Zgloszenia.Lodz.pl:443/x?y") == "https://zgloszenia.lodz.pl"
    assert origin_of("http://127.0.0.1:5000/") == "http://127.0.0.1:5000"
    for bad in ("null", "", None, "/relative", "javascript:alert(1)", "http://h:99999/"):
        assert origin_of(bad) is None
