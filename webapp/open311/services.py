"""What the Open311 endpoints answer, as plain lists and dicts (formatting is
:mod:`webapp.open311.formats`' job). Every failure raises
:class:`~webapp.open311.params.Open311Error`."""
from __future__ import annotations

from collections.abc import Mapping

from flask import current_app, url_for
from flask_babel import gettext as _

from webapp.clock import utcnow
from webapp.open311 import serialize
from webapp.open311.params import Open311Error, check_jurisdiction, is_true, parse_requests_query
from webapp.reports import queries
from webapp.routing.services import current_routing


def list_services(args: Mapping[str, str], lang: str) -> list[dict]:
    """``GET services``: every category of ``routing.toml`` in file order."""
    check_jurisdiction(args, current_app.config["OPEN311_JURISDICTION_ID"])
    config = current_routing()
    return [serialize.service_json(config, service, lang) for service in config.services.values()]


def list_requests(args: Mapping[str, str], lang: str) -> list[dict]:
    """``GET requests`` with the filters of :func:`~webapp.open311.params.parse_requests_query`,
    newest first, one page."""
    config = current_routing()
    query = parse_requests_query(args, known_codes=config.services.keys(),
                                 jurisdiction_id=current_app.config["OPEN311_JURISDICTION_ID"],
                                 now=utcnow())
    status = next(iter(query.statuses)) if len(query.statuses) == 1 else None
    reports = queries.open311_requests(ids=query.ids, codes=query.codes, start=query.start,
                                       end=query.end, status=status, limit=query.page_size,
                                       offset=query.offset)
    return [serialize.request_json(config, report, lang, extensions=query.extensions)
            for report in reports]


def get_request(service_request_id: str, args: Mapping[str, str], lang: str) -> list[dict]:
    """``GET service request``: a one-element list; 404 for an unknown or malformed id."""
    check_jurisdiction(args, current_app.config["OPEN311_JURISDICTION_ID"])
    report = None
    if service_request_id.isascii() and service_request_id.isdigit() and len(service_request_id) <= 12:
        report = queries.get_report(int(service_request_id))
    if report is None:
        raise Open311Error(404, _("There is no service request %(id)s.", id=service_request_id))
    return [serialize.request_json(current_routing(), report, lang,
                                   extensions=is_true(args.get("extensions")))]


def discovery() -> dict:
    """The GeoReport v2 service discovery document: changeset, contact, key service and the
    endpoint (production) with its formats."""
    changeset = current_app.config["OPEN311_CHANGESET"]
    base = url_for("open311.services_list", fmt="xml", _external=True).rsplit("/", 1)[0] + "/"
    return {
        "changeset": changeset,
        "contact": _("Łódź resident reporting portal, %(email)s",
                     email=current_app.config.get("ADMIN_EMAIL") or ""),
        "key_service": _("Ask for an API key by e-mail: %(email)s (give the app's name and a "
                         "contact).", email=current_app.config.get("ADMIN_EMAIL") or ""),
        "endpoints": [{
            "specification": "http://wiki.open311.org/GeoReport_v2",
            "url": base,
            "changeset": changeset,
            "type": "production",
            "formats": ["text/xml", "application/json"],
        }],
    }
