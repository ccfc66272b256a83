"""The report form, submission, the public list and pages, and the private tracking page
(thin: parse, call one service, render).

URL map::

    GET  /report                      reports.new      the form, with a fresh client_id
    POST /report                      reports.create   HTML, htmx fragment or JSON answer
    GET  /reports                     reports.index    public list (page, or the list fragment)
    GET  /reports/<int:report_id>     reports.detail   public page of one report
    GET  /t/<token>                   reports.track    the resident's private tracking page

``GET /reports`` answers only the list fragment (``reports/_list.html``) when htmx targets the
list (``HX-Target: report-list``); boosted and history-restore requests always get the full
page, and the answer carries ``Vary: HX-Target``.
"""
from __future__ import annotations

import json
import uuid

from flask import (Blueprint, abort, current_app, jsonify, make_response, redirect, render_template,
                   request, url_for)
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup

from webapp.errors import render_error
from webapp.extensions import limiter
from webapp.negotiation import is_htmx, wants_fragment, wants_json
from webapp.security import private_page
from webapp.photos.limits import DecodeBusy
from webapp.photos.storage import StorageUnavailable
from webapp.reports import queries
from webapp.reports.forms import ReportForm
from webapp.reports.models import Status
from webapp.reports.services import (SubmissionError, Submitted, consent_today, find_by_tracking_token,
                                     submit_report)
from webapp.routing.services import current_routing, explain

bp = Blueprint("reports", __name__)

# Fields whose error containers the form has; an htmx error response refreshes all of them.
FORM_FIELDS = ("service_code", "description", "attributes", "lat", "media", "address_string", "email",
               "consent", "client_id")

#: id of the element holding the public list; htmx sends it as ``HX-Target``.
LIST_TARGET = "report-list"


def _lang() -> str:
    return str(get_locale() or "pl")


@bp.get("/report")
def new():
    """The report form, with a fresh ``client_id`` (the offline app makes its own)."""
    form = ReportForm()
    form.client_id.data = str(uuid.uuid4())
    # A procedure page's "report this problem" link preselects its category.
    preselected = request.args.get("service_code")
    if current_routing().service(preselected) is not None:
        form.service_code.data = preselected
    return render_template("reports/new.html", form=form, errors={})


def _report_rate_limit() -> str:
    return current_app.config["REPORT_RATE_LIMIT"]


def _attempt_rate_limit() -> str:
    return current_app.config["REPORT_ATTEMPT_RATE_LIMIT"]


def _stored(response) -> bool:
    return response.status_code < 400


def _submission_settings() -> dict:
    """What :func:`submit_report` needs from the app besides the input."""
    config = current_app.config
    return {"routing": current_routing(), "boundary": current_app.extensions["boundary"],
            "max_photos": config["PHOTO_MAX_COUNT"], "max_photo_bytes": config["PHOTO_MAX_BYTES"],
            **dict(zip(("consent_version", "consent_text"), consent_today(_lang()))),
            "secret_key": config["SECRET_KEY"]}


@bp.post("/report")
# Reports stored per address (regulamin pkt 7: abuse protection); a resident correcting
# mistakes (422) is not counted here, only by the looser limit on attempts, which caps the
# photo processing one address can ask for.
@limiter.limit(_report_rate_limit, methods=["POST"], deduct_when=_stored)
@limiter.limit(_attempt_rate_limit, methods=["POST"])
def create():
    """Accept a report (multipart form). Answers HTML, an htmx fragment, or JSON (``Accept:
    application/json``, used by the offline sync): 201 created, 200 for a replayed
    ``client_id``, 422 with field errors, 503 when reporting is switched off."""
    if not current_app.config.get("REPORTS_ENABLED", True):
        abort(503)
    form = ReportForm()
    try:
        submitted = submit_report(form.to_input(), **_submission_settings())
    except SubmissionError as e:
        return _respond_errors(form, e.errors)
    except DecodeBusy:
        return _respond_busy(form)
    except StorageUnavailable:
        current_app.logger.exception("photo storage unavailable; report not stored")
        return _respond_storage_unavailable(form)
    return _respond_submitted(submitted)


def _respond_busy(form: ReportForm):
    """503 with Retry-After: every photo decode slot stayed taken (webapp/photos/limits.py).
    Nothing was stored. The offline app's outbox (JSON) sends the report again by itself, an
    htmx form keeps its fields and shows the message, a plain form is shown again filled in."""
    message = _("Many photos are being processed right now. Your report has not been sent yet: "
                "try again in a minute.")
    if wants_json() or is_htmx():
        response = current_app.make_response(render_error(503, message))
    else:
        response = current_app.make_response((render_template(
            "reports/new.html", form=form, errors={"media": [message]},
            photos_lost=bool(form.media.data)), 503))
    response.headers["Retry-After"] = "30"
    return response


#: ``sent`` on the tracking page a plain form is sent to: a new report, or a replayed client_id.
SENT_NEW, SENT_AGAIN = "1", "again"


