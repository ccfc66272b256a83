"""The served OpenAPI description (/open311/v2/openapi.json) is true: every answer of every
endpoint, and of random queries (hypothesis), has a documented status and matches its schema;
none is a 5xx."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from xml.etree import ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from tests.factories import make_report

from webapp.open311.apikeys import create_key

INSIDE = {"lat": "51.7593", "long": "19.4573"}


@pytest.fixture
def spec(client):
    response = client.get("/open311/v2/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.1")
    Draft202012Validator.check_schema({"$defs": doc["components"]["schemas"]})
    return doc


def check(doc, template: str, method: str, response) -> None:
    """Fail unless ``response`` has a status documented for ``template``/``method`` and a body
    matching its schema (JSON) or well-formed XML."""
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    operation = doc["paths"][template][method]
    documented = operation["responses"]
    assert str(response.status_code) in documented, (template, response.status_code,
                                                     response.get_data(as_text=True)[:300])
    content = documented[str(response.status_code)]["content"]
    if response.mimetype == "text/xml":
        assert "text/xml" in content
        ET.fromstring(response.data)
        return
    assert response.mimetype == "application/json"
    schema = {**content["application/json"]["schema"], "components": doc["components"]}
    errors = sorted(Draft202012Validator(schema, format_checker=FormatChecker())
                    .iter_errors(response.get_json()), key=str)
    assert not errors, [e.message for e in errors[:5]]


def test_every_endpoint_matches_the_description(app, client, spec):
    with app.app_context():
        report = make_report(status="resolved", requested_at=datetime.now(timezone.utc)
                             - timedelta(days=1),
                             history=[("resolved", "Załatane", "unit", "zdit", "zdit", 30)])
        rid = report.id
        _key, token = create_key("Spec app", "a@example.org")
    for fmt in ("json", "xml"):
        check(spec, "/services.{format}", "get", client.get(f"/open311/v2/services.{fmt}"))
        for code in ("STREET_LIGHT", "TREE_HAZARD", "ROAD_POTHOLE", "NOPE"):
            check(spec, "/services/{service_code}.{format}", "get",
                  client.get(f"/open311/v2/services/{code}.{fmt}"))
        for query in ("", "extensions=true", "status=open,closed&page_size=10&page=1",
                      "service_code=NOPE", "start_date=2026-01-01T00:00:00",
                      f"service_request_id={rid}", "jurisdiction_id=x"):
            check(spec, "/requests.{format}", "get",
                  client.get(f"/open311/v2/requests.{fmt}?{query}"))
        for ident in (str(rid), "0", "abc"):
            check(spec, "/requests/{service_request_id}.{format}", "get",
                  client.get(f"/open311/v2/requests/{ident}.{fmt}?extensions=true"))
        check(spec, "/discovery.{format}", "get", client.get(f"/open311/discovery.{fmt}"))
        created = client.post(f"/open311/v2/requests.{fmt}", data={
            "api_key": token, "service_code": "ROAD_POTHOLE", "device_id": fmt,
            "description": "Dziura w jezdni przy przejściu", **INSIDE})
        check(spec, "/requests.{format}", "post", created)
        held = client.post(f"/open311/v2/requests.{fmt}", data={
            "api_key": token, "service_code": "OTHER", "device_id": fmt,
            "description": "Coś jest nie tak na chodniku", **INSIDE})
        check(spec, "/requests.{format}", "post", held)
        for data in ({}, {"api_key": "wrong"}, {"api_key": token, "service_code": "NOPE"}):
            check(spec, "/requests.{format}", "post",
                  client.post(f"/open311/v2/requests.{fmt}", data=data))
    held_token = client.post("/open311/v2/requests.json", data={
        "api_key": token, "service_code": "OTHER", "device_id": "json",
        "description": "Coś jest nie tak na chodniku", **INSIDE}).get_json()[0]["token"]
    for value in (held_token, "1-abc", "x"):
        check(spec, "/tokens/{token}.{format}", "get",
              client.get(f"/open311/v2/tokens/{value}.json"))


TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
DATES = st.one_of(TEXT, st.datetimes(timezones=st.none() | st.just(timezone.utc))
                  .map(lambda d: d.isoformat()), st.dates().map(str))
PARAMS = st.fixed_dictionaries({}, optional={
    "service_request_id": st.one_of(TEXT, st.lists(st.integers(-5, 2**40), max_size=4)
                                    .map(lambda xs: ",".join(map(str, xs)))),
    "service_code": st.one_of(TEXT, st.sampled_from(["ROAD_POTHOLE", "STREET_LIGHT,OTHER"])),
    "start_date": DATES, "end_date": DATES,
    "status": st.one_of(TEXT, st.sampled_from(["open", "closed", "open,closed"])),
    "page": st.one_of(TEXT, st.integers(-3, 10**12).map(str)),
    "page_size": st.one_of(TEXT, st.integers(-3, 5000).map(str)),
    "extensions": st.sampled_from(["true", "false", "1", ""]),
    "jurisdiction_id": st.sampled_from(["lodz.pl", "", "other"]),
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=PARAMS, fmt=st.sampled_from(["json", "xml"]))
def test_random_requests_queries_match_the_description(app, client, spec, params, fmt):
    response = client.get(f"/open311/v2/requests.{fmt}", query_string=params)
    check(spec, "/requests.{format}", "get", response)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(segment=TEXT.filter(lambda s: s and "/" not in s and s not in (".", "..")),
       fmt=st.sampled_from(["json", "xml"]))
def test_random_path_segments_match_the_description(app, client, spec, segment, fmt):
    for template, path in (("/services/{service_code}.{format}", "services"),
                           ("/requests/{service_request_id}.{format}", "requests"),
                           ("/tokens/{token}.{format}", "tokens")):
        response = client.get(f"/open311/v2/{path}/{segment}.{fmt}")
        if response.status_code == 404 and response.mimetype not in ("application/json", "text/xml"):
            pytest.fail(f"404 not in the GeoReport format for {segment!r}")
        check(spec, template, "get", response)
