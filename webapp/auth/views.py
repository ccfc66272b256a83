"""Staff login (password, then TOTP or a recovery code; enrolment at the first login),
logout, "log out everywhere" and the admin's account screen. Thin: parse, call, render."""
from __future__ import annotations

import time

from flask import (Blueprint, abort, current_app, redirect, render_template, request, session,
                   url_for)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from webapp.audit.services import record
from webapp.auth import services
from webapp.auth.access import SEEN_KEY, staff_required
from webapp.auth.forms import ROLE_LABELS, CodeForm, CreateUserForm, LoginForm, UpdateUserForm
from webapp.auth.models import StaffUser
from webapp.extensions import db, limiter

bp = Blueprint("auth", __name__, url_prefix="/admin")

PENDING_KEY = "staff_pending"
#: The password step is valid this long for the second step (seconds).
PENDING_SECONDS = 300


def _login_limit() -> str:
    return current_app.config.get("STAFF_LOGIN_RATE_LIMIT", "20 per minute")


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/admin") and not value.startswith("//"):
        return value
    return url_for("moderation.queue")


def _pending_user() -> StaffUser | None:
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        return None
    user = db.session.get(StaffUser, pending.get("uid"))
    if user is None or not user.active or user.session_generation != pending.get("gen"):
        return None
    return user


def _finish_login(user: StaffUser, method: str, next_url: str | None):
    services.register_success(user, method)
    db.session.commit()
    session.clear()  # a fresh session: nothing from before the login survives (fixation)
    login_user(user)
    session[SEEN_KEY] = int(time.time())


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    """Step one: e-mail and password."""
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data)
        except services.AuthError as exc:
            db.session.commit()  # the failure and the audit entry are kept
            error = exc.message
        else:
            db.session.commit()
            session[PENDING_KEY] = {"uid": user.id, "gen": user.session_generation,
                                    "at": int(time.time()),
                                    "next": _safe_next(request.args.get("next"))}
            step = "auth.second_factor" if user.totp_confirmed_at else "auth.enrol"
            return redirect(url_for(step))
    elif request.method == "POST":
        error = _("Enter your e-mail address and password.")
    status = 200 if error is None else 422
    return render_template("auth/login.html", form=form, error=error), status


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def second_factor():
    """Step two: the current TOTP code, or a recovery code."""
    user = _pending_user()
    if user is None or not user.totp_confirmed_at:
        return redirect(url_for("auth.login"))
    form = CodeForm()
    error = None
    if form.validate_on_submit():
        try:
            method = services.verify_second_factor(user, form.code.data)
        except services.AuthError as exc:
            db.session.commit()
            error = exc.message
        else:
            next_url = session.get(PENDING_KEY, {}).get("next")
            _finish_login(user, method, next_url)
            return redirect(_safe_next(next_url))
    elif request.method == "POST":
        error = _("Enter the code.")
    status = 200 if error is None else 422
    return render_template("auth/code.html", form=form, error=error), status


def _enrolment_secret(pending: dict) -> str:
    """The TOTP key being enrolled, made once and kept in the pending login, encrypted: the
    session cookie is only signed, so anyone holding a copy could read it otherwise."""
    secret = services.open_secret(pending.get("secret"))
    if not secret:
        secret = services.new_totp_secret()
        session[PENDING_KEY] = {**pending, "secret": services.seal_secret(secret)}
    return secret


def _enrol_page(user, form, secret: str, error):
    uri = services.provisioning_uri(user, secret)
    return render_template("auth/enrol.html", form=form, error=error, secret=secret,
                           qr=services.qr_svg_data_uri(uri)), (200 if error is None else 422)


@bp.route("/login/enrol", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def enrol():
    """First login: scan the QR code (an SVG made on the server), confirm with a code, and
    receive the recovery codes (shown once)."""
    user = _pending_user()
    if user is None or user.totp_confirmed_at:
        return redirect(url_for("auth.login"))
    pending = session[PENDING_KEY]
    secret = _enrolment_secret(pending)
    form = CodeForm()
    error = None
    if form.validate_on_submit():
        try:
            codes = services.confirm_enrolment(user, secret, form.code.data)
        except services.AuthError as exc:
            db.session.commit()
            error = exc.message
        else:
            next_url = pending.get("next")
            _finish_login(user, "enrolment", next_url)
            return render_template("auth/recovery_codes.html", codes=codes,
                                   next_url=_safe_next(next_url))
    elif request.method == "POST":
        error = _("Enter the code.")
    return _enrol_page(user, form, secret, error)


@bp.post("/logout")
def logout():
    """End this session."""
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.get("/account")
@staff_required()
def account():
    """The user's own account: sessions and recovery codes."""
    unused = sum(1 for rc in current_user.recovery_codes if rc.used_at is None)
    return render_template("auth/account.html", unused_codes=unused)


@bp.post("/account/logout-everywhere")
@staff_required()
def logout_everywhere():
    """End every session of the current user, on every device (this one too)."""
    user = current_user._get_current_object()
    services.log_out_everywhere(user)
    db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.post("/account/recovery-codes")
@staff_required()
def regenerate_codes():
    """New recovery codes (the old ones stop working)."""
    user = current_user._get_current_object()
    codes = services.new_recovery_codes(user)
    record("user.recovery_codes", actor=user, object_type="staff_user", object_id=user.id)
    db.session.commit()
    return render_template("auth/recovery_codes.html", codes=codes,
                           next_url=url_for("auth.account"))


@bp.route("/users", methods=["GET", "POST"])
@staff_required("admin")
def users():
    """The admin's list of staff accounts and the form creating one."""
    form = CreateUserForm()
    error = None
    if form.validate_on_submit():
        try:
            services.create_user(form.email.data, form.password.data, form.role.data,
                                 name=form.name.data, actor=current_user._get_current_object())
        except services.AuthError as exc:
            db.session.rollback()
            error = exc.message
        else:
            db.session.commit()
            return redirect(url_for("auth.users"))
    elif request.method == "POST":
        error = _("Fill in the e-mail address, role and initial password.")
    accounts = list(db.session.scalars(select(StaffUser).order_by(StaffUser.email)))
    status = 200 if error is None else 422
    return render_template("auth/users.html", form=form, error=error, accounts=accounts,
                           role_labels=ROLE_LABELS, update_form=UpdateUserForm()), status


@bp.post("/users/<int:user_id>")
@staff_required("admin")
def update_user(user_id: int):
    """Change an account's role, or (de)activate it."""
    user = db.session.get(StaffUser, user_id)
    if user is None:
        abort(404)
    form = UpdateUserForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.update_user(user, role=form.role.data, active=bool(form.active.data),
                             reset_totp=bool(form.reset_totp.data),
                             actor=current_user._get_current_object())
    except services.AuthError:
        db.session.rollback()
        abort(400)
    db.session.commit()
    return redirect(url_for("auth.users"))
