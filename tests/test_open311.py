"""Open311 GeoReport v2 read API (http://wiki.open311.org/GeoReport_v2/) in JSON; the XML
twins and the errors are in test_open311_formats.py.

Reports are written straight into the real, migrated test database.
"""
from __future__ import annotations

import re
import tomllib
from datetime import datetime, timedelta, timezone

import pytest

from tests.factories import make_report
from tests.helpers import csrf_token, staff_client, statements

from webapp.clock import utcnow
from webapp.extensions import db
from webapp.photos.models import Photo
from webapp.reports.models import Report
from webapp.routing.services import current_routing

REQUEST_FIELDS = {
    "service_request_id", "status", "status_notes", "service_name", "service_code",
    "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat", "long",
    "media_url",  # our extensions (support_count, attributes, status_history): extensions=true
}
# ISO 8601 / W3C with an explicit UTC offset.
W3C_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")


def get_json(client, url):
    response = client.get(url)
    assert response.mimetype == "application/json", response.get_data(as_text=True)[:300]
    assert response.headers.get("Access-Control-Allow-Origin") == "*"
    return response, response.get_json()


def test_services_match_the_routing_file(app, client):
    with open(app.config["ROUTING_FILE"], "rb") as fh:
        shipped = tomllib.load(fh)
    codes = [c["code"] for c in shipped["categories"]]
    response, services = get_json(client, "/open311/v2/services.json?lang=en")
    assert response.status_code == 200
    assert [s["service_code"] for s in services] == codes  # same codes, file order
    groups = {g["id"]: g["name_en"] for g in shipped["groups"]}
    for service, category in zip(services, shipped["categories"]):
        assert set(service) == {"service_code", "service_name", "description", "metadata",
                                "type", "keywords", "group"}
        assert service["service_name"] == category["name_en"]
        assert service["group"] == groups[category["group"]]
        assert service["metadata"] is bool(category.get("attributes"))
        assert service["type"] == "realtime"
        assert isinstance(service["keywords"], str)

    _, services_pl = get_json(client, "/open311/v2/services.json?lang=pl")
    assert services_pl[0]["service_name"] == shipped["categories"][0]["name_pl"]


def test_request_fields_formats_and_status_mapping(app, client):
    with app.app_context():
        config = current_routing()
        done = make_report(
            email="jan.kowalski@example.org", status="resolved", agency_responsible="zdit",
            requested_at=datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=2),
            history=[("dispatched", "", "system", None, "zdit", 0),
                     ("in_progress", "Ekipa wysłana", "unit", "zdit", "zdit", 60),
                     ("resolved", "Załatane", "unit", "zdit", "zdit", 120)])
        working = make_report(status="in_progress", address_string=None,
                              history=[("in_progress", "", "unit", "zdit", "zdit", 5)])
        waiting = make_report(service_code="OTHER", status="awaiting_moderation",
                              agency_responsible=None,
                              public_description="Niesprawdzony tekst")
        rejected = make_report(status="rejected",
                               history=[("rejected", "To teren prywatny", "unit", "zdit", "zdit", 5)])
        private = [done.email, done.description, done.client_id, done.tracking_token_hash,
                   "Niesprawdzony tekst"]
        ids = {"done": done.id, "working": working.id, "waiting": waiting.id,
               "rejected": rejected.id}
        requested = done.requested_at
        unit_name = config.units["zdit"].name
        pothole_en = config.services["ROAD_POTHOLE"].name("en")

    response, body = get_json(client, "/open311/v2/requests.json?lang=en")
    assert response.status_code == 200
    for secret in private:
        assert secret not in response.get_data(as_text=True)
    by_id = {r["service_request_id"]: r for r in body}
    assert set(by_id) == {str(i) for i in ids.values()}

    r = by_id[str(ids["done"])]
    assert set(r) == REQUEST_FIELDS  # no history in the list
    assert r["status"] == "closed"
    assert r["status_notes"] == "Załatane"
    assert r["service_code"] == "ROAD_POTHOLE" and r["service_name"] == pothole_en
    assert r["description"] == "Duża dziura przy przejściu dla pieszych"  # public, moderated
    assert r["agency_responsible"] == unit_name
    assert r["requested_datetime"] == requested.isoformat() and W3C_UTC.match(r["requested_datetime"])
    assert r["updated_datetime"] == (requested + timedelta(minutes=120)).isoformat()
    assert r["expected_datetime"] is None and r["address_id"] is None and r["zipcode"] is None
    assert r["address"] == "ul. Piotrkowska 104"
    assert (r["lat"], r["long"]) == (51.7593, 19.4573)
    assert r["media_url"] is None

    assert by_id[str(ids["working"])]["status"] == "open"
    assert by_id[str(ids["working"])]["status_notes"] is None
    assert by_id[str(ids["working"])]["address"] is None
    assert by_id[str(ids["waiting"])]["status"] == "open"
    assert by_id[str(ids["waiting"])]["description"] == ""
    assert by_id[str(ids["waiting"])]["agency_responsible"] is None
    assert by_id[str(ids["rejected"])]["status"] == "closed"
    assert by_id[str(ids["rejected"])]["status_notes"] == "To teren prywatny"
    # Newest first.
    assert body[-1]["service_request_id"] == str(ids["done"])


