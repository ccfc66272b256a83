"""Open311 GeoReport v2 read API, JSON only (http://wiki.open311.org/GeoReport_v2/).

``GET /open311/v2/services.json``, ``GET /open311/v2/requests.json`` and
``GET /open311/v2/requests/<service_request_id>.json``. Errors use the GeoReport format
``[{"code": 400, "description": "..."}]``. Every answer allows any origin (public open data).
``jurisdiction_id`` is accepted and ignored: the portal serves one city (``lodz.pl``).
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, jsonify, make_response, request
from flask_babel import get_locale, gettext as _

from webapp.citymap.queries import support_counts
from webapp.open311 import serialize
from webapp.open311.paging import BadParameter, etag_for, not_modified, parse_paging
from webapp.reports import queries
from webapp.routing.services import current_routing

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")


def _lang() -> str:
    return str(get_locale() or "pl")


def _error(code: int, description: str):
    return jsonify([{"code": code, "description": description}]), code


@bp.after_request
def _cors(response):
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.errorhandler(BadParameter)
def _bad_parameter(e: BadParameter):
    return _error(400, str(e))


def parse_w3c_datetime(name: str, value: str) -> datetime:
    """Parse an ISO 8601 / W3C datetime query parameter into an aware UTC datetime.

    Accepts a date (``2026-05-01``, midnight UTC) or a date and time with ``Z`` or an offset;
    a time without offset is taken as UTC. Raises :class:`BadParameter` naming ``name``, also
    for a moment outside the years 1-9999 once in UTC (``0001-01-01T00:00:00+01:00``).
    """
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadParameter(_("%(name)s is not an ISO 8601 date-time (for example "
                             "2026-05-01T00:00:00Z).", name=name)) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:
        raise BadParameter(_("%(name)s is outside the supported range (years 1 to 9999 in UTC).",
                             name=name)) from None


def _comma_list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _request_ids(value: str | None) -> list[int]:
    ids = []
    for part in _comma_list(value):
        if not (part.isascii() and part.isdigit()):
            raise BadParameter(_("service_request_id must be a comma-separated list of numbers."))
        # Longer numbers cannot be ids (queries.MAX_ID); 0 matches nothing.
        ids.append(int(part) if len(part) <= 12 else 0)
    return ids


@bp.get("/services.json")
def services():
    """Every category of ``routing.toml`` in file order, as GeoReport v2 services."""
    config = current_routing()
    lang = _lang()
    return jsonify([serialize.service_json(config, service, lang)
                    for service in config.services.values()])


@bp.get("/requests.json")
def requests_list():
    """GeoReport v2 ``GET requests``: filters ``service_request_id`` (comma list; then the
    others are ignored), ``service_code`` (comma list), ``start_date``/``end_date`` (ISO 8601),
    ``status`` (``open``/``closed``, comma list); ``page``/``page_size`` (default 50, at most
    1000; :func:`~webapp.open311.paging.parse_paging`). Default window: the last 90 days,
    newest first. ETag and Last-Modified: an unchanged poll is a 304. 400 in the GeoReport
    error format on a bad parameter."""
    filters, (page, page_size) = _request_filters(request.args), parse_paging(request.args)
    version, lang = queries.data_version(), _lang()
    etag = etag_for(version.tag, request.query_string, lang)
    if not_modified(request, etag, version.updated_at):
        response = make_response("", 304)
    else:
        rows = queries.open311_rows(**filters, page=page, page_size=page_size)
        config, media = current_routing(), serialize.media_url_template()
        supports = support_counts(row.report.id for row in rows)
        response = jsonify([serialize.request_row_json(config, row, lang, media,
                                                       supports.get(row.report.id, 0))
                            for row in rows])
    response.set_etag(etag)
    response.last_modified = version.updated_at
    response.vary.add("Accept-Language")
    return response


def _request_filters(args) -> dict:
    """The filters of ``requests.json`` as keyword arguments of ``queries.open311_rows``."""
    ids = _request_ids(args.get("service_request_id"))
    start = parse_w3c_datetime("start_date", args["start_date"]) if args.get("start_date") else None
    end = parse_w3c_datetime("end_date", args["end_date"]) if args.get("end_date") else None
    if start and end and start > end:
        raise BadParameter(_("start_date must not be later than end_date."))
    statuses = set(_comma_list(args.get("status")))
    if statuses - {"open", "closed"}:
        raise BadParameter(_("status must be open or closed."))
    return {"ids": ids or None, "codes": _comma_list(args.get("service_code")), "start": start,
            "end": end, "status": statuses.pop() if len(statuses) == 1 else None}


@bp.get("/requests/<service_request_id>.json")
def request_detail(service_request_id: str):
    """GeoReport v2 ``GET service request``: a one-element list, with our ``status_history``
    extension; 404 in the GeoReport error format for an unknown or malformed id."""
    report = None
    if service_request_id.isascii() and service_request_id.isdigit() and len(service_request_id) <= 12:
        report = queries.get_report(int(service_request_id))
    if report is None:
        return _error(404, _("There is no service request %(id)s.", id=service_request_id))
    return jsonify([serialize.request_json(current_routing(), report, _lang(), with_history=True,
                                           support_count=support_counts([report.id]).get(report.id, 0))])
