"""Parsing Open311 ``POST requests`` (form-encoded, as the spec says).

The shape checks are the portal form's (:class:`~webapp.reports.forms.ReportForm`, which also reads
``attribute[code]`` answers), without CSRF
(an API key authenticates instead); every rule is :func:`webapp.reports.services.submit_report`'s.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import Length, Optional

from webapp.reports.forms import ReportForm


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

