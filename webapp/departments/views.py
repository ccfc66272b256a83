"""The department link page: a unit's staff open the signed link from the dispatch e-mail, see
the report and set its status. No login: the link is the credential (issue 2).

URL map::

    GET  /departments/links/<token>                               departments.show
    POST /departments/links/<token>                               departments.update
    GET  /departments/links/<token>/photos/<photo_id>/original    departments.photo_original

Every response of this blueprint is private: ``Cache-Control: private, no-store`` (the page
holds a credential and personal data), ``X-Robots-Tag: noindex`` and ``Referrer-Policy:
no-referrer`` (so the token never leaks to OpenStreetMap or elsewhere through Referer).
"""
from __future__ import annotations

from flask import (Blueprint, current_app, flash, get_flashed_messages, redirect, render_template, request,
                   url_for)
from flask_babel import gettext as _
from sqlalchemy.orm.exc import StaleDataError

from webapp.clock import utcnow
from webapp.departments.forms import StatusForm
from webapp.departments.services import (LinkError, category_name, osm_url, resolve_token,
                                         unit_name, units)
from webapp.extensions import db, limiter
from webapp.negotiation import is_htmx, wants_fragment
from webapp.reports.lifecycle import StatusError, allowed_next, find_replay, set_status
from webapp.reports.models import Status
from webapp.routing.services import current_routing, explain

bp = Blueprint("departments", __name__, url_prefix="/departments")

FORM_ID = "status-form"


@bp.after_request
def _private(response):
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.vary.add("HX-Target")
    return response


def _wants_fragment() -> bool:
    """True for an htmx request aimed at the status form (see :mod:`webapp.negotiation`)."""
    return wants_fragment(FORM_ID)


def _link_error(exc: LinkError):
    status = 404 if exc.reason == "invalid" else 410
    response = render_template("departments/link_error.html", message=exc.message,
                               reason=exc.reason, status=status)
    headers = {}
    if is_htmx() and request.method == "POST":
        # htmx does not swap 4xx answers: send the browser to the full error page instead.
        headers["HX-Redirect"] = request.path
    return response, status, headers


def _form(report, link, **kwargs) -> StatusForm:
    choices = sorted(((u.id, u.name) for u in units().values() if u.id != link.unit_id),
                     key=lambda pair: pair[1])
    return StatusForm.for_report(report, allowed_next(report, actor_kind="unit"), choices,
                                 **kwargs)


def _context(link, form, **extra) -> dict:
    report = link.report
    return {
        "link": link,
        "token": extra.pop("token"),
        "report": report,
        "form": form,
        "category": category_name(report.service_code, _current_lang()),
        "unit_name": unit_name,
        "map_url": osm_url(report.lat, report.long),
        "why": explain(current_routing(), report.routing_rule, link.unit_id),
        "Status": Status,
        **extra,
    }


def _current_lang() -> str:
    from flask_babel import get_locale
    return str(get_locale() or "pl")


def _touch(link) -> None:
    link.last_used_at = utcnow()
    db.session.commit()


@bp.get("/links/<token>")
def show(token: str):
    """The report, its history and the status form."""
    try:
        link = resolve_token(token)
    except LinkError as exc:
        return _link_error(exc)
    _touch(link)
    form = _form(link.report, link, formdata=None)
    confirmation = " ".join(get_flashed_messages(category_filter=["department-saved"]))
    return render_template("departments/show.html",
                           **_context(link, form, token=token, confirmation=confirmation))


def _unit_rate_limit() -> str:
    return current_app.config["UNIT_RATE_LIMIT"]


@bp.post("/links/<token>")
@limiter.limit(_unit_rate_limit)
def update(token: str):
    """Set the status. 303 back to the page (or the fresh form fragment for htmx); 422 with
    the errors next to the fields, keeping what was typed, when the input is refused."""
    try:
        link = resolve_token(token)
    except LinkError as exc:
        return _link_error(exc)
    report = link.report
    form = _form(report, link)
    fragment = _wants_fragment()
    form_error = None
    # A resend of the change just made (its status is no longer offered, so the form itself
    # would refuse it) answers as the first request did.
    change = find_replay(report, request.form.get("status", ""), request.form.get("note", ""),
                         "unit", link.unit_id)
    if change is None and form.validate_on_submit():
        try:
            change = _change_status(report, link, form.status.data, form.note.data or "",
                                    form.target_unit.data or None)
        except StatusError as exc:
            db.session.rollback()
            field = getattr(form, exc.field, None) if exc.field else None
            if field is not None:
                field.errors = [*field.errors, exc.message]
            else:
                form_error = exc.message
    if change is not None:
        if change.status == Status.FORWARDED.value:
            # This link is now revoked: confirm here instead of redirecting to a 410.
            context = _context(link, form, token=token, oob_history=fragment,
                               new_unit=unit_name(report.agency_responsible))
            template = "departments/_forwarded.html" if fragment else \
                "departments/forwarded.html"
            return render_template(template, **context)
        message = _("Saved: the status is now “%(status)s”.", status=Status(change.status).label)
        if fragment:
            fresh = _form(report, link, formdata=None)
            return render_template("departments/_status_form.html", oob_history=True,
                                   **_context(link, fresh, token=token,
                                              confirmation=message))
        flash(message, "department-saved")
        return redirect(url_for("departments.show", token=token), 303)
    asked = request.form.get("status", "")
    if form_error is None and asked in Status._value2member_map_ and \
            asked not in {value for value, _label in form.status.choices}:
        # A stale page: a colleague changed the status meanwhile, so the status chosen is no
        # longer offered. Say so and show the fresh history and choices, not "Invalid choice".
        form_error = _("The status changed meanwhile: it is now “%(status)s”. Nothing was saved; "
                       "see the history and choose again.", status=Status(report.status).label)
        form = _form(report, link, formdata=None)
        form.note.data = request.form.get("note", "")
    template = "departments/_status_form.html" if fragment else "departments/show.html"
    return render_template(template, **_context(link, form, token=token, oob_history=fragment,
                                                form_error=form_error)), 422


def _change_status(report, link, status: str, note: str, target_unit: str | None):
    """Apply and commit one status change for the link's unit; return the StatusChange.

    Two requests racing on one report (several gunicorn workers, a double submit without
    JavaScript) cannot both win: the report's version column makes the loser's UPDATE fail
    (StaleDataError). The loser then reloads the report and decides once more, which turns a
    duplicate into a replay and a conflicting change into a clear refusal (StatusError).
    """
    for attempt in range(2):
        try:
            change = set_status(report, status, actor_kind="unit", actor_id=link.unit_id,
                                note=note, target_unit=target_unit)
            link.last_used_at = change.created_at
            db.session.commit()
            return change
        except StaleDataError:
            db.session.rollback()  # expires the report: the next attempt reads it afresh
            if attempt:
                raise
    raise AssertionError("unreachable")


@bp.get("/links/<token>/photos/<int:photo_id>/original")
def photo_original(token: str, photo_id: int):
    """The original photo as the resident sent it, only for photos of the link's report."""
    from webapp.photos.models import Photo
    from webapp.photos.views import send_original

    try:
        link = resolve_token(token)
    except LinkError as exc:
        return _link_error(exc)
    photo = db.session.get(Photo, photo_id)
    if photo is None or photo.report_id != link.report_id:
        return render_template("departments/link_error.html", status=404, reason="photo",
                               message=_("This photo does not belong to this report.")), 404
    return send_original(photo)