def _respond_submitted(submitted: Submitted):
    report = submitted.report
    track = url_for("reports.track", token=submitted.tracking_token)
    sent = {
        "service_request_id": str(report.id),
        "number": report.number,
        "status": report.status,
        "created": submitted.created,
        "public_url": url_for("reports.detail", report_id=report.id),
        "tracking_url": track,
    }
    if wants_json():
        return jsonify(sent), (201 if submitted.created else 200)
    if is_htmx():
        response = current_app.make_response(render_template(
            "reports/_sent.html", report=report, tracking_url=track, created=submitted.created))
        # For static/js/drafts.js ("my reports" on the device), instead of scraping the fragment.
        response.headers["HX-Trigger"] = json.dumps({"report-sent": {**sent, "client_id": report.client_id}})
        return response
    # The tracking page says "thank you" for ?sent=1 and "already sent" for a replay (?sent=again).
    sent_as = SENT_NEW if submitted.created else SENT_AGAIN
    return redirect(url_for("reports.track", token=submitted.tracking_token, sent=sent_as), 303)


def _respond_storage_unavailable(form: ReportForm):
    """503 when photo files cannot be written: nothing was stored, the resident's text stays
    (the page re-rendered with it; htmx keeps its form and the offline sync retries)."""
    message = _("Photos cannot be saved right now because of a fault on our side. The report "
                "was not sent; what you typed is kept. Try again in a few minutes.")
    headers = {"Retry-After": "120"}
    if wants_json():
        return jsonify({"errors": {"media": [message]}}), 503, headers
    if is_htmx():
        return render_error(503, message)[0], 503, headers
    return render_template("reports/new.html", form=form, errors={"media": [message]},
                           photos_lost=bool(form.media.data)), 503, headers


def _respond_errors(form: ReportForm, errors: dict):
    if wants_json():
        return jsonify({"errors": {k: [str(m) for m in v] for k, v in errors.items()}}), 422
    if is_htmx():
        response = current_app.make_response(
            (render_template("reports/_errors_oob.html", errors=errors, fields=FORM_FIELDS), 422))
        response.headers["HX-Reswap"] = "none"  # keep the form (and its chosen files) as it is
        return response
    return render_template("reports/new.html", form=form, errors=errors, photos_lost=bool(form.media.data)), 422


# Rendered category and status choices of the list's form (~40 options, a tenth of the list's
# render time), per app and process; at most every known (category, status) per language.
_FILTER_CACHE_SIZE = 2048


def filter_fields_html(config, lang: str, filters: queries.ReportFilters) -> Markup:
    """The list form's category and status ``<select>``s (``reports/_filter_fields.html``)
    with ``filters``' choice selected, for routing ``config`` in ``lang``. Rendered once per
    (routing config, language, script root, choice) and kept, unless templates auto-reload
    (development); the filters are already checked, so the choices are known values."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    cache = app.extensions.setdefault("reports.filter_fields", {})
    key = (id(config), lang, request.script_root, filters.service_code, filters.status)
    found = cache.get(key)
    if found is not None and found[0] is config:  # the same file, not a new one at its id
        return found[1]
    html = Markup(render_template(
        "reports/_filter_fields.html", statuses=list(Status),
        filters=queries.ReportFilters(service_code=filters.service_code, status=filters.status),
        groups=[(group.name(lang), services) for group, services in config.grouped()]))
    if not app.jinja_env.auto_reload:
        if len(cache) >= _FILTER_CACHE_SIZE:
            cache.clear()
        cache[key] = (config, html)
    return html


@bp.get("/reports")
def index():
    """Public list of reports, newest first, filtered by ``service_code`` and ``status``
    (ours or ``open``/``closed``), paged by the cursors ``before``/``after``. Bad values are
    ignored with a message, never an error."""
    config, lang = current_routing(), _lang()
    filters = queries.parse_filters(request.args, config.services.keys())
    context = {
        "filters": filters,
        "page": queries.list_reports(filters),
        "filter_fields": filter_fields_html(config, lang, filters),
        "service_name": lambda code: config.category_name(code, lang),
        "list_target": LIST_TARGET,
    }
    template = "reports/_list.html" if wants_fragment(LIST_TARGET) else "reports/index.html"
    response = make_response(render_template(template, **context))
    response.vary.add("HX-Target")
    return response


@bp.get("/reports/<int:report_id>")
def detail(report_id: int):
    """Public page of one report; 404 for an unknown id."""
    page = detail_page(report_id)
    if page is None:
        abort(404)
    return page


def detail_page(report_id: int, **extra) -> str | None:
    """The public page of one report as HTML, None for an unknown id. ``extra`` goes to the
    template: ``support_form`` shows the "me too" form again as sent, with its errors
    (webapp.citymap.views, without JavaScript)."""
    found = queries.report_page(report_id)
    if found is None:
        return None
    report, config, lang = found.report, current_routing(), _lang()
    return render_template(
        "reports/detail.html",
        report=report,
        lang=lang,
        category=config.category_name(report.service_code, lang),
        group=config.group_name(report.service_code, lang),
        description=queries.public_description(report),
        photos=found.photos,
        unit=config.unit_name(report.agency_responsible),
        why=explain(config, report.routing_rule, report.agency_responsible)
        if report.agency_responsible else None,
        history=queries.timeline(config, report, found.history),
        **extra,
    )


@bp.get("/t/<token>")
def track(token: str):
    """The resident's private tracking page (no account: the URL is the key)."""
    report = find_by_tracking_token(token)
    if report is None:
        abort(404)
    config, sent = current_routing(), request.args.get("sent")
    response = current_app.make_response(render_template(
        "reports/track.html", report=report, sent=sent in (SENT_NEW, SENT_AGAIN),
        created=sent == SENT_NEW,
        tracking_url=url_for("reports.track", token=token),
        category=config.category_name(report.service_code, _lang()),
        unit=config.unit_name(report.agency_responsible),
        history=queries.timeline(config, report)))
    return private_page(response)
