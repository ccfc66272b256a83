"""Hostile input named in issue 14: each of these answered 500 on SQLite or PostgreSQL.

Control characters follow one rule on both databases (:mod:`webapp.inputs`): removed, except
line breaks and tabs in multi-line text; bidi overrides removed. Ids out of the database's
range are 404, dates out of range are a 400 in the Open311 format, and a photo store that
cannot be written is a 503 that keeps what the resident typed.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

import pytest

from tests.conftest import fixture_photo
from tests.helpers import csrf_token, report_form
from webapp.inputs import clean_text

HOSTILE = "\x00\x1b[31m\u202e\x07\x9b"  # NUL, a terminal escape, RLO, BEL, C1 CSI


def _report(app, **where):
    from webapp.extensions import db
    from webapp.reports.models import Report
    with app.app_context():
        return db.session.query(Report).filter_by(**where).one_or_none()


# --- the rule itself -------------------------------------------------------------------------

@pytest.mark.parametrize("raw, multiline, expected", [
    ("ul. Piotrkowska\x00 104", False, "ul. Piotrkowska 104"),
    ("red \x1b[31mtext\x1b[0m", True, "red [31mtext[0m"),
    ("abc\u202egpj.exe", True, "abcgpj.exe"),
    ("\u2066isolated\u2069 \u202aembedded\u202c", True, "isolated embedded"),
    ("C1\x85\x9b here\x7f", True, "C1 here"),
    ("line one\r\nline two\rline three\n\tindented", True,
     "line one\nline two\nline three\n\tindented"),
    ("one\nline\twith\r\ntabs", False, "one line with tabs"),
    ("lone \ud800 surrogate", True, "lone  surrogate"),
    ("Zażółć gęślą jaźń; Привіт; שלום \u200f ok", True, "Zażółć gęślą jaźń; Привіт; שלום \u200f ok"),
])
def test_control_character_rule(raw, multiline, expected):
    assert clean_text(raw, multiline=multiline) == expected


# --- text a resident sends -------------------------------------------------------------------

def test_control_characters_are_stripped_from_the_form_and_not_republished(app, client):
    data = report_form(client,
                       description=f"Głęboka dziura{HOSTILE} w jezdni.\r\nDruga linia.",
                       address_string=f"Piotrkowska{HOSTILE} 104\n(róg)")
    response = client.post("/report", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    report = _report(app, client_id=data["client_id"])
    assert report.description == "Głęboka dziura[31m w jezdni.\nDruga linia."
    assert report.address_string == "Piotrkowska[31m 104 (róg)"
    published = client.get(f"/open311/v2/requests/{report.id}.json").get_json()[0]
    page = client.get(f"/reports/{report.id}").get_data(as_text=True)
    for text in (json.dumps(published, ensure_ascii=False), page):
        assert not set(text) & {"\x00", "\x1b", "\u202e", "\x07", "\x9b"}
    assert published["address"] == "Piotrkowska[31m 104 (róg)"


def test_nul_in_client_id_is_a_form_error_that_keeps_the_text(app, client):
    data = report_form(client, client_id="\x00", description="Dziura, którą opisałem dokładnie.")
    response = client.post("/report", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Dziura, którą opisałem dokładnie." in html
    assert "Odśwież stronę" in html or "identyfikatora" in html


def test_nul_as_the_category_is_refused_in_polish(client):
    response = client.post("/report", data=report_form(client, service_code="\x00"))
    assert response.status_code == 422
    assert "Wybierz kategorię" in response.get_data(as_text=True)


def test_json_body_is_cleaned_and_odd_shapes_are_form_errors(app, client):
    token = csrf_token(client)
    client_id = str(uuid.uuid4())
    body = {"csrf_token": token, "client_id": client_id, "service_code": "ROAD_POTHOLE",
            "description": f"Dziura w jezdni {HOSTILE}\ud800 przy przejściu.",
            "lat": 51.7592, "long": 19.456, "address_string": f"Piotrkowska{HOSTILE}"}
    response = client.post("/report", json=body,
                           headers={"Accept": "application/json", "X-CSRFToken": token})
    assert response.status_code == 201, response.get_data(as_text=True)
    report = _report(app, client_id=client_id)
    assert report.description == "Dziura w jezdni [31m przy przejściu."
    for odd in ([1, 2], "text", {"csrf_token": token, "description": {"a": 1},
                                  "service_code": ["ROAD_POTHOLE", None]}):
        response = client.post("/report", json=odd, headers={"Accept": "application/json",
                                                             "X-CSRFToken": token})
        assert response.status_code == 422, (odd, response.get_data(as_text=True))
        assert "errors" in response.get_json()


@pytest.mark.parametrize("query", ["service_code=%00", "service_code=%00,ROAD_POTHOLE",
                                   "status=%00", "service_request_id=%00",
                                   "start_date=%00", "jurisdiction_id=%00"])
def test_nul_in_open311_query_parameters(client, query):
    response = client.get(f"/open311/v2/requests.json?{query}")
    assert response.status_code in (200, 400)
    body = response.get_json()
    if response.status_code == 400:
        assert body[0]["code"] == 400 and body[0]["description"]
    else:
        assert body == []


def test_nul_in_the_public_list_filters(client):
    response = client.get("/reports?service_code=%00&status=%00&page=%00")
    assert response.status_code == 200


def test_nul_in_a_units_note_is_stripped(app, client):
    from tests.factories import dispatched
    from webapp.departments.services import link_token
    with app.app_context():
        report, link = dispatched()
        report_id, path = report.id, f"/departments/links/{link_token(link)}"
    html = client.get(path).get_data(as_text=True)
    import re
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    response = client.post(path, data={"csrf_token": token, "status": "in_progress",
                                       "note": f"Ekipa{HOSTILE} wyjedzie jutro.\r\nDziękujemy."})
    assert response.status_code == 303, response.get_data(as_text=True)
    with app.app_context():
        from webapp.extensions import db
        from webapp.reports.models import Report
        assert db.session.get(Report, report_id).history[-1].note == \
            "Ekipa[31m wyjedzie jutro.\nDziękujemy."


# --- numbers and dates -----------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/media/photos/2147483648/public.jpg",
    "/media/photos/9223372036854775808/thumb.jpg",
    "/media/photos/0/thumb.jpg",
    "/media/photos/" + "9" * 5000 + "/thumb.jpg",
    "/reports/2147483648",
    "/reports/9223372036854775808",
    "/departments/links/x/photos/18446744073709551616/original",
])
def test_ids_outside_the_database_range_are_404(client, path):
    assert client.get(path).status_code == 404


def test_int_rules_match_exactly_the_database_id_range(app):
    from werkzeug.exceptions import NotFound
    urls = app.url_map.bind("localhost")
    assert urls.match("/reports/2147483647") == ("reports.detail", {"report_id": 2147483647})
    assert urls.match("/reports/1") == ("reports.detail", {"report_id": 1})
    for bad in ("/reports/2147483648", "/reports/0", "/reports/-1", "/reports/1" + "0" * 5000):
        with pytest.raises(NotFound):
            urls.match(bad)


@pytest.mark.parametrize("query, name", [
    ("start_date=0001-01-01T00:00:00%2B01:00", "start_date"),
    ("end_date=9999-12-31T23:59:59-01:00", "end_date"),
])
def test_dates_outside_the_utc_range_are_a_400_in_open311_format(client, query, name):
    response = client.get(f"/open311/v2/requests.json?{query}")
    assert response.status_code == 400
    [error] = response.get_json()
    assert error["code"] == 400 and name in error["description"]


def test_the_first_moment_of_year_one_is_a_valid_empty_window(app, client):
    from tests.factories import make_report
    with app.app_context():
        make_report()
    response = client.get("/open311/v2/requests.json?end_date=0001-01-01T00:00:00Z")
    assert response.status_code == 200 and response.get_json() == []
    # A start alone opens a 90-day window (GeoReport v2 span rule): year one holds nothing.
    response = client.get("/open311/v2/requests.json?start_date=0001-01-01T00:00:00Z")
    assert response.status_code == 200 and response.get_json() == []
    response = client.get("/open311/v2/requests.json?start_date=9999-12-31T23:59:59Z")
    assert response.status_code == 200 and response.get_json() == []


# --- a photo store that cannot be written ----------------------------------------------------

@pytest.fixture
def read_only_media(tmp_path):
    """A MEDIA_ROOT nobody can write to, root included (chattr +i), restored afterwards."""
    media = tmp_path / "ro-media"
    media.mkdir()
    os.chmod(media, 0o555)
    immutable = False
    if os.access(media, os.W_OK) and shutil.which("chattr"):
        immutable = subprocess.run(["chattr", "+i", str(media)], capture_output=True).returncode == 0
    if os.access(media, os.W_OK) and not immutable:
        # Root without chattr: a path below a regular file cannot be created either.
        os.chmod(media, 0o755)
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("")
        media = blocker / "media"
    yield media
    if immutable:
        subprocess.run(["chattr", "-i", str(media)], check=True)
    if media.exists():
        os.chmod(media, 0o755)


def _with_photo(client):
    return report_form(client, description="Dziura opisana słowami, które mają zostać.",
                       media=[(open(fixture_photo("gps_DSCN0010.jpg"), "rb"), "dziura.jpg")])


def test_unwritable_photo_store_is_a_503_that_keeps_the_text(make_app, read_only_media):
    app = make_app(MEDIA_ROOT=str(read_only_media))
    client = app.test_client()
    response = client.post("/report", data=_with_photo(client))
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert "Nie można teraz zapisać zdjęć" in html
    assert "Dziura opisana słowami, które mają zostać." in html     # the form, with the text
    assert response.headers["Retry-After"]

    response = client.post("/report", data=_with_photo(client),
                           headers={"HX-Request": "true", "HX-Target": "report-form"})
    assert response.status_code == 503
    assert 'role="alert"' in response.get_data(as_text=True)          # app.js shows it in place
    assert "Nie można teraz zapisać zdjęć" in response.get_data(as_text=True)

    response = client.post("/report", data=_with_photo(client), headers={"Accept": "application/json"})
    assert response.status_code == 503                                 # the offline sync retries
    assert "media" in response.get_json()["errors"]
    from webapp.extensions import db
    from webapp.reports.models import Report
    with app.app_context():
        assert db.session.query(Report).count() == 0


def test_healthz_sees_the_photo_store(make_app, read_only_media):
    assert make_app().test_client().get("/healthz").status_code == 200
    response = make_app(MEDIA_ROOT=str(read_only_media)).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "storage": "unwritable"}


def test_a_multipart_part_with_a_broken_name_is_ignored(make_app):
    # The werkzeug parser gives such a part the name None; CSRF's key scan used to crash on it.
    client = make_app().test_client()
    response = client.post("/report", data={"a\rb": "x", "description": "y"},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Formularz wygasł" in response.get_data(as_text=True)
