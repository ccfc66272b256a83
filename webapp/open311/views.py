"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2/), in XML and JSON by the suffix.

URL map (``<fmt>`` is ``xml`` or ``json``):

- ``GET /open311/discovery.<fmt>``: service discovery.
- ``GET /open311/v2/services.<fmt>``: the categories.
- ``GET /open311/v2/services/<service_code>.<fmt>``: a category's definition (attributes).
- ``GET /open311/v2/requests.<fmt>``: reports, filtered and paged.
- ``GET /open311/v2/requests/<service_request_id>.<fmt>``: one report.
- ``POST /open311/v2/requests.<fmt>``: an app files a report (``api_key``; no CSRF and no
  same-origin check: the key authenticates; rate-limited per key).
- ``GET /open311/v2/tokens/<token>.<fmt>``: the id of a report filed while held.
- ``GET /open311/v2/openapi.json``: the OpenAPI 3.1 description.

Errors are ``<errors><error><code/><description/></error></errors>`` or
``[{"code", "description"}]`` (webapp.errors writes those for routing failures: 404, 405 with
``Allow``, 429). Every answer allows any origin (public open data).
"""
from __future__ import annotations

import hashlib

from flask import Blueprint, current_app, make_response, request
from flask_babel import get_locale

from webapp.extensions import csrf, limiter
from webapp.open311 import formats, services
from webapp.open311.apikeys import find_key
from webapp.open311.params import Open311Error
from webapp.security import cross_origin_allowed

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
discovery_bp = Blueprint("open311_discovery", __name__, url_prefix="/open311")
FMT = "<any(xml,json):fmt>"


def _lang() -> str:
    return str(get_locale() or "pl")


def _format() -> str:
    return "xml" if request.path.endswith(".xml") else "json"


def _key_identity() -> str:
    """Rate-limit bucket of a POST: the API key sent (hashed), so each app has its own."""
    token = request.form.get("api_key") or ""
    return "open311-key:" + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _key_limit() -> str:
    """The key's own rate limit, else ``OPEN311_KEY_RATE_LIMIT``."""
    key = find_key(request.form.get("api_key"))
    return (key.rate_limit if key and key.rate_limit else None) \
        or current_app.config["OPEN311_KEY_RATE_LIMIT"]


@bp.after_request
def _cors(response):
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@discovery_bp.after_request
def _cors_discovery(response):
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.errorhandler(Open311Error)
def _open311_error(e: Open311Error):
    return formats.render(_format(), "errors", "error",
                          [{"code": e.code, "description": e.description}], status=e.code)


@bp.get("/openapi.json")
def openapi_json():
    """The OpenAPI 3.1 description of this API."""
    return formats.render("json", "openapi", None, services.openapi_description())


@discovery_bp.get(f"/discovery.{FMT}")
def discovery(fmt: str):
    """GeoReport v2 service discovery."""
    return formats.render(fmt, "discovery", None, services.discovery())


@bp.get(f"/services.{FMT}")
def services_list(fmt: str):
    """Every category of ``routing.toml`` in file order, as GeoReport v2 services."""
    return formats.render(fmt, "services", "service", services.list_services(request.args, _lang()))


@bp.get(f"/services/<service_code>.{FMT}")
def service_definition(service_code: str, fmt: str):
    """GeoReport v2 service definition: the category's extra questions (attributes)."""
    return formats.render(fmt, "service_definition", None,
                          services.service_definition(service_code, request.args, _lang()))


@bp.get(f"/requests.{FMT}")
def requests_list(fmt: str):
    """GeoReport v2 ``GET requests`` (filters: :mod:`webapp.open311.params`); ETag and
    Last-Modified: an unchanged poll is a 304."""
    answer = services.list_requests_cached(request, _lang())
    response = make_response("", 304) if answer.data is None else \
        formats.render(fmt, "service_requests", "request", answer.data)
    response.set_etag(answer.etag)
    response.last_modified = answer.updated_at
    response.vary.add("Accept-Language")
    return response


@bp.get(f"/requests/<service_request_id>.{FMT}")
def request_detail(service_request_id: str, fmt: str):
    """GeoReport v2 ``GET service request``: a one-element list."""
    return formats.render(fmt, "service_requests", "request",
                          services.get_request(service_request_id, request.args, _lang()))


@bp.post(f"/requests.{FMT}")
@cross_origin_allowed
@csrf.exempt
@limiter.limit(_key_limit, key_func=_key_identity)
def requests_create(fmt: str):
    """GeoReport v2 ``POST service request`` (fields: :mod:`webapp.open311.forms`)."""
    created = services.create_request(request.form,
                                      idempotency_header=request.headers.get("Idempotency-Key"))
    return formats.render(fmt, "service_requests", "request", created)


@bp.get(f"/tokens/<token>.{FMT}")
def token_detail(token: str, fmt: str):
    """GeoReport v2 ``GET request id from a token``."""
    return formats.render(fmt, "service_requests", "request",
                          services.token_status(token, request.args))
