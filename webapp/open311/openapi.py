"""The OpenAPI 3.1 description of the Open311 API, served at ``/open311/v2/openapi.json``.

Kept true by tests/test_open311_openapi.py: every JSON answer of every endpoint (and of random
queries, with hypothesis) must match the schema documented for its status code.
"""
from __future__ import annotations

from webapp.open311.params import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

NULLABLE_STRING = {"type": ["string", "null"]}
ERRORS = {"$ref": "#/components/schemas/Errors"}


def _fmt() -> dict:
    return {"name": "format", "in": "path", "required": True,
            "description": "xml (the spec's format) or json",
            "schema": {"type": "string", "enum": ["json", "xml"]}}


def _query(name: str, description: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


JURISDICTION = _query("jurisdiction_id", "Optional; when given it must be this endpoint's.")


def _answer(schema: dict, description: str = "OK") -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": schema},
                        "text/xml": {"schema": {"type": "string"}}}}


def _errors(*codes: int) -> dict:
    words = {400: "Bad parameter", 403: "Invalid api_key", 404: "Not found",
             429: "Too many requests for this key", 503: "Temporarily unavailable"}
    return {str(code): _answer(ERRORS, words[code]) for code in codes}


def _get(summary: str, parameters: list, schema: dict, *errors: int) -> dict:
    return {"get": {"summary": summary, "parameters": [_fmt(), *parameters],
                    "responses": {"200": _answer(schema), **_errors(400, 404, *errors)}}}


SCHEMAS: dict = {
    "Errors": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}}}},
    "Service": {"type": "object", "required": [
        "service_code", "service_name", "description", "metadata", "type", "keywords", "group"],
        "properties": {"service_code": {"type": "string"}, "service_name": {"type": "string"},
                       "description": {"type": "string"}, "metadata": {"type": "boolean"},
                       "type": {"enum": ["realtime", "batch", "blackbox"]},
                       "keywords": {"type": "string"}, "group": {"type": "string"}}},
    "ServiceDefinition": {"type": "object", "required": ["service_code", "attributes"],
                          "properties": {"service_code": {"type": "string"}, "attributes": {
                              "type": "array", "items": {"$ref": "#/components/schemas/Attribute"}}}},
    "Attribute": {"type": "object", "required": [
        "variable", "code", "datatype", "required", "datatype_description", "order", "description"],
        "properties": {
            "variable": {"type": "boolean"}, "code": {"type": "string"},
            "datatype": {"enum": ["string", "number", "datetime", "text", "singlevaluelist",
                                  "multivaluelist"]},
            "required": {"type": "boolean"}, "datatype_description": {"type": "string"},
            "order": {"type": "integer"}, "description": {"type": "string"},
            "values": {"type": "array", "items": {
                "type": "object", "required": ["key", "name"],
                "properties": {"key": {"type": "string"}, "name": {"type": "string"}}}}}},
    "ServiceRequest": {"type": "object", "required": [
        "service_request_id", "status", "service_code", "requested_datetime", "lat", "long"],
        "properties": {
            "service_request_id": {"type": "string"}, "status": {"enum": ["open", "closed"]},
            "status_notes": NULLABLE_STRING, "service_name": NULLABLE_STRING,
            "service_code": {"type": "string"}, "description": {"type": "string"},
            "agency_responsible": NULLABLE_STRING, "service_notice": NULLABLE_STRING,
            "requested_datetime": {"type": "string", "format": "date-time"},
            "updated_datetime": NULLABLE_STRING, "expected_datetime": NULLABLE_STRING,
            "address": NULLABLE_STRING, "address_id": NULLABLE_STRING,
            "zipcode": NULLABLE_STRING, "lat": {"type": "number"}, "long": {"type": "number"},
            "media_url": NULLABLE_STRING,
            "support_count": {"type": "integer", "description": "Extension (extensions=true)."},
            "attributes": {"type": "object", "description": "Extension (extensions=true)."},
            "status_history": {"type": "array", "description": "Extension (extensions=true).",
                               "items": {"type": "object"}}}},
    "Created": {"type": "object", "required": ["service_notice"], "properties": {
        "service_request_id": {"type": "string"}, "token": {"type": "string"},
        "service_notice": {"type": "string"}, "account_id": NULLABLE_STRING}},
    "TokenAnswer": {"type": "object", "required": ["service_request_id", "token"],
                    "properties": {"service_request_id": NULLABLE_STRING,
                                   "token": {"type": "string"}}},
    "Discovery": {"type": "object", "required": ["changeset", "contact", "key_service",
                                                 "endpoints"],
                  "properties": {"changeset": {"type": "string"}, "contact": {"type": "string"},
                                 "key_service": {"type": "string"},
                                 "endpoints": {"type": "array", "items": {"type": "object"}}}},
}


