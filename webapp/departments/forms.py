"""The status form on the department link page."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import RadioField, SelectField, TextAreaField

from webapp.inputs import InputForm


class StatusForm(InputForm):
    """Status, forward target and public note (CSRF-protected by Flask-WTF).

    The form only parses: every rule (a status is chosen and allowed now, a rejection needs a
    reason, forwarding needs a unit, the note's length) is checked once, by
    :func:`webapp.reports.lifecycle.set_status`, whose errors the view puts next to the field.
    """

    status = RadioField(_l("New status"), choices=[], validate_choice=False)
    target_unit = SelectField(_l("Forward to unit"), choices=[], default="",
                              description=_l("Only when forwarding: the unit that should handle "
                                             "the report instead of yours."))
    note = TextAreaField(_l("Public note"),
                         description=_l("Shown to the resident on the report page. Required "
                                        "when rejecting (the reason) or reopening."))

    @classmethod
    def for_report(cls, report, statuses, units, **kwargs) -> "StatusForm":
        """Build the form with the statuses allowed now (``[Status]``) and the units a report
        may be forwarded to (``[(unit id, name)]``, the current unit left out)."""
        form = cls(**kwargs)
        form.status.choices = [(s.value, s.label) for s in statuses]
        form.target_unit.choices = [("", _l("— choose a unit —"))] + list(units)
        return form
