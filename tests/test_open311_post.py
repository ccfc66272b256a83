"""Open311 ``POST requests`` by apps with an API key, ``GET tokens``, and ``flask apikeys``."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.etree import ElementTree as ET

import pytest

from tests.conftest import fixture_photo
from tests.factories import latest_link
from tests.helpers import report_form, staff_client

from webapp.departments.services import link_url
from webapp.extensions import db
from webapp.open311.apikeys import create_key, token_hash
from webapp.reports.models import ApiKey
from webapp.reports.models import Report

INSIDE = {"lat": "51.7593", "long": "19.4573"}  # ul. Piotrkowska


@pytest.fixture
def api_key(app):
    with app.app_context():
        _key, token = create_key("Łódź Fixer", "dev@example.org")
    return token


def post(client, fmt="json", **fields):
    return client.post(f"/open311/v2/requests.{fmt}", data=fields)


def reports(app):
    with app.app_context():
        return db.session.execute(db.select(Report)).scalars().all()


def test_auto_category_gets_an_id_and_records_the_app(app, client, api_key):
    response = post(client, api_key=api_key, service_code="ROAD_POTHOLE",
                    description="Dziura w jezdni przy przejściu", device_id="phone-1",
                    account_id="acc-7", **INSIDE)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body[0]) == {"service_request_id", "service_notice", "account_id"}
    assert body[0]["account_id"] == "acc-7" and body[0]["service_notice"]
    [report] = reports(app)
    assert str(report.id) == body[0]["service_request_id"]
    assert report.status == "dispatched" and report.email is None
    with app.app_context():
        assert db.session.get(ApiKey, report.api_key_id).name == "Łódź Fixer"
    # The same POST again (a retry) returns the same report, nothing new.
    again = post(client, api_key=api_key, service_code="ROAD_POTHOLE",
                 description="Dziura w jezdni przy przejściu", device_id="phone-1",
                 account_id="acc-7", **INSIDE)
    assert again.get_json()[0]["service_request_id"] == body[0]["service_request_id"]
    assert len(reports(app)) == 1
    # And it reads back through GET.
    got = client.get(f"/open311/v2/requests/{report.id}.json").get_json()
    assert got[0]["service_code"] == "ROAD_POTHOLE"


def test_idempotency_key_header_and_xml_answer(app, client, api_key):
    fields = {"api_key": api_key, "service_code": "ROAD_POTHOLE",
              "description": "Dziura w jezdni przy przejściu", **INSIDE}
    first = client.post("/open311/v2/requests.xml", data=fields,
                        headers={"Idempotency-Key": "abc-1"})
    assert first.status_code == 200 and first.mimetype == "text/xml"
    root = ET.fromstring(first.data)
    assert root.tag == "service_requests" and root[0].tag == "request"
    rid = root[0].findtext("service_request_id")
    changed = dict(fields, description="Ta sama dziura, inny opis")
    second = client.post("/open311/v2/requests.xml", data=changed,
                         headers={"Idempotency-Key": "abc-1"})
    assert ET.fromstring(second.data)[0].findtext("service_request_id") == rid
    third = client.post("/open311/v2/requests.xml", data=changed,
                        headers={"Idempotency-Key": "abc-2"})
    assert ET.fromstring(third.data)[0].findtext("service_request_id") != rid


def test_held_report_answers_a_token_that_later_tells_the_id(app, client, api_key):
    response = post(client, api_key=api_key, service_code="OTHER",
                    description="Nie wiem komu to zgłosić, coś tu jest nie tak", **INSIDE)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()[0]
    assert "service_request_id" not in body and body["token"]
    [report] = reports(app)
    assert report.status == "awaiting_moderation"
    token = body["token"]
    waiting = client.get(f"/open311/v2/tokens/{token}.json").get_json()
    assert waiting == [{"service_request_id": None, "token": token}]
    with app.app_context():
        report = db.session.get(Report, report.id)
        report.status = "dispatched"
        db.session.commit()
        rid = report.id
    root = ET.fromstring(client.get(f"/open311/v2/tokens/{token}.xml").data)
    assert root.tag == "service_requests"
    assert root[0].findtext("service_request_id") == str(rid)
    assert root[0].findtext("token") == token
    forged = f"{rid}-{'0' * 24}"
    assert client.get(f"/open311/v2/tokens/{forged}.json").status_code == 404


@pytest.mark.parametrize("fields,expected", [
    ({"lat": "abc", "long": "19.4573"}, "Szerokość geograficzna nie jest liczbą"),
    ({"lat": "51.7593", "long": "abc"}, "Długość geograficzna nie jest liczbą"),
    ({"lat": "123", "long": "19.4573"}, "od -90 do 90 stopni"),
])
def test_a_coordinate_that_is_not_a_number_is_called_so(app, client, api_key, fields, expected):
    response = post(client, api_key=api_key, service_code="ROAD_POTHOLE",
                    description="Dziura w jezdni przy przejściu", **fields)
    assert response.status_code == 400
    said = response.get_json()[0]["description"]
    assert expected in said, said
    if "abc" in fields.values():
        assert "-90" not in said
    # The portal's form says the same.
    resident = app.test_client()
    page = resident.post("/report?lang=pl", data=report_form(
        resident, service_code="ROAD_POTHOLE", description="Dziura w jezdni przy przejściu",
        **fields)).get_data(as_text=True)
    assert expected in page


def test_same_rules_as_the_form(app, client, api_key):
    outside = post(client, api_key=api_key, service_code="ROAD_POTHOLE",
                   description="Dziura w jezdni w Warszawie", lat="52.2297", long="21.0122")
    assert outside.status_code == 400 and "lat" in outside.get_json()[0]["description"]
    unknown = post(client, "xml", api_key=api_key, service_code="NOPE",
                   description="Dziura w jezdni przy przejściu", **INSIDE)
    assert unknown.status_code == 400
    assert ET.fromstring(unknown.data).find("error/code").text == "400"
    no_consent = post(client, api_key=api_key, service_code="ROAD_POTHOLE",
                      description="Dziura w jezdni przy przejściu", email="jan@example.org",
                      **INSIDE)
    assert no_consent.status_code == 400
    said = no_consent.get_json()[0]["description"]
    # An app has no box to tick: it is told the field it must send.
    assert "email_consent: " in said and "email_consent=true" in said
    assert "zaznacz" not in said.lower() and "tick" not in said.lower()
    assert reports(app) == []
    consent = post(client, api_key=api_key, service_code="ROAD_POTHOLE",
                   description="Dziura w jezdni przy przejściu", email="jan@example.org",
                   email_consent="true", **INSIDE)
    assert consent.status_code == 200
    [report] = reports(app)
    assert report.email == "jan@example.org" and report.consent_text


def test_key_is_required_and_checked(app, client, api_key, runner):
    fields = {"service_code": "ROAD_POTHOLE", "description": "Dziura w jezdni przy przejściu",
              **INSIDE}
    missing = post(client, **fields)
    assert missing.status_code == 400 and missing.get_json()[0]["code"] == 400
    wrong = post(client, "xml", api_key="not-a-key", **fields)
    assert wrong.status_code == 403
    assert ET.fromstring(wrong.data).find("error/code").text == "403"
    with app.app_context():
        key_id = db.session.scalar(db.select(ApiKey.id))
    result = runner.invoke(args=["apikeys", "revoke", str(key_id)])
    assert result.exit_code == 0, result.output
    assert post(client, api_key=api_key, **fields).status_code == 403
    assert reports(app) == []


def test_cli_creates_hashed_keys_with_their_own_limit(app, runner):
    result = runner.invoke(args=["apikeys", "create", "--name", "Mapa Łodzi", "--contact",
                                 "dev@example.org", "--rate-limit", "2 per minute"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    with app.app_context():
        key = db.session.scalar(db.select(ApiKey))
        assert key.token_hash == token_hash(token) and token not in key.token_hash
        assert key.rate_limit == "2 per minute"
    listing = runner.invoke(args=["apikeys", "list"])
    assert "Mapa Łodzi" in listing.output and "active" in listing.output and token not in listing.output
    bad = runner.invoke(args=["apikeys", "create", "--name", "X", "--contact", "y",
                              "--rate-limit", "lots"])
    assert bad.exit_code != 0


def test_rate_limit_per_key(make_app):
    app = make_app(RATELIMIT_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        _k, slow = create_key("Slow app", "a@example.org", "2 per minute")
        _k, other = create_key("Other app", "b@example.org")
    fields = {"service_code": "NOPE", "description": "Dziura w jezdni przy przejściu", **INSIDE}
    assert [post(client, api_key=slow, **fields).status_code for _ in range(3)] == [400, 400, 429]
    limited = post(client, "xml", api_key=slow, **fields)
    assert limited.status_code == 429
    assert ET.fromstring(limited.data).find("error/code").text == "429"
    assert post(client, api_key=other, **fields).status_code == 400  # its own bucket


def test_no_csrf_and_no_same_origin_check_for_the_api(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        _k, token = create_key("Web app", "a@example.org")
    response = client.post("/open311/v2/requests.json", headers={"Origin": "https://apps.example"},
                           data={"api_key": token, "service_code": "ROAD_POTHOLE",
                                 "description": "Dziura w jezdni przy przejściu", **INSIDE})
    assert response.status_code == 200, response.get_data(as_text=True)


class _PhotoServer:
    """A real HTTP server on loopback serving a real photo (and a redirect to it)."""

    def __init__(self):
        photo = fixture_photo("gps_DSCN0010.jpg").read_bytes()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                if self.path == "/photo.jpg":
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.send_header("Content-Length", str(len(photo)))
                    self.end_headers()
                    self.wfile.write(photo)
                elif self.path == "/text":
                    body = b"not a photo"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_response(302)
                    self.send_header("Location", "http://10.0.0.1/photo.jpg")
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def photo_server():
    server = _PhotoServer()
    yield server
    server.close()


def test_media_url_photo_is_fetched_when_loopback_is_allowed(make_app, photo_server):
    app = make_app(OPEN311_MEDIA_ALLOW_LOOPBACK=True)
    client = app.test_client()
    with app.app_context():
        _k, token = create_key("Photo app", "a@example.org")
    fields = {"api_key": token, "service_code": "ROAD_POTHOLE",
              "description": "Dziura w jezdni przy przejściu", **INSIDE}
    response = post(client, media_url=photo_server.url + "/photo.jpg", **fields)
    assert response.status_code == 200, response.get_data(as_text=True)
    rid = response.get_json()[0]["service_request_id"]
    body = client.get(f"/open311/v2/requests/{rid}.json").get_json()
    assert body[0]["media_url"]
    photo = client.get(body[0]["media_url"].replace("http://localhost", ""))
    assert photo.status_code == 200 and photo.mimetype.startswith("image/")
    text = post(client, media_url=photo_server.url + "/text", **dict(fields, description="Inna dziura w jezdni"))
    assert text.status_code == 400 and "media_url" in text.get_json()[0]["description"]
    # A redirect to a private address is refused, even with loopback allowed.
    redirect = post(client, media_url=photo_server.url + "/elsewhere",
                    **dict(fields, description="Jeszcze inna dziura w jezdni"))
    assert redirect.status_code == 400
    assert len(reports(app)) == 1


@pytest.mark.parametrize("url", ["{server}/photo.jpg", "http://10.1.2.3/p.jpg",
                                 "http://169.254.169.254/latest/meta-data", "file:///etc/passwd",
                                 "http://[::1]/p.jpg", "ftp://example.org/p.jpg"])
def test_media_url_to_the_servers_own_network_is_refused_by_default(app, client, api_key,
                                                                     photo_server, url):
    response = post(client, api_key=api_key, service_code="ROAD_POTHOLE",
                    description="Dziura w jezdni przy przejściu",
                    media_url=url.format(server=photo_server.url), **INSIDE)
    assert response.status_code == 400
    assert "media_url" in response.get_json()[0]["description"]
    assert reports(app) == []


def test_attributes_are_checked_and_stored_like_the_forms(app, client, api_key):
    fields = {"api_key": api_key, "service_code": "TREE_HAZARD",
              "description": "Powalone drzewo leży na ulicy", **INSIDE}
    missing = post(client, **fields)
    assert missing.status_code == 400 and "attributes" in missing.get_json()[0]["description"]
    wrong = post(client, **{**fields, "attribute[blocks_road]": "maybe"})
    assert wrong.status_code == 400
    assert reports(app) == []
    ok = post(client, **{**fields, "attribute[blocks_road]": "road", "attribute[unknown]": "x"})
    assert ok.status_code == 200, ok.get_data(as_text=True)
    [report] = reports(app)
    assert report.attributes == {"blocks_road": "road"}
    rid = ok.get_json()[0]["service_request_id"]
    got = client.get(f"/open311/v2/requests/{rid}.json?extensions=true").get_json()
    assert got[0]["attributes"] == {"blocks_road": "road"}


def test_the_units_page_names_the_app_and_shows_the_answers(app, client, api_key):
    response = post(client, api_key=api_key, service_code="STREET_LIGHT",
                    description="Latarnia nie świeci od tygodnia",
                    **{"attribute[pole_number]": "ZD-4411", "attribute[lamps_out]": "several"},
                    **INSIDE)
    assert response.status_code == 200, response.get_data(as_text=True)
    with app.app_context():
        report = db.session.scalar(db.select(Report))
        link = latest_link(report)
        path = link_url(link).removeprefix("http://127.0.0.1:5000")
    html = client.get(path + "?lang=en").get_data(as_text=True)
    assert "Sent through the app" in html and "Łódź Fixer" in html
    assert "ZD-4411" in html and "Several in one place" in html
    assert "How many lamps are out?" in html


def test_the_moderation_queue_names_the_app(make_app):
    app = make_app()
    client = app.test_client()
    with app.app_context():
        _k, token = create_key("Łódź Fixer", "dev@example.org")
    held = post(client, api_key=token, service_code="OTHER",
                description="Coś jest nie tak na skwerze", **INSIDE)
    assert held.status_code == 200, held.get_data(as_text=True)
    operator, _, _ = staff_client(app)
    page = operator.get("/admin/queue?lang=en").get_data(as_text=True)
    assert "Sent through the app" in page and "Łódź Fixer" in page
