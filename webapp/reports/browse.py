"""Public list and detail pages of reports.

``GET /reports`` (``reports.index``) answers a full page, or only the list fragment
(``reports/_list.html``) when htmx targets the list (``HX-Target: report-list``); boosted and
history-restore requests always get the full page, and the answer carries ``Vary: HX-Target``.
``GET /reports/<id>`` (``reports.detail``) is the public report page.
"""
from __future__ import annotations

from flask import abort, make_response, render_template, request
from flask_babel import get_locale

from webapp.reports import queries
from webapp.reports.models import Status
from webapp.negotiation import wants_fragment
from webapp.reports.views import bp

#: id of the element holding the list; htmx sends it as ``HX-Target``.
LIST_TARGET = "report-list"


def _lang() -> str:
    return str(get_locale() or "pl")


def _routing():
    # Imported late: the routing package is loaded by create_app before any request.
    from webapp.routing.services import current_routing
    return current_routing()


def wants_list_fragment() -> bool:
    """True when htmx asked to swap only the list (see :mod:`webapp.negotiation`)."""
    return wants_fragment(LIST_TARGET)


@bp.get("/reports")
def index():
    """Public list of reports, newest first, filtered by ``service_code`` and ``status``
    (ours or ``open``/``closed``), ``page`` counted from 1. Bad values are ignored with a
    message, never an error."""
    config = _routing()
    lang = _lang()
    filters = queries.parse_filters(request.args, config.services.keys())
    page = queries.list_reports(filters)
    context = {
        "filters": filters,
        "page": page,
        "groups": [(queries.localized(group.name, lang), services)
                   for group, services in config.grouped()],
        "statuses": list(Status),
        "service_name": lambda code: queries.service_name(config, code, lang),
        "public_photos": queries.public_photos,
        "public_description": queries.public_description,
        "list_target": LIST_TARGET,
    }
    template = "reports/_list.html" if wants_list_fragment() else "reports/index.html"
    response = make_response(render_template(template, **context))
    response.vary.add("HX-Target")
    return response


@bp.get("/reports/<int:report_id>")
def detail(report_id: int):
    """Public page of one report; 404 for an unknown id."""
    report = queries.get_report(report_id)
    if report is None:
        abort(404)
    config = _routing()
    lang = _lang()
    from webapp.routing.services import explain
    why = explain(config, report.routing_rule, report.agency_responsible) \
        if report.agency_responsible else None
    return render_template(
        "reports/detail.html",
        report=report,
        lang=lang,
        category=queries.service_name(config, report.service_code, lang),
        group=queries.group_name(config, report.service_code, lang),
        description=queries.public_description(report),
        photos=queries.public_photos(report),
        unit=queries.unit_name(config, report.agency_responsible, lang),
        why=why,
        history=queries.timeline(config, report, lang),
    )