def test_single_request_has_the_status_history(app, client):
    with app.app_context():
        config = current_routing()
        report = make_report(
            status="resolved", agency_responsible="wgk",
            requested_at=datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc),
            history=[("dispatched", "", "system", None, "zdit", 0),
                     ("forwarded", "Teren osiedlowy", "operator", "op-anna", "wgk", 30),
                     ("resolved", "Naprawione", "unit", "wgk", "wgk", 24 * 60)])
        rid = report.id
        names = {u: config.units[u].name for u in ("zdit", "wgk")}

    _, plain = get_json(client, f"/open311/v2/requests/{rid}.json")
    assert set(plain[0]) == REQUEST_FIELDS  # extensions only when asked for
    response, body = get_json(client, f"/open311/v2/requests/{rid}.json?jurisdiction_id=lodz.pl"
                                      "&extensions=true")
    assert response.status_code == 200
    assert isinstance(body, list) and len(body) == 1
    r = body[0]
    assert set(r) == REQUEST_FIELDS | {"status_history", "support_count", "attributes"}
    assert r["support_count"] == 0 and r["attributes"] == {}
    assert r["service_request_id"] == str(rid) and r["status"] == "closed"
    assert r["agency_responsible"] == names["wgk"]
    assert r["status_history"] == [
        {"status": "dispatched", "open311_status": "open", "note": None,
         "agency_responsible": names["zdit"], "datetime": "2026-03-10T09:00:00+00:00"},
        {"status": "forwarded", "open311_status": "open", "note": "Teren osiedlowy",
         "agency_responsible": names["wgk"], "datetime": "2026-03-10T09:30:00+00:00"},
        {"status": "resolved", "open311_status": "closed", "note": "Naprawione",
         "agency_responsible": names["wgk"], "datetime": "2026-03-11T09:00:00+00:00"},
    ]
    assert "op-anna" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/open311/v2/requests/999999.json",
                                  "/open311/v2/requests/abc.json",
                                  "/open311/v2/requests/99999999999999999999999.json"])
def test_unknown_request_is_a_georeport_404(app, client, path):
    response, body = get_json(client, path)
    assert response.status_code == 404
    assert isinstance(body, list) and body[0]["code"] == 404
    assert isinstance(body[0]["description"], str) and body[0]["description"]


