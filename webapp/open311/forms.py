"""Parsing Open311 ``POST requests`` (form-encoded, as the spec says; a JSON object works too).

The shape checks are the portal form's (:class:`~webapp.reports.forms.ReportForm`), without CSRF
(an API key authenticates instead); every rule is :func:`webapp.reports.services.submit_report`'s.
"""
from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import Length, Optional

from webapp.reports.forms import ReportForm

ATTRIBUTE = re.compile(r"^attribute\[([A-Za-z0-9_.-]{1,64})\](\[\])?$")


class Open311RequestForm(ReportForm):
    """GeoReport v2 ``POST service request`` fields. ``long`` is the spec's name as in the form;
    ``media_url`` replaces file uploads; ``email_consent`` (our extension) says the resident
    agreed to the same consent text the portal's form shows, required with an ``email``."""

    class Meta(ReportForm.Meta):
        csrf = False

    api_key = StringField(validators=[Optional(), Length(max=200)])
    jurisdiction_id = StringField(validators=[Optional(), Length(max=200)])
    media_url = StringField(validators=[Optional(), Length(max=2000)])
    device_id = StringField(validators=[Optional(), Length(max=200)])
    account_id = StringField(validators=[Optional(), Length(max=200)])
    first_name = StringField(validators=[Optional(), Length(max=100)])
    last_name = StringField(validators=[Optional(), Length(max=100)])
    phone = StringField(validators=[Optional(), Length(max=40)])
    email_consent = StringField(validators=[Optional(), Length(max=10)])
    idempotency_key = StringField(_l("Idempotency key"), validators=[Optional(), Length(max=200)])


def attributes_from(formdata) -> dict[str, str | list[str]]:
    """``attribute[code]=value`` pairs as ``{code: value}`` (``attribute[code][]`` repeated:
    a list, for multivaluelist attributes)."""
    answers: dict[str, str | list[str]] = {}
    for key in formdata.keys():
        match = ATTRIBUTE.match(key)
        if not match:
            continue
        values = [v for v in formdata.getlist(key) if v != ""]
        if match.group(2) or len(values) > 1:
            answers[match.group(1)] = values
        elif values:
            answers[match.group(1)] = values[0]
    return answers
