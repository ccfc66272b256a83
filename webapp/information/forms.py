"""The form for questions to the portal's administrator (regulamin pkt 8): parsing only."""
from __future__ import annotations

import uuid

from flask_babel import lazy_gettext as _l
from webapp.inputs import InputForm
from wtforms import BooleanField, EmailField, HiddenField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from webapp.information.services import MESSAGE_MAX, MESSAGE_MIN, TOPICS, clean_text


def _uuid(form, field):
    try:
        uuid.UUID(field.data or "")
    except ValueError:
        raise ValidationError(_l("The form is missing its identifier. Reload the page and send it again."))


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class ContactForm(InputForm):
    """Topic, message, optional e-mail (with consent, for an answer), and the form's own id
    (``client_id``, a UUID made when the form is shown) that makes a resend idempotent."""

    client_id = HiddenField(validators=[_uuid])
    topic = SelectField(_l("Topic"), validate_choice=False,
                        validators=[DataRequired(_l("Choose a topic."))])
    message = TextAreaField(
        _l("Your question or remark"),
        validators=[DataRequired(_l("Write your question.")),
                    Length(min=MESSAGE_MIN, max=MESSAGE_MAX,
                           message=_l("The message must have between %(min)d and %(max)d characters."))],
        filters=[clean_text, _strip])
    email = EmailField(_l("E-mail for the answer (optional)"),
                       validators=[Optional(), Length(max=254),
                                   Email(message=_l("This e-mail address is not valid."),
                                         check_deliverability=False)],
                       filters=[_strip])
    consent = BooleanField(_l("I agree to the processing of my e-mail address to receive an answer to this question."))

    def validate_topic(self, field):
        if field.data not in TOPICS:
            raise ValidationError(_l("Choose a topic."))

    def validate_consent(self, field):
        # RODO art. 6(1)(a)/7: the address is used only with explicit consent.
        if self.email.data and not field.data:
            raise ValidationError(_l("To get an answer by e-mail, tick the consent box. "
                                     "Without an e-mail you can send the question anonymously."))
