"""Open311 GeoReport v2 in XML (the spec's required format) and the error format in both."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from xml.etree import ElementTree as ET

import pytest

from tests.factories import make_report

SERVICE_ELEMENTS = {"service_code", "service_name", "description", "metadata", "type",
                    "keywords", "group"}
REQUEST_ELEMENTS = {
    "service_request_id", "status", "status_notes", "service_name", "service_code",
    "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat", "long",
    "media_url",
}


def get_xml(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "text/xml"
    return ET.fromstring(response.data)


def test_services_xml_uses_the_spec_elements(app, client):
    root = get_xml(client, "/open311/v2/services.xml?lang=en")
    json_codes = [s["service_code"] for s in client.get("/open311/v2/services.json").get_json()]
    assert root.tag == "services"
    assert [s.tag for s in root] == ["service"] * len(json_codes)
    assert [s.findtext("service_code") for s in root] == json_codes
    for service in root:
        assert {child.tag for child in service} == SERVICE_ELEMENTS
        assert service.findtext("metadata") in ("true", "false")
        assert service.findtext("type") == "realtime"


def test_requests_xml_and_single_request_xml(app, client):
    with app.app_context():
        report = make_report(status="resolved", agency_responsible="zdit",
                             requested_at=datetime.now(timezone.utc) - timedelta(days=1),
                             history=[("resolved", "Załatane", "unit", "zdit", "zdit", 30)])
        rid = report.id
    root = get_xml(client, "/open311/v2/requests.xml")
    assert root.tag == "service_requests"
    assert [r.tag for r in root] == ["request"]
    request = root[0]
    assert {child.tag for child in request} == REQUEST_ELEMENTS
    assert request.findtext("service_request_id") == str(rid)
    assert request.findtext("status") == "closed"
    assert request.findtext("status_notes") == "Załatane"

    one = get_xml(client, f"/open311/v2/requests/{rid}.xml?extensions=true")
    assert one.tag == "service_requests" and len(one) == 1
    assert one[0].findtext("support_count") == "0"
    assert one[0].find("attributes") is not None
    changes = one[0].find("status_history")
    assert [c.findtext("status") for c in changes] == ["resolved"]
    assert one[0].findtext("service_request_id") == str(rid)


def test_discovery_in_both_formats(app, client):
    body = client.get("/open311/discovery.json").get_json()
    assert {"changeset", "contact", "key_service", "endpoints"} <= set(body)
    endpoint = body["endpoints"][0]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2/")
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    root = get_xml(client, "/open311/discovery.xml")
    assert root.tag == "discovery"
    endpoint = root.find("endpoints/endpoint")
    assert endpoint.findtext("type") == "production"
    assert [f.text for f in endpoint.find("formats")] == ["text/xml", "application/json"]
    # The listed endpoint answers.
    assert client.get(body["endpoints"][0]["url"] + "services.xml").status_code == 200


def _xml_error(response, code):
    assert response.status_code == code
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.data)
    assert root.tag == "errors" and [e.tag for e in root] == ["error"]
    assert root.find("error/code").text == str(code)
    assert root.find("error/description").text
    return root


@pytest.mark.parametrize("query", [
    "start_date=2026-05-01T08:00:00", "service_code=NO_SUCH", "status=pending",
    "start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z", "page_size=1001",
])
def test_bad_parameters_in_xml_are_spec_errors(app, client, query):
    _xml_error(client.get("/open311/v2/requests.xml?" + query), 400)


def test_not_found_and_not_allowed_in_both_formats(app, client):
    _xml_error(client.get("/open311/v2/requests/999999.xml"), 404)
    _xml_error(client.get("/open311/v2/nothing.xml"), 404)
    _xml_error(client.get("/open311/v2/requests.xml?jurisdiction_id=other.example"), 404)
    response = client.delete("/open311/v2/requests.xml")
    _xml_error(response, 405)
    assert "GET" in response.headers["Allow"]
    response = client.put("/open311/v2/services.json")
    assert response.status_code == 405 and "GET" in response.headers["Allow"]
    assert response.get_json()[0]["code"] == 405
    response = client.get("/open311/v2/services.csv")
    assert response.status_code == 404 and response.get_json()[0]["code"] == 404


def test_service_definitions_with_attributes(app, client):
    services = client.get("/open311/v2/services.json").get_json()
    with_questions = {s["service_code"] for s in services if s["metadata"]}
    assert {"STREET_LIGHT", "TREE_HAZARD"} <= with_questions
    body = client.get("/open311/v2/services/TREE_HAZARD.json?lang=en").get_json()
    assert body["service_code"] == "TREE_HAZARD"
    [blocks] = body["attributes"]
    assert blocks["code"] == "blocks_road" and blocks["datatype"] == "singlevaluelist"
    assert blocks["required"] is True and blocks["variable"] is True and blocks["order"] == 1
    assert [v["key"] for v in blocks["values"]] == ["road", "pavement", "no"]
    assert blocks["values"][0]["name"] == "Yes, the road"
    root = get_xml(client, "/open311/v2/services/STREET_LIGHT.xml")
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "STREET_LIGHT"
    attributes = root.find("attributes")
    assert [a.tag for a in attributes] == ["attribute", "attribute"]
    assert attributes[0].findtext("code") == "pole_number"
    assert attributes[0].findtext("variable") == "true"
    assert [v.findtext("key") for v in attributes[1].find("values")] == \
        ["one", "several", "whole_street"]
    assert {v.tag for v in attributes[1].find("values")} == {"value"}
    plain = client.get("/open311/v2/services/ROAD_POTHOLE.json").get_json()
    assert plain == {"service_code": "ROAD_POTHOLE", "attributes": []}
    _xml_error(client.get("/open311/v2/services/NOPE.xml"), 404)


@pytest.mark.parametrize("url", ["/open311/v2/requests/%00.json", "/open311/v2/requests/a%01%1b%0a.xml",
                                 "/open311/v2/services/X%00.json",
                                 "/open311/v2/requests.xml?jurisdiction_id=x%00%e2%80%ae"])
def test_errors_echo_no_control_characters(app, client, url):
    response = client.get(url)
    assert response.status_code == 404
    text = response.get_data(as_text=True)
    assert not [c for c in text if (ord(c) < 32 and c not in "\n") or 0x7f <= ord(c) <= 0x9f or c == "\u202e"]
    if url.split("?")[0].endswith(".xml"):
        description = _xml_error(response, 404).find("error/description").text
    else:
        description = response.get_json()[0]["description"]
    if "?" not in url:  # (query strings are cleaned on the way in: nothing left to show)
        assert "\ufffd" in description  # shown as a replacement character, not dropped
