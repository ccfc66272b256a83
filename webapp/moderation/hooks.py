"""How moderation reacts to the public side: holding a submission for the content rules,
remembering (hashed) where it came from, e-mailing the operators, refusing blocked submitters
and honouring the runtime switches, and the public banner."""
from __future__ import annotations

from flask import Flask, current_app, has_request_context, request
from flask_babel import force_locale, gettext as _

from webapp.clock import utcnow
from webapp.dispatch import services as dispatch_services
from webapp.dispatch.services import absolute_url, enqueue, mail_context
from webapp.errors import render_error
from webapp.extensions import db
from webapp.moderation import switches
from webapp.moderation.content import check_text
from webapp.moderation.models import ContentHold, SubmissionOrigin
from webapp.moderation.photos import hidden_ids, visible
from webapp.moderation.services import address_hash, is_blocked, queue_size
from webapp.reports import queries as report_queries
from webapp.reports import services as report_services
from webapp.reports.models import Status
from webapp.reports.signals import report_submitted

#: Endpoints through which residents submit reports.
SUBMIT_ENDPOINTS = frozenset({"reports.create"})


def hold_for_content(report) -> bool:
    """``HOLD_CHECKS`` entry: True (and a :class:`ContentHold` row with the reasons) when the
    report's public text breaks the content rules, so it waits for an operator even in an
    "auto" category. Runs inside the submission's transaction."""
    reasons = check_text(report.public_description) + \
        check_text(report.address_string or "")
    if not reasons:
        return False
    db.session.add(ContentHold(report_id=report.id, reasons=reasons, created_at=utcnow()))
    return True


def notices_switched_on(report, change) -> bool:
    """``NOTICE_CHECKS`` entry: False while an admin has switched status notices to residents
    off (regulamin pkt 10); the change itself still happens and shows on the report's page."""
    return switches.is_on("notices")


def on_submitted(report, **_kwargs) -> None:
    """``report_submitted`` receiver: keep the keyed hash of the sender's address, and when
    the report waits for moderation, tell the operators (batched)."""
    if getattr(report, "_moderation_seen", False):  # sent twice for one report: act once
        return
    report._moderation_seen = True
    if has_request_context() and request.remote_addr:
        db.session.add(SubmissionOrigin(report_id=report.id,
                                        key_hash=address_hash(request.remote_addr)))
    if report.status == Status.AWAITING_MODERATION.value:
        notify_operators()


def notify_operators(now=None):
    """Enqueue the "work is waiting" e-mail to ``OPERATORS_EMAIL`` (no commit), at most one
    per ``OPERATORS_NOTIFY_MINUTES`` (15): the outbox dedupe key names the time slot, so a busy
    hour is four messages at most, not fifty. Returns the outbox row, or None when no address
    is configured."""
    address = current_app.config.get("OPERATORS_EMAIL")
    if not address:
        return None
    now = now or utcnow()
    period = max(1, int(current_app.config.get("OPERATORS_NOTIFY_MINUTES", 15))) * 60
    slot = int(now.timestamp()) // period
    with mail_context():
        url = absolute_url("moderation.queue")
        count = queue_size()
        subject = _("Reports await moderation")
        text = _("Reports are waiting in the moderation queue (%(count)d now). Open the queue: "
                 "%(url)s", count=count, url=url) + "\n"
    payload = {"to": [address], "subject": subject, "text": text, "html": None,
               "headers": {}, "report_id": None}
    return enqueue("operators", f"operators:{slot}", payload)


def _gate():
    """Before each request: blocked submitters and switched-off features get a clear Polish
    message; maintenance answers writes with 503 (pages stay readable, staff keep working)."""
    if request.path.startswith(("/static/", "/admin")) or request.path == "/healthz":
        return None
    write = request.method not in ("GET", "HEAD", "OPTIONS")
    if not write:
        if request.endpoint in ("photos.public", "photos.thumb"):
            if hidden_ids([(request.view_args or {}).get("photo_id")]):
                return render_error(404, _("This page does not exist."))
        return None
    state = switches.current()
    if state["maintenance"]:
        response = _switched_off("maintenance", _(
            "Technical break: sending is paused. Your draft stays on your phone; send it later. "
            "In an emergency call 112."))
        response.headers["Retry-After"] = "3600"
        return response
    if request.endpoint in SUBMIT_ENDPOINTS:
        if request.remote_addr and is_blocked(request.remote_addr):
            return render_error(403, _("Reports from your connection are blocked for a time "
                                       "because of abuse of the portal (regulamin pkt 7). If "
                                       "you think this is a mistake, write to the portal's "
                                       "administrator."))
        if not state["reports"]:
            return _switched_off("reports", _("New reports are not being accepted at the moment. "
                                              "Your draft stays on your phone; send it later."))
        if not state["photos"] and any(f.filename for f in request.files.getlist("media")):
            return _switched_off("photos", _("Photo uploads are switched off at the moment: "
                                             "remove the photos and send the report without them."))
    return None


#: Response header naming the switch that refused a write: the page's scripts tell it from a
#: server that is down (a 503 without it) and say why the draft waits (or, for photos, what to fix).
SWITCH_HEADER = "X-Switched-Off"


def _switched_off(name: str, message: str):
    """A 503 with ``message`` (HTML with a role=alert box, or JSON ``[{code, description}]``)
    and :data:`SWITCH_HEADER` = ``name`` (``maintenance``, ``reports`` or ``photos``)."""
    response = current_app.make_response(render_error(503, message))
    response.headers[SWITCH_HEADER] = name
    return response


def init_app(app: Flask) -> None:
    """Register the hold check, the notice check, the signal receiver, the gate and the banner."""
    if hold_for_content not in report_services.HOLD_CHECKS:
        report_services.HOLD_CHECKS.append(hold_for_content)
    if notices_switched_on not in dispatch_services.NOTICE_CHECKS:
        dispatch_services.NOTICE_CHECKS.append(notices_switched_on)
    if visible not in report_queries.PHOTO_FILTERS:
        report_queries.PHOTO_FILTERS.append(visible)
    report_submitted.connect(on_submitted, weak=False)
    app.before_request(_gate)

    @app.context_processor
    def _banner():
        if not has_request_context() or request.path.startswith("/static/"):
            return {}
        # The report form leaves out the photo pickers while uploads are off (read fresh).
        return {"site_banners": switches.banners,
                "photo_uploads_on": lambda: switches.is_on("photos")}
