"""The report form, submission and the private tracking page (thin: parse, call, render)."""
from __future__ import annotations

import json
import uuid

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from webapp.extensions import limiter
from webapp.negotiation import is_htmx, wants_json
from webapp.reports.forms import ReportForm
from webapp.reports.services import (ReportInput, SubmissionError, Submitted, check_report, find_by_client_id,
                                     find_by_tracking_token, submit_report)
from webapp.reports.tracking import tracking_token

bp = Blueprint("reports", __name__)

# Fields whose error containers the form has; an htmx error response refreshes all of them.
FORM_FIELDS = ("service_code", "description", "lat", "media", "address_string", "email", "consent", "client_id")


def _lang() -> str:
    return str(get_locale() or "pl")


def _consent_text() -> str:
    return _("I agree to the processing of my e-mail address to receive updates about this report.")


@bp.get("/report")
def new():
    """The report form, with a fresh ``client_id`` (the offline app makes its own)."""
    form = ReportForm()
    form.client_id.data = str(uuid.uuid4())
    return render_template("reports/new.html", form=form, errors={})


def _report_rate_limit() -> str:
    return current_app.config["REPORT_RATE_LIMIT"]


def _attempt_rate_limit() -> str:
    return current_app.config["REPORT_ATTEMPT_RATE_LIMIT"]


def _stored(response) -> bool:
    return response.status_code < 400


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
    existing = find_by_client_id(str(form.client_id.data or ""))
    if existing is not None:
        return _respond_submitted(Submitted(existing, False, tracking_token(existing.client_id)))

    errors: dict[str, list] = {}
    if not form.validate():
        errors.update({k: list(v) for k, v in form.errors.items() if k != "csrf_token"})
    photos, photo_errors = _read_photos(form)
    if photo_errors:
        errors.setdefault("media", []).extend(photo_errors)
    from webapp.routing.services import current_routing
    data = ReportInput(
        client_id=form.client_id.data, service_code=form.service_code.data,
        description=form.description.data, lat=form.lat.data, long=form.long.data,
        location_source=form.location_source.data or "manual",
        address_string=form.address_string.data, email=form.email.data,
        consent=bool(form.consent.data), photos=photos)
    domain = {"routing": current_routing(), "boundary": current_app.extensions["boundary"],
              "max_photos": current_app.config["PHOTO_MAX_COUNT"]}
    if errors:
        # Show every problem in one round: add the domain checks (location, ...) to the form's.
        for field, messages in check_report(data, **domain)[2].items():
            errors.setdefault(field, messages)
        return _respond_errors(form, errors)
    try:
        submitted = submit_report(data, consent_text=_consent_text(),
                                  consent_version=current_app.config["CONSENT_VERSION"], **domain)
    except SubmissionError as e:
        return _respond_errors(form, e.errors)
    return _respond_submitted(submitted)


def _read_photos(form: ReportForm):
    """Process the uploaded files; returns (photos, error messages). Each file is checked by
    its content (Pillow), never by its name."""
    from webapp.photos.services import PhotoError, process_photo
    limit = current_app.config["PHOTO_MAX_BYTES"]
    files = [f for f in (form.media.data or []) if getattr(f, "filename", None)]
    if len(files) > current_app.config["PHOTO_MAX_COUNT"]:
        return [], [_("You can attach at most %(n)d photos.", n=current_app.config["PHOTO_MAX_COUNT"])]
    photos, errors = [], []
    for upload in files:
        data = upload.stream.read(limit + 1)
        try:
            photos.append(process_photo(data, filename=upload.filename, max_bytes=limit))
        except PhotoError as e:
            errors.append(f"{upload.filename}: {e.message}")
    return photos, errors


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
    return redirect(url_for("reports.track", token=submitted.tracking_token, sent=1), 303)


def _respond_errors(form: ReportForm, errors: dict):
    if wants_json():
        return jsonify({"errors": {k: [str(m) for m in v] for k, v in errors.items()}}), 422
    if is_htmx():
        response = current_app.make_response(
            (render_template("reports/_errors_oob.html", errors=errors, fields=FORM_FIELDS), 422))
        response.headers["HX-Reswap"] = "none"  # keep the form (and its chosen files) as it is
        return response
    return render_template("reports/new.html", form=form, errors=errors, photos_lost=bool(form.media.data)), 422


@bp.get("/t/<token>")
def track(token: str):
    """The resident's private tracking page (no account: the URL is the key)."""
    report = find_by_tracking_token(token)
    if report is None:
        abort(404)
    from webapp.reports.queries import service_name, timeline, unit_name
    from webapp.routing.services import current_routing
    config = current_routing()
    response = current_app.make_response(render_template(
        "reports/track.html", report=report, sent=request.args.get("sent") == "1",
        tracking_url=url_for("reports.track", token=token),
        category=service_name(config, report.service_code, _lang()),
        unit=unit_name(config, report.agency_responsible, _lang()),
        history=timeline(config, report, _lang())))
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