def test_filters(app, client):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with app.app_context():
        a = make_report(service_code="ROAD_POTHOLE", status="dispatched",
                        requested_at=now - timedelta(days=10)).id
        b = make_report(service_code="STREET_LIGHT", status="resolved",
                        requested_at=now - timedelta(days=5)).id
        c = make_report(service_code="BIN_OVERFLOW", status="accepted", agency_responsible="wgk",
                        requested_at=now - timedelta(days=1)).id
        old = make_report(service_code="ROAD_POTHOLE", status="resolved",
                          requested_at=now - timedelta(days=200)).id

    def ids(query):
        response, body = get_json(client, "/open311/v2/requests.json?" + query)
        assert response.status_code == 200, body
        return [int(r["service_request_id"]) for r in body]

    assert ids("") == [c, b, a]  # the last 90 days, newest first
    assert ids("jurisdiction_id=lodz.pl") == [c, b, a]
    assert ids("status=open") == [c, a]
    assert ids("status=closed") == [b]
    assert ids("status=open,closed") == [c, b, a]
    assert ids("service_code=ROAD_POTHOLE") == [a]
    assert ids("service_code=ROAD_POTHOLE,BIN_OVERFLOW") == [c, a]
    start = (now - timedelta(days=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (now - timedelta(days=2)).isoformat()
    assert ids(f"start_date={start}") == [c, b]
    assert ids(f"start_date={start}&end_date={end.replace('+', '%2B')}") == [b]
    assert ids(f"end_date={(now - timedelta(days=150)).date().isoformat()}") == [old]
    # One date alone means a 90-day window from (or up to) it.
    assert ids("start_date=2000-01-01") == []
    assert ids(f"start_date={(now - timedelta(days=220)).date().isoformat()}") == [old]
    # service_request_id wins over every other filter (GeoReport v2), even out of the window.
    assert ids(f"service_request_id={old},{a}&status=open&service_code=STREET_LIGHT") == [a, old]
    assert ids("service_request_id=999999") == []


def test_requests_come_in_pages_of_50_by_default_and_at_most_1000(app, client):
    with app.app_context():
        base = utcnow() - timedelta(days=3)
        for i in range(1005):
            make_report(requested_at=base + timedelta(seconds=i), commit=False)
        db.session.commit()
    response, body = get_json(client, "/open311/v2/requests.json")
    assert response.status_code == 200
    assert len(body) == 50  # the default page_size
    _, body = get_json(client, "/open311/v2/requests.json?page_size=1000")
    assert len(body) == 1000
    _, rest = get_json(client, "/open311/v2/requests.json?page_size=1000&page=2")
    assert len(rest) == 5
    assert not {r["service_request_id"] for r in rest} & {r["service_request_id"] for r in body}
    response, body = get_json(client, "/open311/v2/requests.json?page_size=1001")
    assert response.status_code == 400 and body[0]["code"] == 400


def test_an_unchanged_poll_is_a_304_and_a_change_is_seen(app, client):
    with app.app_context():
        make_report()
    first = client.get("/open311/v2/requests.json")
    assert first.status_code == 200 and first.headers["ETag"] and first.headers["Last-Modified"]
    again = client.get("/open311/v2/requests.json", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    since = client.get("/open311/v2/requests.json",
                       headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert since.status_code == 304
    other = client.get("/open311/v2/requests.json?status=open",
                       headers={"If-None-Match": first.headers["ETag"]})
    assert other.status_code == 200
    with app.app_context():
        make_report()
    changed = client.get("/open311/v2/requests.json", headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and len(changed.get_json()) == 2


def test_a_poll_with_the_compressed_answers_etag_is_a_304_without_reading_the_list(app, client):
    """Clients that accept gzip get the ETag with a ":gzip" suffix (flask-compress) and send it
    back so: that poll must be answered before the requests are read, not after."""
    with app.app_context():
        make_report()
    headers = {"Accept-Encoding": "gzip"}
    first = client.get("/open311/v2/requests.json?page_size=1000", headers=headers)
    assert first.status_code == 200 and first.headers["Content-Encoding"] == "gzip"
    assert first.headers["ETag"].endswith(':gzip"')
    with statements(app) as seen:
        again = client.get("/open311/v2/requests.json?page_size=1000",
                           headers={**headers, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert len(seen) == 1, seen  # the data version only
    with app.app_context():
        make_report()
    changed = client.get("/open311/v2/requests.json?page_size=1000",
                         headers={**headers, "If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200


@pytest.mark.parametrize("query", [
    "start_date=yesterday", "end_date=2026-13-45", "start_date=2026-05-01T25:00:00Z",
    "start_date=2026-05-10&end_date=2026-05-01", "status=pending", "service_request_id=1,x",
    "service_request_id=-3", "start_date=2026-05-01T08:00:00", "end_date=2026-05-01T08:00",
    "start_date=2026-01-01T00:00:00Z&end_date=2026-04-02T00:00:00Z", "service_code=NO_SUCH",
    "service_code=ROAD_POTHOLE,NOPE", "page=0", "page=x", "page_size=0", "page_size=5000",
    "page_size=-1", "page_size=1.5",
])
def test_bad_parameters_are_a_georeport_400(app, client, query):
    response, body = get_json(client, "/open311/v2/requests.json?" + query)
    assert response.status_code == 400
    assert len(body) == 1 and body[0]["code"] == 400
    assert body[0]["description"]


def test_media_url_is_the_absolute_public_photo(app, client):
    from webapp.photos.models import Photo
    with app.app_context():
        report = make_report()
        for i in range(2):
            report.photos.append(Photo(position=i, sha256="0" * 64, content_type="image/jpeg",
                                       original_key=f"o{i}", public_key=f"p{i}", thumb_key=f"t{i}",
                                       width=800, height=600))
        db.session.commit()
        rid, first = report.id, report.photos[0].id
    _, body = get_json(client, f"/open311/v2/requests/{rid}.json")
    public = app.url_map.bind("localhost").build("photos.public", {"photo_id": first})
    assert body[0]["media_url"] == "http://localhost" + public
    assert "original" not in body[0]["media_url"] and "o0" not in body[0]["media_url"]


def test_other_jurisdiction_is_an_error(app, client):
    response, body = get_json(client, "/open311/v2/requests.json?jurisdiction_id=krakow.pl")
    assert response.status_code == 404 and body[0]["code"] == 404
    assert "lodz.pl" in body[0]["description"]


def test_a_photo_hidden_by_an_operator_is_in_no_open311_answer(app, client):
    # The list's plain rows and the full reports (extensions, one request) decide the same way.
    with app.app_context():
        report = make_report()
        for position in (0, 1):
            report.photos.append(Photo(position=position, sha256=f"{position}" * 64,
                                       content_type="image/jpeg", original_key=f"o{position}",
                                       public_key=f"p{position}", thumb_key=f"t{position}",
                                       width=20, height=10))
        db.session.commit()
        rid, first, second = report.id, report.photos[0].id, report.photos[1].id
    urls = ["/open311/v2/requests.json", "/open311/v2/requests.json?extensions=true",
            f"/open311/v2/requests/{rid}.json"]
    etags = {}
    for url in urls:
        seen = client.get(url)
        assert seen.get_json()[0]["media_url"].endswith(f"/media/photos/{first}/public.jpg")
        etags[url] = seen.headers.get("ETag")
    operator, _, _ = staff_client(app)
    hidden = operator.post(f"/admin/reports/{rid}/hide_photo",
                           data={"csrf_token": csrf_token(operator, f"/admin/reports/{rid}"),
                                 "photo_id": str(first), "back": "report"})
    assert hidden.status_code == 303
    for url in urls:
        # Also for a client polling with the ETag it had: the hide is a change, not a 304.
        headers = {"If-None-Match": etags[url]} if etags[url] else {}
        answer = client.get(url, headers=headers)
        assert answer.status_code == 200, url
        assert answer.get_json()[0]["media_url"].endswith(f"/media/photos/{second}/public.jpg"), url
