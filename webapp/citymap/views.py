"""The city map, its GeoJSON data, the "already reported?" hint and "me too".

URL map::

    GET  /map                              citymap.page      the map page (filters in the URL)
    GET  /reports.geojson?bbox=…           citymap.geojson   reports in a box (RFC 7946)
    GET  /report/nearby?service_code=&lat=&long=   citymap.nearby   htmx fragment for the form
    POST /reports/<int:report_id>/supports citymap.support   "me too" (HTML, htmx or JSON)
"""
from __future__ import annotations

import json

from flask import Blueprint, abort, current_app, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import format_timedelta, get_locale
from flask_babel import gettext as _

from webapp.citymap import geojson, queries
from webapp.citymap.forms import SupportForm
from webapp.citymap.services import ReportNotFound, SupportError, add_support
from webapp.clock import utcnow
from webapp.extensions import limiter
from webapp.negotiation import is_htmx, wants_fragment, wants_json
from webapp.reports.models import Status
from webapp.reports.queries import public_photos
from webapp.reports.services import consent_today
from webapp.reports.views import detail_page
from webapp.routing.services import current_routing

bp = Blueprint("citymap", __name__)

#: The "me too" section of a report's page (templates/map/_support.html), its htmx target.
SUPPORT_TARGET = "support"

#: Browsers may reuse a box's answer for this long without asking; after that an ETag check.
GEOJSON_MAX_AGE = 30


def _lang() -> str:
    return str(get_locale() or "pl")


@bp.get("/map")
def page():
    """The map page: the list's filters as a GET form; the markers come from the GeoJSON."""
    config, lang = current_routing(), _lang()
    filters = queries.parse_map_filters(request.args, config.services.keys())
    return render_template(
        "map/index.html", filters=filters, statuses=list(Status),
        groups=[(group.name(lang), services) for group, services in config.grouped()],
        data_url=url_for("citymap.geojson", **filters.query_args()),
        list_url=url_for("reports.index", **filters.list_filters.query_args()))


@bp.get("/reports.geojson", endpoint="geojson")
def geojson_view():
    """Reports in ``bbox`` (``minLong,minLat,maxLong,maxLat``) with the list's filters and
    ``since``; 400 (GeoJSON-free JSON error) without a valid box. Cacheable with an ETag."""
    config = current_routing()
    filters = queries.parse_map_filters(request.args, config.services.keys())
    if filters.bbox is None:
        return jsonify({"error": _("Give the map area as bbox=minLong,minLat,maxLong,maxLat.")}), 400
    body = geojson.feature_collection(queries.reports_in_box(filters), config, _lang())
    response = make_response(json.dumps(body, ensure_ascii=False, separators=(",", ":")))
    response.mimetype = "application/geo+json"
    response.headers["Cache-Control"] = f"public, max-age={GEOJSON_MAX_AGE}"
    response.vary.add("Accept-Language")
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/report/nearby")
def nearby():
    """The "already reported?" fragment for the form: open reports of the same category within
    the radius of the point (its group's ``nearby_metres`` in routing.toml, else the app's); empty without a category and a valid point. Never an error."""
    config, lang = current_routing(), _lang()
    code = (request.args.get("service_code") or "").strip()
    lat = queries.parse_coordinate(request.args.get("lat"))
    long = queries.parse_coordinate(request.args.get("long"))
    found = []
    if code in config.services and lat is not None and long is not None:
        radius = config.nearby_metres(code, current_app.config.get(
            "DUPLICATE_RADIUS_METRES", queries.DUPLICATE_RADIUS_METRES))
        found = queries.nearby_open_reports(code, lat, long, radius)
    return render_template(
        "map/_nearby.html", found=found, supports=queries.support_counts(r.id for r, _d in found),
        public_photos=public_photos, age=lambda when: format_timedelta(when - utcnow(), add_direction=True),
        category_name=lambda c: config.category_name(c, lang))


def _support_rate_limit() -> str:
    return current_app.config["REPORT_RATE_LIMIT"]


@bp.post("/reports/<int:report_id>/supports")
# Rate-limited like reports (regulamin pkt 7: abuse protection); a repeat by the same phone is
# harmless (idempotent) but still counted here.
@limiter.limit(_support_rate_limit, methods=["POST"])
def support(report_id: int):
    """Add this phone's "me too": 201 new, 200 already counted, 404 unknown, 422 otherwise."""
    form = SupportForm()
    version, text = consent_today(_lang())
    try:
        done = add_support(report_id, form.to_input(_lang()), consent_text=text,
                           consent_version=version)
    except ReportNotFound:
        abort(404)
    except SupportError as e:
        return _support_errors(report_id, form, e)
    return _supported(done)


def _varied(html: str, status: int):
    response = make_response(html, status)
    response.vary.add("HX-Target")
    return response


def _supported(done):
    status = 201 if done.created else 200
    if wants_json():
        return jsonify({"report_id": done.report.id, "created": done.created,
                        "support_count": done.count}), status
    if wants_fragment(SUPPORT_TARGET):  # the report page's own form: thanks in its place
        return _varied(render_template("map/_support.html", report=done.report, done=done), status)
    if is_htmx():  # a "me too" button of the report form's "already reported?" hint
        return render_template("map/_supported.html", report=done.report, done=done), status
    return redirect(url_for("reports.detail", report_id=done.report.id, supported=1), 303)


def _support_errors(report_id: int, form: SupportForm, error: SupportError):
    """422: the report page's form again, as sent (the e-mail kept), each error at its field;
    JSON for API clients; for the hint's buttons (no form of their own) the reasons alone, into
    the item's error box."""
    if wants_json():
        return jsonify({"errors": {k: [str(m) for m in v] for k, v in error.errors.items()}}), 422
    if wants_fragment(SUPPORT_TARGET):
        return _varied(render_template("map/_support.html", report=error.report, support_form=form,
                                        support_errors=error.errors), 422)
    if not is_htmx():
        page = detail_page(report_id, support_form=form, support_errors=error.errors)
        return _varied(page, 422)
    # The hint's button: the reason into the item's error box, the button left for another try.
    response = _varied(render_template("map/_support_refused.html", errors=error.errors), 422)
    response.headers.update({"HX-Retarget": f"#nearby-{report_id}-err", "HX-Reswap": "innerHTML"})
    return response
