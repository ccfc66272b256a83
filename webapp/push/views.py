"""Notification endpoints: the VAPID public key, subscribing a phone to a report, and the
one-click ways to stop (push from the tracking page or the notification; e-mail from the
tracking page, the link in every message, or the mail client's RFC 8058 button). Thin: parse,
call a service, answer."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from webapp.citymap.services import find_support_by_token
from webapp.extensions import csrf, limiter
from webapp.i18n import select_locale
from webapp.negotiation import wants_json
from webapp.push import services
from webapp.security import private_page
from webapp.reports.services import consent_today, find_by_tracking_token
from webapp.push.forms import EmailConsentForm

bp = Blueprint("push", __name__)


def _report_or_404(token: str):
    report = find_by_tracking_token(token)
    if report is None:
        abort(404)
    return report


def _write_limit() -> str:
    return current_app.config.get("PUSH_RATE_LIMIT", "30 per hour;10 per minute")


@bp.get("/push/key")
def public_key():
    """``{"publicKey": base64url}``: the VAPID key a browser subscribes with."""
    return jsonify({"publicKey": current_app.extensions["push"]["public_key"]})


@bp.post("/t/<token>/push")
@limiter.limit(_write_limit)
def subscribe(token: str):
    """Subscribe this browser (JSON ``PushSubscription``) to the report; CSRF token in the
    ``X-CSRFToken`` header. 201 ``{"subscribed": true}``, 422 ``{"error": message}``."""
    report = _report_or_404(token)
    try:
        services.subscribe(report, request.get_json(silent=True), lang=select_locale())
    except services.SubscriptionError as e:
        return private_page(jsonify({"error": e.message})), 422
    return private_page(jsonify({"subscribed": True,
                             "message": _("Notifications on this device are on.")})), 201


@bp.post("/t/<token>/push/unsubscribe")
@limiter.limit(_write_limit)
def unsubscribe(token: str):
    """Stop push for this report: the browser's ``endpoint`` (JSON) or, from the plain form,
    every device. JSON ``{"removed": n}`` or back to the tracking page."""
    report = _report_or_404(token)
    data = request.get_json(silent=True) if request.is_json else None
    endpoint = data.get("endpoint") if isinstance(data, dict) and isinstance(data.get("endpoint"), str) else None
    removed = services.unsubscribe(report, endpoint)
    if wants_json() or request.is_json:
        return private_page(jsonify({"removed": removed,
                                 "message": _("Notifications on this device are off.")}))
    return redirect(url_for("reports.track", token=token, stopped="push"), 303)


@bp.route("/push/stop/<token>", methods=["GET", "POST"])
@limiter.limit(_write_limit, methods=["POST"])
def unsubscribe_link(token: str):
    """The "stop" link inside a notification. GET shows a button (link scanners and previews
    must not unsubscribe); POST removes that one subscription."""
    if request.method == "GET":
        return private_page(current_app.make_response(render_template(
            "push/stop.html", action=url_for("push.unsubscribe_link", token=token),
            channel="push", done=False)))
    result = services.unsubscribe_by_token(token)
    if result is None:
        abort(404)
    return private_page(current_app.make_response(render_template("push/stop.html", channel="push", done=True)))


def _unsubscribe(holder, withdraw, *, action: str, back: str):
    """The one-click unsubscribe of ``holder`` (a report or a "me too" support): GET a page with
    one button posting to ``action``; POST ``withdraw(holder)``, then an empty 200 for a mail
    client's RFC 8058 ``List-Unsubscribe=One-Click``, else the done page linking ``back``."""
    if request.method == "GET":
        return private_page(current_app.make_response(render_template(
            "push/stop.html", action=action, channel="email", done=not holder.email)))
    withdraw(holder)
    if request.form.get("List-Unsubscribe") == "One-Click":
        return private_page(current_app.make_response(("", 200)))
    return private_page(current_app.make_response(render_template(
        "push/stop.html", channel="email", done=True, tracking_url=back)))


@bp.route("/t/<token>/email/unsubscribe", methods=["GET", "POST"])
@csrf.exempt  # RFC 8058 one-click: the mail client POSTs without our form; the URL is the secret
@limiter.limit(_write_limit, methods=["POST"])
def email_unsubscribe(token: str):
    """Withdraw the e-mail consent of a report. GET: a page with one button. POST (the button,
    the tracking page, or a mail client's ``List-Unsubscribe=One-Click``): the address and the
    consent record are erased and queued notices dropped. Idempotent; 404 for an unknown token."""
    report = find_by_tracking_token(token)
    if report is None:
        abort(404)
    return _unsubscribe(report, services.withdraw_email_consent,
                        action=url_for("push.email_unsubscribe", token=token),
                        back=url_for("reports.track", token=token))


@bp.route("/supports/<token>/email/unsubscribe", methods=["GET", "POST"])
@csrf.exempt  # RFC 8058 one-click: the mail client POSTs without our form; the URL is the secret
@limiter.limit(_write_limit, methods=["POST"])
def support_email_unsubscribe(token: str):
    """The same as :func:`email_unsubscribe` for a "me too" supporter's address (the link in the
    e-mails they get): GET shows one button, POST erases the address and consent of that support
    and drops its queued notices; the support itself still counts. 404 for an unknown token."""
    support = find_support_by_token(token)
    if support is None:
        abort(404)
    return _unsubscribe(support, services.withdraw_support_email_consent,
                        action=url_for("push.support_email_unsubscribe", token=token),
                        back=url_for("reports.detail", report_id=support.report_id))


def _consent_version() -> str:
    """The consent version in force today (:func:`webapp.reports.services.consent_today`)."""
    return consent_today(str(select_locale()))[0]


@bp.route("/t/<token>/email", methods=["GET", "POST"])
@limiter.limit(_write_limit, methods=["POST"])
def email_consent(token: str):
    """E-mail updates for a report sent without an address (offered where push cannot work):
    the address and an explicit consent. 303 back to the tracking page, or 422 with the form."""
    report = _report_or_404(token)
    form = EmailConsentForm()
    if request.method == "POST" and form.validate():
        services.give_email_consent(
            report, form.email.data, consent_text=str(form.consent.label.text),
            consent_version=_consent_version(), lang=select_locale())
        return redirect(url_for("reports.track", token=token) + "#notify", 303)
    status = 422 if request.method == "POST" else 200
    return private_page(current_app.make_response((render_template(
        "push/email.html", form=form, tracking_url=url_for("reports.track", token=token)), status)))
