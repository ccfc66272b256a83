"""The city map's data (issue 10): reports by bounding box as GeoJSON, clustering, caching, the
"already reported?" hint and "me too" supports."""
from __future__ import annotations

import re
import uuid

from tests.factories import make_report
from tests.helpers import csrf_token, element_attrs
from webapp.reports.models import Status

# Around ul. Piotrkowska 104 (the factory's default spot).
BOX = "19.45,51.75,19.47,51.77"


def _geojson(client, **args):
    args.setdefault("bbox", BOX)
    return client.get("/reports.geojson", query_string=args)


def test_box_answers_geojson_in_long_lat_order_with_public_fields_only(app, client):
    with app.app_context():
        inside = make_report(lat=51.7593, long=19.4573).id
        make_report(lat=51.70, long=19.40)  # outside the box
        waiting = make_report(lat=51.7600, long=19.4600, status="awaiting_moderation",
                              public_description="Tajny tekst").id
    response = _geojson(client)
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    body = response.get_json()
    assert body["type"] == "FeatureCollection" and not body["clustered"]
    by_id = {f["properties"]["id"]: f for f in body["features"]}
    assert set(by_id) == {inside, waiting}
    assert by_id[inside]["geometry"] == {"type": "Point", "coordinates": [19.4573, 51.7593]}
    props = by_id[inside]["properties"]
    assert props["url"] == f"/reports/{inside}" and props["status"] == "dispatched"
    assert props["category"] and props["number"].endswith(f"/{inside}")
    assert props["age"].endswith("temu"), props["age"]   # in the past ("... temu"), not "za ..."
    assert b"Tajny" not in response.data and b"description" not in response.data


def test_filters_are_the_lists(app, client):
    with app.app_context():
        pothole = make_report(service_code="ROAD_POTHOLE").id
        make_report(service_code="STREET_LIGHT", status="resolved")
    ids = lambda r: {f["properties"]["id"] for f in r.get_json()["features"]}  # noqa: E731
    assert ids(_geojson(client, service_code="ROAD_POTHOLE")) == {pothole}
    assert ids(_geojson(client, status="open")) == {pothole}
    assert ids(_geojson(client, since="2999-01-01")) == set()


def test_missing_or_bad_box_is_a_400_not_a_crash(client):
    for bad in (None, "1,2,3", "a,b,c,d", "19.5,51.8,19.4,51.7", "nan,1,2,3", "0,0,0,999"):
        response = client.get("/reports.geojson", query_string={"bbox": bad} if bad else {})
        assert response.status_code == 400


def test_too_many_reports_come_as_counts_per_cell(app, client, monkeypatch):
    from webapp.citymap import queries
    monkeypatch.setattr(queries, "MAX_FEATURES", 3)
    with app.app_context():
        for i in range(5):
            make_report(lat=51.752 + i * 0.003, long=19.452 + i * 0.003, commit=False)
        make_report()
    body = _geojson(client).get_json()
    assert body["clustered"] and body["count"] == 6
    assert {f["properties"]["kind"] for f in body["features"]} == {"cluster"}
    assert sum(f["properties"]["count"] for f in body["features"]) == 6


