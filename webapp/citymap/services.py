"""The one way to add a support ("me too") to a report."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.citymap.models import Support
from webapp.citymap.queries import is_open, support_count
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.reports.queries import get_report


class SupportError(ValueError):
    """The support cannot be stored; ``errors`` maps field names to translated messages."""

    def __init__(self, errors: dict[str, list]):
        super().__init__(errors)
        self.errors = errors


class ReportNotFound(LookupError):
    """No report with this id."""


@dataclass
class SupportInput:
    """A "me too" as parsed by :class:`~webapp.citymap.forms.SupportForm`."""

    client_id: str | None = None
    email: str | None = None
    consent: bool = False
    language: str | None = None
    errors: dict[str, list] = field(default_factory=dict)


@dataclass
class Supported:
    """The outcome: the report, whether this call ``created`` the support (False for a phone
    that had already supported it) and the report's ``count`` of supports after it."""

    report: object
    created: bool
    count: int


def add_support(report_id: int, data: SupportInput, *, consent_text: str,
                consent_version: str) -> Supported:
    """Add one phone's support to an open report, once per ``client_id`` (idempotent: a repeat
    changes nothing and answers ``created=False``; a race on the unique constraint too).

    Raises :class:`ReportNotFound` for an unknown id and :class:`SupportError` for a closed
    report, a missing/invalid ``client_id``, or an e-mail without consent. The e-mail is kept
    only with consent (as on a report) to be told of the report's progress.
    """
    report = get_report(report_id)
    if report is None:
        raise ReportNotFound(report_id)
    errors = dict(data.errors)
    try:
        client_id = str(uuid.UUID(data.client_id or ""))
    except ValueError:
        errors.setdefault("client_id", []).append(
            _l("The page is out of date: reload it and try again."))
        client_id = None
    email = (data.email or "").strip() or None
    if email and not data.consent:
        errors.setdefault("consent", []).append(
            _l("To get updates by e-mail, tick the consent box (or leave the e-mail empty)."))
    if not is_open(report):
        errors.setdefault("report", []).append(
            _l("This report is already closed: it cannot be supported any more."))
    if errors:
        raise SupportError(errors)
    existing = db.session.scalar(select(Support).where(Support.report_id == report.id,
                                                       Support.client_id == client_id))
    created = existing is None
    if created:
        now = utcnow()
        db.session.add(Support(report_id=report.id, client_id=client_id, email=email,
                               consent_version=consent_version if email else None,
                               consent_text=consent_text if email else None,
                               consent_at=now if email else None,
                               language=data.language, created_at=now))
        try:
            db.session.commit()
        except IntegrityError:  # the same phone, twice at once: the other request stored it
            db.session.rollback()
            created = False
    return Supported(report=report, created=created, count=support_count(report.id))
