"""Staff login and account forms (CSRF by Flask-WTF)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from webapp.inputs import InputForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import AnyOf, DataRequired, Length

from webapp.auth.models import ROLES

ROLE_LABELS = {"operator": _l("Operator"), "admin": _l("Administrator")}


class LoginForm(InputForm):
    email = EmailField(_l("E-mail address"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])


class CodeForm(InputForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=32)])


class CreateUserForm(InputForm):
    email = EmailField(_l("E-mail address"), validators=[DataRequired(), Length(max=254)])
    name = StringField(_l("Name"), validators=[Length(max=120)])
    role = StringField(_l("Role"), validators=[AnyOf(ROLES)])  # a <select> in the template
    password = PasswordField(_l("Initial password"), validators=[DataRequired(), Length(max=1024)])


class UpdateUserForm(InputForm):
    role = StringField(_l("Role"), validators=[AnyOf(ROLES)])  # a <select> in the template
    active = BooleanField(_l("Active"))
    reset_totp = BooleanField(_l("Reset the second step (lost phone)"))
