"""The panel's pages: the queue and its htmx actions, a report's page, dead outbox messages,
switches and blocks. Thin: parse, call one service, commit, render."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from webapp.auth.access import staff_required
from webapp.extensions import db
from webapp.moderation import outbox as dead_outbox
from webapp.moderation import photos as photo_moderation
from webapp.moderation import services, switches
from webapp.moderation.services import ModerationError, QueueFilters
from webapp.negotiation import is_htmx
from webapp.photos.models import Photo
from webapp.photos.views import send_original, send_thumbnail_privately
from webapp.reports.models import Report
from webapp.routing.services import current_routing, explain

bp = Blueprint("moderation", __name__, url_prefix="/admin")

ACTIONS = ("approve", "reroute", "edit", "reject", "note", "resend_link", "revoke_links", "block",
           "hide_photo", "show_photo", "rotate_photo")


def _user():
    return current_user._get_current_object()


def _routing():
    return current_routing()


def _row_context(report: Report, **extra) -> dict:
    routing = _routing()
    return {"report": report, "hold": services.hold_of(report),
            "nearby": services.nearby_open(report), "notes": services.notes_of(report),
            "routing": routing, "why": explain(routing, report.routing_rule,
                                               report.agency_responsible),
            "reasons": services.REJECT_REASONS,
            "awaiting": report.status == "awaiting_moderation",
            "photo_states": {p.id: photo_moderation.state(p) for p in report.photos}, **extra}


@bp.get("/")
@staff_required()
def home():
    return redirect(url_for("moderation.queue"))


@bp.get("/queue")
@staff_required()
def queue():
    """Reports awaiting moderation, oldest first; filters ``category``, ``held``, ``q``."""
    filters = QueueFilters(category=request.args.get("category", "")[:64],
                           held=request.args.get("held") == "1", q=request.args.get("q", "")[:200])
    reports = services.queue(filters)
    return render_template("moderation/queue.html", reports=reports, filters=filters,
                           rows=[_row_context(r) for r in reports], routing=_routing())


@bp.get("/reports/<int:report_id>")
@staff_required()
def report(report_id: int):
    """One report with every action, also after a decision (links, blocks)."""
    item = db.session.get(Report, report_id) or abort(404)
    return render_template("moderation/report.html", row=_row_context(item), routing=_routing())


def _report_photo(report_id: int, photo_id: int) -> Photo:
    photo = db.session.get(Photo, photo_id)
    if photo is None or photo.report_id != report_id:
        abort(404)
    return photo


@bp.get("/reports/<int:report_id>/photos/<int:photo_id>")
@staff_required()
def photo_original(report_id: int, photo_id: int):
    """The original photo as uploaded (EXIF included), for operators only."""
    return send_original(_report_photo(report_id, photo_id))


@bp.get("/reports/<int:report_id>/photos/<int:photo_id>/thumb.jpg")
@staff_required()
def photo_thumb(report_id: int, photo_id: int):
    """The thumbnail for the panel's row of a photo hidden from the public (whose public
    thumbnail answers 404), for operators only; ``private, no-store``."""
    return send_thumbnail_privately(_report_photo(report_id, photo_id))


def _perform(report: Report, action: str):
    form = request.form
    user = _user()
    routing = _routing()
    if action == "approve":
        services.approve(report, user, routing=routing, note=form.get("note", ""))
    elif action == "reroute":
        services.reroute(report, user, routing=routing, service_code=form.get("service_code", ""),
                         unit_id=form.get("unit", ""), reason=form.get("reason", ""))
    elif action == "edit":
        services.edit_description(report, user, form.get("public_description", ""))
    elif action == "reject":
        duplicate_of = None
        if form.get("reason") == "duplicate":
            duplicate_of = services.duplicate_target(form.get("duplicate_of", ""))
        services.reject(report, user, routing=routing, reason_key=form.get("reason", ""),
                        text=form.get("text", ""), duplicate_of=duplicate_of)
    elif action == "note":
        services.add_note(report, user, form.get("note", ""))
    elif action == "resend_link":
        services.resend_link(report, user, routing=routing)
    elif action == "revoke_links":
        services.revoke_link(report, user)
    elif action in ("hide_photo", "show_photo", "rotate_photo"):
        raw = form.get("photo_id", "")
        photo_id = int(raw) if raw.isdigit() else 0
        if action == "rotate_photo":
            photo_moderation.rotate(report, photo_id, user)
        else:
            photo_moderation.set_hidden(report, photo_id, user, hidden=action == "hide_photo")
    elif action == "block":
        if not user.is_admin:
            abort(403)
        days = form.get("days", "")
        services.block_submitter(report, user, days=int(days) if days.isdigit() else 0,
                                 reason=form.get("reason", ""))


def _refusal(action: str, exc: ModerationError) -> dict:
    """Row context of a refused action: the message, the form (``error_action``) and field
    (``error_field``) it belongs to, so the row re-opens that form with the message next to
    the field, and what the operator had typed (``submitted``)."""
    return {"error": exc.message, "error_action": action, "error_field": exc.field,
            "submitted": request.form}


@bp.post("/reports/<int:report_id>/<action>")
@staff_required()
def act(report_id: int, action: str):
    """Run one action; htmx gets the updated row (422 with the message when refused), a plain
    form post a redirect back to the row."""
    if action not in ACTIONS:
        abort(404)
    item = db.session.get(Report, report_id) or abort(404)
    refused = None
    try:
        _perform(item, action)
    except ModerationError as exc:
        db.session.rollback()
        refused = _refusal(action, exc)
    else:
        db.session.commit()
    if is_htmx():
        return render_template("moderation/_row.html", **_row_context(
            item, **(refused or {"done": action}))), (422 if refused else 200)
    if refused:
        return render_template("moderation/report.html", row=_row_context(item, **refused),
                               routing=_routing()), 422
    target = request.form.get("back") == "report"
    return redirect(url_for("moderation.report", report_id=item.id) if target
                    else url_for("moderation.queue") + f"#report-{item.id}", code=303)


@bp.get("/outbox")
@staff_required()
def outbox():
    """Messages the worker gave up on, with their errors."""
    return render_template("moderation/outbox.html", messages=dead_outbox.dead_messages())


@bp.post("/outbox/<int:message_id>")
@staff_required()
def outbox_resend(message_id: int):
    """Fix the recipient and send again."""
    try:
        dead_outbox.resend(message_id, request.form.get("to", ""), actor=_user())
    except ModerationError as exc:
        db.session.rollback()
        return render_template("moderation/outbox.html", messages=dead_outbox.dead_messages(),
                               error=exc.message, error_id=message_id), 422
    db.session.commit()
    return redirect(url_for("moderation.outbox"), code=303)


@bp.route("/switches", methods=["GET", "POST"])
@staff_required("admin")
def switches_page():
    """The admin's runtime switches (regulamin pkt 10)."""
    if request.method == "POST":
        name = request.form.get("name", "")
        if name not in switches.SWITCHES:
            abort(400)
        switches.flip(name, request.form.get("enabled") == "1", actor=_user())
        db.session.commit()
        return redirect(url_for("moderation.switches_page"), code=303)
    return render_template("moderation/switches.html", state=switches.current(),
                           switches=switches.SWITCHES, blocks=services.active_blocks())


@bp.post("/blocks/<int:block_id>/lift")
@staff_required("admin")
def lift_block(block_id: int):
    """End a submitter's block early."""
    try:
        services.lift_block(block_id, _user())
    except ModerationError:
        db.session.rollback()
        abort(404)
    db.session.commit()
    return redirect(url_for("moderation.switches_page"), code=303)
