"""The resident's report form (Flask-WTF: CSRF and field validation).

Field names are Open311 GeoReport v2 names (service_code, description, lat, long,
address_string, media, email) so the form, the API and a replayed offline draft share one shape.
"""
from __future__ import annotations

import uuid

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, HiddenField, MultipleFileField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from webapp.inputs import InputForm

DESCRIPTION_MIN = 10
DESCRIPTION_MAX = 4000


def _uuid(form, field):
    try:
        uuid.UUID(field.data or "")
    except ValueError:
        raise ValidationError(_l("The form is missing its identifier. Reload the page and send it again."))


class ReportForm(InputForm):
    """Validates the shape of a submission; domain rules (inside Łódź, consent, photos) are
    checked by :func:`webapp.reports.services.submit_report` so every path gets them."""

    client_id = HiddenField(validators=[_uuid])
    service_code = SelectField(_l("Category"), validate_choice=False,
                               validators=[DataRequired(_l("Choose a category."))])
    description = TextAreaField(
        _l("What is the problem?"),
        validators=[DataRequired(_l("Describe the problem.")),
                    Length(min=DESCRIPTION_MIN, max=DESCRIPTION_MAX,
                           message=_l("The description must have between %(min)d and %(max)d characters."))],
        filters=[lambda s: s.strip() if isinstance(s, str) else s],
    )
    lat = StringField(_l("Latitude"), validators=[Optional()])
    long = StringField(_l("Longitude"), validators=[Optional()])
    location_source = HiddenField(default="manual")
    address_string = StringField(_l("Address or place (optional)"),
                                 validators=[Optional(), Length(max=255)],
                                 filters=[lambda s: s.strip() if isinstance(s, str) else s])
    media = MultipleFileField(_l("Photos (up to 5)"))
    email = EmailField(_l("E-mail for updates (optional)"),
                       validators=[Optional(), Length(max=254),
                                   Email(message=_l("This e-mail address is not valid."),
                                         check_deliverability=False)],
                       filters=[lambda s: s.strip() if isinstance(s, str) else s])
    consent = BooleanField(_l("I agree to the processing of my e-mail address to receive updates about this report."))

    def validate_service_code(self, field):
        from webapp.routing.services import current_routing
        if current_routing().service(field.data) is None:
            raise ValidationError(_l("Choose a category from the list."))

    def validate_consent(self, field):
        # RODO art. 6(1)(a)/7: an e-mail is processed only with explicit consent.
        if self.email.data and not field.data:
            raise ValidationError(_l("To receive updates by e-mail, tick the consent box. "
                                     "Without an e-mail you can send the report anonymously."))
