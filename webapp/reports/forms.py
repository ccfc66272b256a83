"""The resident's report form (Flask-WTF: CSRF and parsing).

Field names are Open311 GeoReport v2 names (service_code, description, lat, long,
address_string, media, email) so the form, the API and a replayed offline draft share one shape.
The form only parses and checks the shape of each field (present, length, e-mail syntax); every
rule (category known, consent with an e-mail, client_id, photos) is checked once, by
:func:`webapp.reports.services.submit_report`.
"""
from __future__ import annotations

import re

from flask import request
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, HiddenField, MultipleFileField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional

from webapp.inputs import InputForm
from webapp.reports.services import ReportInput

#: ``attribute[code]`` (and ``attribute[code][]`` for several choices): answers to a category's
#: extra questions, named as Open311 ``POST requests`` names them.
ATTRIBUTE_FIELD = re.compile(r"^attribute\[([A-Za-z0-9_.-]{1,64})\](\[\])?$")

DESCRIPTION_MIN = 10
DESCRIPTION_MAX = 4000


class ReportForm(InputForm):
    """Parses a submission and checks the shape of its fields; :meth:`to_input` hands it to the
    service."""

    client_id = HiddenField()
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
    media = MultipleFileField(_l("Photos"))  # how many: PHOTO_MAX_COUNT, checked by the service
    email = EmailField(_l("E-mail for updates (optional)"),
                       validators=[Optional(), Length(max=254),
                                   Email(message=_l("This e-mail address is not valid."),
                                         check_deliverability=False)],
                       filters=[lambda s: s.strip() if isinstance(s, str) else s])
    consent = BooleanField(_l("I agree to the processing of my e-mail address to receive updates about this report."))

    #: The answers to the extra questions as parsed by :meth:`to_input` (shown again on errors).
    attributes_data: dict = {}

    def to_input(self):
        """The submission as :class:`~webapp.reports.services.ReportInput`: the parsed fields,
        the uploaded files (unread) and the shape errors found (CSRF left to Flask-WTF)."""
        self.validate()
        self.attributes_data = attributes_from(request.form)
        uploads = [(f.filename, f.stream) for f in (self.media.data or [])
                   if getattr(f, "filename", None)]
        return ReportInput(
            client_id=self.client_id.data, service_code=self.service_code.data,
            description=self.description.data, lat=self.lat.data, long=self.long.data,
            location_source=self.location_source.data or "manual",
            address_string=self.address_string.data, email=self.email.data,
            consent=bool(self.consent.data), uploads=uploads,
            attributes=self.attributes_data,
            errors={k: list(v) for k, v in self.errors.items() if k != "csrf_token"})


def attributes_from(formdata) -> dict[str, str | list[str]]:
    """``attribute[code]=value`` pairs as ``{code: value}`` (``attribute[code][]`` or a repeated
    field: a list, for a multivaluelist); empty values are left out."""
    answers: dict[str, str | list[str]] = {}
    for key in formdata.keys():
        match = ATTRIBUTE_FIELD.match(key)
        if not match:
            continue
        values = [v for v in formdata.getlist(key) if v != ""]
        if match.group(2) or len(values) > 1:
            answers[match.group(1)] = values
        elif values:
            answers[match.group(1)] = values[0]
    return answers
