"""The one way to add a support ("me too") to a report."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.citymap.models import Support
from webapp.citymap.queries import is_open, support_count, supporters_to_notify
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.reports.queries import get_report
from webapp.reports.services import NoticeSubscriber

_TOKEN_SALT = "support-email-unsubscribe"
#: The endpoint of the supporter's one-click unsubscribe (webapp.push, above us: named only).
UNSUBSCRIBE_ENDPOINT = "push.support_email_unsubscribe"


class SupportError(ValueError):
    """The support cannot be stored; ``errors`` maps field names to translated messages;
    ``report`` is the report (to show its form again with them)."""

    def __init__(self, errors: dict[str, list], report=None):
        super().__init__(errors)
        self.errors = errors
        self.report = report


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
        raise SupportError(errors, report)
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


#: Namespace of the ``client_id`` of a support that stands for a merged duplicate.
MERGED_NAMESPACE = uuid.UUID("6f1d3c1e-5d1a-4a8e-9c1e-7a2f0b7c4d21")


def merged_client_id(duplicate_id: int) -> str:
    """The ``client_id`` (a UUID, as a phone's) of the support a merged duplicate report counts
    as: derived from its id, so the unique ``(report_id, client_id)`` keeps it at one."""
    return str(uuid.uuid5(MERGED_NAMESPACE, f"merged-report:{duplicate_id}"))


def add_merged_support(original, duplicate) -> bool:
    """Count ``duplicate`` (a report an operator merged into ``original``) as one more resident
    with the same problem: a support of ``original``, once per duplicate. No e-mail is copied
    (the duplicate's author agreed to updates on their own report only). Adds to the session,
    no commit (the merge commits). Returns False when it was counted already."""
    client_id = merged_client_id(duplicate.id)
    if db.session.scalar(select(Support.id).where(Support.report_id == original.id,
                                                  Support.client_id == client_id)) is not None:
        return False
    db.session.add(Support(report_id=original.id, client_id=client_id,
                           language=duplicate.language,
                           created_at=utcnow()))
    return True


# --------------------------------------------------------------------------- e-mail updates

def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=_TOKEN_SALT)


def support_token(support: Support) -> str:
    """The secret in a supporter's unsubscribe link: the support's id signed with the app's
    secret key (stable, so every e-mail carries the same link)."""
    return _serializer().dumps(support.id)


def find_support_by_token(token: str) -> Support | None:
    """The support named by :func:`support_token`'s ``token``; None for a forged or unknown
    one (never raises)."""
    try:
        support_id = _serializer().loads(token)
    except BadSignature:
        return None
    return db.session.get(Support, support_id) if isinstance(support_id, int) else None


def notice_subscribers(report) -> list[NoticeSubscriber]:
    """``reports.services.NOTICE_SUBSCRIBERS`` entry: the report's consenting supporters, one
    per address (a phone that supported twice, or the author's own address, is told once)."""
    seen = {(report.email or "").lower()} if report.consent_version else set()
    found = []
    for support in supporters_to_notify(report.id):
        if support.email.lower() in seen:
            continue
        seen.add(support.email.lower())
        found.append(NoticeSubscriber(
            key=f"support-{support.id}", email=support.email, language=support.language,
            unsubscribe_endpoint=UNSUBSCRIBE_ENDPOINT,
            unsubscribe_values={"token": support_token(support)}))
    return found
