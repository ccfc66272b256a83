"""The admin's Open311 API keys page (``/admin/apikeys/``): the list, the form issuing a key
(it redirects, 303, to the list, which shows the new token once), and revoking with a confirmation page.
Every response is ``Cache-Control: private, no-store``: one of them carries a token."""
from __future__ import annotations

from flask import Blueprint, abort, flash, get_flashed_messages, redirect, render_template, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from webapp.auth.access import staff_required
from webapp.extensions import db
from webapp.inputs import InputForm
from webapp.moderation import apikeys as keys
from webapp.moderation.services import ModerationError
from webapp.open311.apikeys import get_key

bp = Blueprint("apikeys", __name__, url_prefix="/admin/apikeys")


class ApiKeyForm(InputForm):
    name = StringField(_l("The app's name"), validators=[DataRequired(), Length(max=120)])
    contact = StringField(_l("Contact"), validators=[DataRequired(), Length(max=254)])
    rate_limit = StringField(_l("Own rate limit"), validators=[Length(max=120)])


class RevokeForm(InputForm):
    """Only the CSRF token: the key is in the URL."""


@bp.after_request
def _private(response):
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _page(form: ApiKeyForm, status: int = 200, **extra):
    return render_template("moderation/apikeys.html", form=form, listing=keys.overview(),
                           saved=get_flashed_messages(category_filter=["apikeys"]),
                           **extra), status


@bp.get("/")
@staff_required("admin")
def index():
    """Every key (name, contact, made, last report, rate limit, state) and the new-key form;
    right after issuing a key, also its token (this once: a reload no longer shows it)."""
    return _page(ApiKeyForm(formdata=None), **keys.take_for_display())


@bp.post("/")
@staff_required("admin")
def create():
    """Issue a key and redirect (303) to the list, which shows its token once; a reload of
    that page re-sends no form. 422 with the errors when refused."""
    form = ApiKeyForm()
    if not form.validate():
        return _page(form, 422)
    try:
        key, token = keys.issue(form.name.data, form.contact.data, form.rate_limit.data,
                                actor=current_user._get_current_object())
    except ModerationError as exc:
        db.session.rollback()
        form[exc.field].errors.append(exc.message)
        return _page(form, 422)
    db.session.commit()
    keys.hold_for_display(key, token)
    return redirect(url_for("apikeys.index"), code=303)


@bp.get("/<int:key_id>/revoke")
@staff_required("admin")
def confirm_revoke(key_id: int):
    """Ask before revoking: the apps using the key stop working at once."""
    key = get_key(key_id) or abort(404)
    return render_template("moderation/apikey_revoke.html", key=key, form=RevokeForm())


@bp.post("/<int:key_id>/revoke")
@staff_required("admin")
def revoke(key_id: int):
    """Revoke the key (after the confirmation page) and go back to the list."""
    if not RevokeForm().validate():
        abort(400)
    try:
        key = keys.revoke(key_id, actor=current_user._get_current_object())
    except LookupError:
        abort(404)
    db.session.commit()
    flash(_("The key of %(name)s is revoked: its requests now get 403.", name=key.name), "apikeys")
    return redirect(url_for("apikeys.index"), code=303)