def test_panning_back_costs_a_304(app, client):
    with app.app_context():
        make_report()
    first = _geojson(client)
    assert first.headers["ETag"] and "max-age" in first.headers["Cache-Control"]
    again = client.get("/reports.geojson", query_string={"bbox": BOX},
                       headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and not again.data


# ---- "already reported?" -----------------------------------------------------------------------

# 20 m and 200 m north of the factory's default spot (51.7593, 19.4573).
NEAR_LAT = 51.7593 + 20 / 111_320
FAR_LAT = 51.7593 + 200 / 111_320


def _nearby(client, code="ROAD_POTHOLE", lat=NEAR_LAT, long=19.4573):
    return client.get("/report/nearby", query_string={"service_code": code, "lat": lat, "long": long})


def test_hint_shows_same_category_within_50_m_only(app, client):
    with app.app_context():
        near = make_report().id
        far = make_report(lat=FAR_LAT).id
        other = make_report(service_code="STREET_LIGHT").id
        closed = make_report(status="resolved").id
    html = _nearby(client).get_data(as_text=True)
    assert f'id="nearby-{near}"' in html and 'hx-post="/reports/' in html
    for absent in (far, other, closed):
        assert f'id="nearby-{absent}"' not in html


def test_hint_is_empty_not_an_error_for_incomplete_or_bad_input(client):
    for args in ({}, {"service_code": "ROAD_POTHOLE"}, {"service_code": "NOPE", "lat": "51.7", "long": "19.4"},
                 {"service_code": "ROAD_POTHOLE", "lat": "abc", "long": "inf"}):
        response = client.get("/report/nearby", query_string=args)
        assert response.status_code == 200 and "nearby-" not in response.get_data(as_text=True)


# ---- "me too" ------------------------------------------------------------------------------------

def _support(client, report_id, supporter, **extra):
    data = {"supporter_id": supporter, "csrf_token": csrf_token(client), **extra}
    return client.post(f"/reports/{report_id}/supports", data=data,
                       headers={"Accept": "application/json"})


def test_me_too_counts_once_per_phone_and_is_never_a_report(app, client):
    from webapp.citymap.models import Support
    from webapp.extensions import db
    from webapp.reports.models import Report
    with app.app_context():
        report_id = make_report().id
    phone, other = str(uuid.uuid4()), str(uuid.uuid4())
    first = _support(client, report_id, phone)
    assert first.status_code == 201 and first.get_json()["support_count"] == 1
    again = _support(client, report_id, phone)
    assert again.status_code == 200 and again.get_json() == {**first.get_json(), "created": False}
    assert _support(client, report_id, other).get_json()["support_count"] == 2
    with app.app_context():
        assert db.session.query(Report).count() == 1
        assert db.session.query(Support).count() == 2
    page = client.get(f"/reports/{report_id}").get_data(as_text=True)
    assert "2 " in page and 'class="support-count"' in page


def test_me_too_keeps_the_email_only_with_consent(app, client):
    from webapp.citymap.models import Support
    from webapp.extensions import db
    with app.app_context():
        report_id = make_report().id
    refused = _support(client, report_id, str(uuid.uuid4()), email="a@example.org")
    assert refused.status_code == 422 and "consent" in refused.get_json()["errors"]
    assert _support(client, report_id, str(uuid.uuid4()), email="a@example.org", consent="y").status_code == 201
    with app.app_context():
        support = db.session.query(Support).one()
        assert support.email == "a@example.org" and support.consent_at is not None


def test_me_too_refuses_closed_unknown_and_bad_ids(app, client):
    with app.app_context():
        closed = make_report(status="resolved").id
        open_id = make_report().id
    assert _support(client, closed, str(uuid.uuid4())).status_code == 422
    assert _support(client, 999_999, str(uuid.uuid4())).status_code == 404
    assert _support(client, open_id, "not-a-uuid").status_code == 422
    plain = client.post(f"/reports/{open_id}/supports",
                        data={"supporter_id": str(uuid.uuid4()), "csrf_token": csrf_token(client)})
    assert plain.status_code == 303
    assert client.post(f"/reports/{open_id}/supports", data={"supporter_id": str(uuid.uuid4())}).status_code == 400


CONSENT_MISSING = "Aby dostawać powiadomienia e-mailem, zaznacz zgodę"


def _support_page(client, report_id, *, htmx=False, **extra):
    """Say "me too" from the report's own page (Polish), as its form does (htmx or plain)."""
    page = f"/reports/{report_id}"
    data = {"supporter_id": str(uuid.uuid4()), "csrf_token": csrf_token(client, page), **extra}
    headers = {"HX-Request": "true", "HX-Target": "support", "HX-Current-URL": page} if htmx else {}
    return client.post(f"{page}/supports", data=data, headers=headers)


def _supports(app) -> int:
    from webapp.citymap.models import Support
    from webapp.extensions import db
    with app.app_context():
        return db.session.query(Support).count()


def test_me_too_without_consent_shows_the_error_on_the_report_page_keeping_the_email(app, client):
    with app.app_context():
        report = make_report()
        report_id, number = report.id, report.number
    answer = _support_page(client, report_id, email="sasiad@example.org")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert f"{number}" in html and 'id="support"' in html           # the report page itself
    assert "Nie udało się dodać Twojego poparcia" not in html        # not a separate error page
    assert CONSENT_MISSING in html
    assert element_attrs(html, "support-email")["value"] == "sasiad@example.org"
    consent = element_attrs(html, "support-consent")
    assert consent["aria-invalid"] == "true" and "support-consent-err" in consent["aria-describedby"]
    assert CONSENT_MISSING in html[html.index('id="support-consent-err"'):]
    assert _supports(app) == 0
    with app.app_context():
        closed = make_report(status="resolved").id
    refused = client.post(f"/reports/{closed}/supports",          # a page opened before it closed
                          data={"supporter_id": str(uuid.uuid4()), "csrf_token": csrf_token(client)})
    assert refused.status_code == 422 and 'id="support"' in refused.get_data(as_text=True)
    assert "To zgłoszenie jest już zamknięte" in refused.get_data(as_text=True)


def test_me_too_without_consent_by_htmx_swaps_the_form_with_the_error_in_place(app, client):
    with app.app_context():
        report_id = make_report().id
    answer = _support_page(client, report_id, htmx=True, email="sasiad@example.org")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422 and "HX-Target" in answer.headers.get("Vary", "")
    assert html.lstrip().startswith('<section id="support"') and "<html" not in html
    assert element_attrs(html, "support-email")["value"] == "sasiad@example.org"
    assert element_attrs(html, "support-consent")["aria-invalid"] == "true"
    error = element_attrs(html, "support-consent-err")   # focus moves here (static/js/app.js)
    assert "data-announce" in error and error["tabindex"] == "-1"
    assert CONSENT_MISSING in html[html.index('id="support-consent-err"'):]
    assert _supports(app) == 0
    # Ticked: the same place says thank you, with the new count.
    done = _support_page(client, report_id, htmx=True, email="sasiad@example.org", consent="y")
    html = done.get_data(as_text=True)
    assert done.status_code == 201 and html.lstrip().startswith('<section id="support"')
    assert "Dziękujemy: Twoje poparcie zostało dodane" in html and "1 osoba" in html
    assert _supports(app) == 1


def test_me_too_refused_from_the_forms_hint_says_why_in_the_item_and_keeps_the_button(app, client):
    with app.app_context():
        report_id = make_report().id
    data = {"supporter_id": str(uuid.uuid4()), "csrf_token": csrf_token(client, "/report"),
            "email": "sasiad@example.org"}  # the report form's e-mail, its consent box not ticked
    answer = client.post(f"/reports/{report_id}/supports", data=data,
                         headers={"HX-Request": "true", "HX-Target": f"nearby-{report_id}"})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422 and "<html" not in html and "<li" not in html
    assert answer.headers["HX-Retarget"] == f"#nearby-{report_id}-err"  # the button stays
    assert answer.headers["HX-Reswap"] == "innerHTML"
    assert CONSENT_MISSING in html and _supports(app) == 0
    assert 'href="#consent"' in html  # the form's box, further down the page
    # The box it goes into is in every item of the hint from the start.
    hint = client.get("/report/nearby", query_string={"service_code": "ROAD_POTHOLE",
                                                      "lat": "51.7593", "long": "19.4573"})
    assert f'id="nearby-{report_id}-err"' in hint.get_data(as_text=True)


# ---- pages -----------------------------------------------------------------------------------------

def test_map_page_keeps_filters_in_the_url_and_points_to_the_list(client):
    html = client.get("/map?service_code=ROAD_POTHOLE&status=open&since=2026-01-01").get_data(as_text=True)
    assert 'data-url="/reports.geojson?service_code=ROAD_POTHOLE&amp;status=open&amp;since=2026-01-01"' in html
    assert 'href="/reports?service_code=ROAD_POTHOLE&amp;status=open"' in html
    assert 'value="2026-01-01"' in html and "<script>" not in html and "style=" not in html


def test_list_page_carries_its_map_and_the_map_shows_what_the_list_lists(app, client):
    with app.app_context():
        pothole = make_report(service_code="ROAD_POTHOLE").id
        make_report(service_code="ROAD_POTHOLE", status="resolved")
        make_report(service_code="STREET_LIGHT")
    html = client.get("/reports?service_code=ROAD_POTHOLE&status=open").get_data(as_text=True)
    # The region above the list: the data endpoint, what it loads when asked, the list it follows.
    region = html.split('id="list-map"', 1)[1].split('id="report-list"', 1)[0]
    assert html.index('id="list-map"') < html.index('id="report-list"')
    assert 'data-url="/reports.geojson"' in region and 'data-list="report-list"' in region
    for script in ("vendor/leaflet/leaflet.js", "vendor/leaflet.markercluster/leaflet.markercluster.js"):
        assert f"/static/{script}" in region and f'<script src="/static/{script}"' not in html  # on request
    assert '<script src="/static/js/citymap.js" defer></script>' in html
    assert "Pokaż na mapie" in region and "Ukryj mapę" in region
    assert "ta sama lista zgłoszeń w formie tekstu" in region  # the list stays the alternative
    assert 'aria-expanded="false"' in region and '" hidden>' in region.split("<h2", 1)[0]  # only with JS
    assert "<script>" not in html and "style=" not in html  # strict CSP
    assert 'data-filter-query="service_code=ROAD_POTHOLE&amp;status=open"' in html
    # Its legend names every status in words, as /map's does (colour is not the only sign).
    legend = region.split('class="citymap-legend"', 1)[1].split("</ul>", 1)[0]
    for label in ("Załatwione", "Odrzucone", "W realizacji"):
        assert label in legend
    assert legend.count("<li>") == len(Status) + 1  # and the grid cell

    # A filter changed through htmx: the fragment states the filters it applied (a bad code dropped).
    fragment = client.get("/reports?service_code=NOPE&status=open",
                          headers={"HX-Request": "true", "HX-Target": "report-list"}).get_data(as_text=True)
    assert 'data-filter-query="status=open"' in fragment and 'id="list-map"' not in fragment
    # The map's data with the list's query holds exactly the listed reports.
    listed = {int(n) for n in re.findall(r'id="report-(\d+)-title"', html)}
    query = html.split('data-filter-query="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    mapped = client.get(f"/reports.geojson?{query}&bbox=19.0,51.5,20.0,52.0").get_json()
    assert listed == {f["properties"]["id"] for f in mapped["features"]} == {pothole}


def test_form_has_the_live_region_before_anything_is_found(client):
    html = client.get("/report").get_data(as_text=True)
    assert 'id="nearby"' in html and 'aria-live="polite"' in html


def test_open311_requests_carry_the_support_count(app, client):
    with app.app_context():
        report_id = make_report().id
    _support(client, report_id, str(uuid.uuid4()))
    listed = {r["service_request_id"]: r for r in client.get("/open311/v2/requests.json?extensions=true").get_json()}
    assert listed[str(report_id)]["support_count"] == 1
    one = client.get(f"/open311/v2/requests/{report_id}.json?extensions=true").get_json()[0]
    assert one["support_count"] == 1
    # A poller holding the ETag sees the next "me too" (a new answer, not a 304).
    url = "/open311/v2/requests.json?extensions=true"
    etag = client.get(url).headers["ETag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    _support(client, report_id, str(uuid.uuid4()))
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 200
    assert {r["service_request_id"]: r for r in again.get_json()}[str(report_id)]["support_count"] == 2


def test_hint_radius_follows_the_category_groups_nearby_metres(app, client):
    # routing.toml: roads (potholes, street lights) 30 m, cleanliness (illegal dumping) 100 m.
    at_40_m = 51.7593 + 40 / 111_320
    with app.app_context():
        pothole = make_report(lat=at_40_m).id
        dump = make_report(lat=at_40_m, service_code="ILLEGAL_DUMP").id
    assert f'id="nearby-{pothole}"' not in _nearby(client, lat=51.7593).get_data(as_text=True)
    assert f'id="nearby-{pothole}"' in _nearby(client, lat=51.7593 + 15 / 111_320).get_data(as_text=True)
    html = _nearby(client, code="ILLEGAL_DUMP", lat=51.7593 - 50 / 111_320).get_data(as_text=True)
    assert f'id="nearby-{dump}"' in html and "90 m" in html
