"""The department link page: a unit's staff open the signed link from the dispatch e-mail, see
the report and set its status. No login: the link is the credential (issue 2).

URL map::

    GET  /departments/links/<token>                               departments.show
    POST /departments/links/<token>                               departments.update
    GET  /departments/links/<token>/photos/<photo_id>/original    departments.photo_original

Every response of this blueprint is private: ``Cache-Control: private, no-store`` (the page
holds a credential and personal data), ``X-Robots-Tag: noindex`` and ``Referrer-Policy:
same-origin`` (so the token never leaks to OpenStreetMap or elsewhere through Referer; not
``no-referrer``, with which Chromium sends ``Origin: null`` on the status form's POST and the
same-origin check refuses it).
"""
from __future__ import annotations

from flask import (Blueprint, current_app, flash, get_flashed_messages, redirect, render_template, request,
                   url_for)
from flask_babel import get_locale
from flask_babel import gettext as _

from webapp.departments.forms import StatusForm
from webapp.departments.services import (LinkError, change_status_through_link, resolve_token,
                                         touch_link)
from webapp.extensions import db, limiter
from webapp.geo import osm_url
from webapp.negotiation import is_htmx, wants_fragment
from webapp.photos.models import Photo
from webapp.photos.views import send_original
from webapp.reports.lifecycle import NOTE_MAX_LENGTH, StatusError, allowed_next
from webapp.reports.models import Status
from webapp.routing.services import current_routing, explain
from webapp.security import private_page

bp = Blueprint("departments", __name__, url_prefix="/departments")

FORM_ID = "status-form"


@bp.after_request
def _private(response):
    private_page(response)
    response.vary.add("HX-Target")
    return response


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
    routing = current_routing()
    choices = sorted(((u.id, u.name) for u in routing.units.values() if u.id != link.unit_id),
                     key=lambda pair: pair[1])
    return StatusForm.for_report(report, allowed_next(report, actor_kind="unit"), choices,
                                 **kwargs)


def _context(link, form, **extra) -> dict:
    report = link.report
    routing = current_routing()
    return {
        "link": link,
        "token": extra.pop("token"),
        "report": report,
        "form": form,
        "category": routing.category_name(report.service_code, str(get_locale() or "pl")),
        "unit_name": routing.unit_name,
        "map_url": osm_url(report.lat, report.long),
        "why": explain(routing, report.routing_rule, link.unit_id),
        "Status": Status,
        "note_max_length": NOTE_MAX_LENGTH,
        **extra,
    }


@bp.get("/links/<token>")
def show(token: str):
    """The report, its history and the status form."""
    try:
        link = resolve_token(token)
    except LinkError as exc:
        return _link_error(exc)
    touch_link(link)
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
    form = _form(link.report, link)
    try:
        change = change_status_through_link(
            link, status=form.status.data or "", note=form.note.data or "",
            target_unit=form.target_unit.data or None, routing=current_routing())
    except StatusError as exc:
        return _refused(token, link, form, exc)
    return _saved(token, link, form, change)


def _refused(token: str, link, form: StatusForm, exc: StatusError):
    """422 with the refusal next to its field (or above the form), keeping what was typed."""
    asked = form.status.data or ""
    if asked in Status._value2member_map_ and \
            asked not in {value for value, _label in form.status.choices}:
        # A stale page: a colleague changed the status meanwhile, so the status chosen is no
        # longer offered. Say so and show the fresh history and choices, not "Invalid choice".
        note = form.note.data
        form = _form(link.report, link, formdata=None)
        form.note.data = note
        field, form_error = None, _(
            "The status changed meanwhile: it is now “%(status)s”. Nothing was saved; see the "
            "history and choose again.", status=Status(link.report.status).label)
    else:
        field = getattr(form, exc.field, None) if exc.field else None
        if field is not None:
            field.errors = [*field.errors, exc.message]
        form_error = None if field is not None else exc.message
    fragment = wants_fragment(FORM_ID)
    template = "departments/_status_form.html" if fragment else "departments/show.html"
    return render_template(template, **_context(link, form, token=token, oob_history=fragment,
                                                form_error=form_error)), 422


def _saved(token: str, link, form: StatusForm, change):
    """The answer to a recorded change: the forward confirmation (the link is now revoked, so
    no redirect to a 410), the fresh form fragment for htmx, or 303 back to the page."""
    fragment = wants_fragment(FORM_ID)
    if change.status == Status.FORWARDED.value:
        context = _context(link, form, token=token, oob_history=fragment,
                           new_unit=current_routing().unit_name(link.report.agency_responsible))
        template = "departments/_forwarded.html" if fragment else "departments/forwarded.html"
        return render_template(template, **context)
    message = _("Saved: the status is now “%(status)s”.", status=Status(change.status).label)
    if fragment:
        fresh = _form(link.report, link, formdata=None)
        return render_template("departments/_status_form.html", oob_history=True,
                               **_context(link, fresh, token=token, confirmation=message))
    flash(message, "department-saved")
    return redirect(url_for("departments.show", token=token), 303)


@bp.get("/links/<token>/photos/<int:photo_id>/original")
def photo_original(token: str, photo_id: int):
    """The original photo as the resident sent it, only for photos of the link's report."""
    try:
        link = resolve_token(token)
    except LinkError as exc:
        return _link_error(exc)
    photo = db.session.get(Photo, photo_id)
    if photo is None or photo.report_id != link.report_id:
        return render_template("departments/link_error.html", status=404, reason="photo",
                               message=_("This photo does not belong to this report.")), 404
    return send_original(photo)
