"""The "me too" form (parsing only; every rule is :func:`webapp.citymap.services.add_support`'s)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, HiddenField
from wtforms.validators import Email, Length, Optional

from webapp.citymap.services import SupportInput
from webapp.inputs import InputForm


class SupportForm(InputForm):
    """``supporter_id`` (the phone's UUID, kept in its localStorage by static/js/citymap.js; not
    the report form's ``client_id``, which is new for each report), optional ``email`` and
    ``consent``."""

    supporter_id = HiddenField()
    email = EmailField(_l("E-mail for updates (optional)"),
                       validators=[Optional(), Length(max=254),
                                   Email(message=_l("This e-mail address is not valid."),
                                         check_deliverability=False)],
                       filters=[lambda s: s.strip() if isinstance(s, str) else s])
    consent = BooleanField(_l("I agree to the processing of my e-mail address to receive updates about this report."))

    def to_input(self, language: str | None = None) -> SupportInput:
        """The parsed support with the shape errors found (CSRF left to Flask-WTF)."""
        self.validate()
        return SupportInput(client_id=self.supporter_id.data, email=self.email.data,
                            consent=bool(self.consent.data), language=language,
                            errors={k: list(v) for k, v in self.errors.items() if k != "csrf_token"})
