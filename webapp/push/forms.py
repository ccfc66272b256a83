"""The form that turns on e-mail updates for a report already sent (from its tracking page)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField
from wtforms.validators import DataRequired, Email, Length

from webapp.inputs import InputForm


class EmailConsentForm(InputForm):
    """An e-mail address and the explicit consent to use it for this report (RODO art. 7)."""

    email = EmailField(_l("E-mail"),
                       validators=[DataRequired(message=_l("Give your e-mail address.")), Length(max=254),
                                   Email(message=_l("This e-mail address is not valid."),
                                         check_deliverability=False)],
                       filters=[lambda s: s.strip() if isinstance(s, str) else s])
    consent = BooleanField(
        _l("I agree to the processing of my e-mail address to receive updates about this report."),
        validators=[DataRequired(message=_l("To receive updates by e-mail, tick the consent box."))])