def _list_of(name: str) -> dict:
    return {"type": "array", "items": {"$ref": f"#/components/schemas/{name}"}}


def _post_form() -> dict:
    fields = ["api_key", "jurisdiction_id", "service_code", "lat", "long", "address_string",
              "email", "email_consent", "first_name", "last_name", "phone", "description",
              "media_url", "device_id", "account_id", "idempotency_key"]
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["api_key", "service_code", "description"],
        "properties": {name: {"type": "string"} for name in fields},
        "additionalProperties": {"type": "string",
                                 "description": "attribute[code]: an answer to a question of "
                                                "the service definition"}}}}}


def describe(server_url: str, discovery_url: str) -> dict:
    """The whole description; ``server_url`` is the API's base (``.../open311/v2``),
    ``discovery_url`` the base of the discovery document (``.../open311``)."""
    request_filters = [
        JURISDICTION,
        _query("service_request_id", "Comma list of ids; the other filters are then ignored."),
        _query("service_code", "Comma list of known service codes."),
        _query("start_date", "W3C datetime with a zone; at most 90 days before end_date."),
        _query("end_date", "W3C datetime with a zone."),
        _query("status", "Comma list of open, closed."),
        _query("page", "From 1.", {"type": "integer", "minimum": 1}),
        _query("page_size", f"Default {DEFAULT_PAGE_SIZE}.",
               {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}),
        _query("extensions", "true adds support_count, attributes and status_history."),
    ]
    requests_path = _get("Service requests, newest first", request_filters,
                         _list_of("ServiceRequest"))
    requests_path["post"] = {
        "summary": "File a report (an app with an API key)", "parameters": [_fmt()],
        "requestBody": _post_form(),
        "responses": {"200": _answer(_list_of("Created")), **_errors(400, 403, 404, 429, 503)}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "ŁCKzM Łódź: Open311 GeoReport v2", "version": "v2",
                 "description": "http://wiki.open311.org/GeoReport_v2/ with paging "
                                "(page, page_size) and extensions=true."},
        "servers": [{"url": server_url}],
        "paths": {
            "/services.{format}": _get("Services", [JURISDICTION], _list_of("Service")),
            "/services/{service_code}.{format}": _get(
                "Service definition", [{"name": "service_code", "in": "path", "required": True,
                                        "schema": {"type": "string"}}, JURISDICTION],
                {"$ref": "#/components/schemas/ServiceDefinition"}),
            "/requests.{format}": requests_path,
            "/requests/{service_request_id}.{format}": _get(
                "One service request", [{"name": "service_request_id", "in": "path",
                                         "required": True, "schema": {"type": "string"}},
                                        JURISDICTION, request_filters[-1]],
                _list_of("ServiceRequest")),
            "/tokens/{token}.{format}": _get(
                "The id of a report filed while held", [{"name": "token", "in": "path",
                                                          "required": True,
                                                          "schema": {"type": "string"}},
                                                         JURISDICTION],
                _list_of("TokenAnswer")),
            "/discovery.{format}": {
                **_get("Service discovery", [], {"$ref": "#/components/schemas/Discovery"}),
                "servers": [{"url": discovery_url}]},
        },
        "components": {"schemas": SCHEMAS},
    }
