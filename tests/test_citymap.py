"""The city map's data (issue 10): reports by bounding box as GeoJSON, clustering, caching, the
"already reported?" hint and "me too" supports."""
from __future__ import annotations

import uuid

from tests.factories import make_report

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
    assert props["category"] and props["age"] and props["number"].endswith(f"/{inside}")
    assert b"Tajny" not in response.data and b"description" not in response.data


def test_filters_are_the_lists(app, client):
    with app.app_context():
        pothole = make_report(service_code="ROAD_POTHOLE").id
        make_report(service_code="GREEN_TREE", status="resolved")
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
