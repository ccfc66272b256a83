"""Questions to the portal's administrator (regulamin pkt 8), delivered through the outbox.

A question is not stored anywhere but in the outbox row of the e-mail that carries it; the row's
id is the reference number the sender sees (``PYT-<id>``). The dedupe key is the form's own
``client_id``, so a retried or repeated POST answers with the same reference and sends nothing
twice (:func:`webapp.dispatch.services.enqueue`).
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, render_template
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.dispatch.models import OutboxMessage
from webapp.dispatch.services import enqueue, mail_context
from webapp.extensions import db
from webapp.inputs import clean_text as shared

MESSAGE_MIN = 10
MESSAGE_MAX = 4000

#: Topic key → label. ``accessibility`` is the contact the accessibility statement points to.
TOPICS = {
    "question": _l("A question about the portal"),
    "technical": _l("Something does not work"),
    "accessibility": _l("Accessibility (a barrier, or a request for an accessible form)"),
    "personal_data": _l("Personal data"),
    "other": _l("Other remark"),
}


def clean_text(value):
    """Text input under the project-wide control-character rule
    (:func:`webapp.inputs.clean_text`); ``None`` and non-strings pass unchanged."""
    if not isinstance(value, str):
        return value
    return shared(value)


def admin_address(routing) -> str:
    """Where questions go: ``ADMIN_EMAIL``, or else the operator unit's address from
    ``routing.toml`` (the contact centre, which administers the portal)."""
    configured = current_app.config.get("ADMIN_EMAIL")
    if configured:
        return configured
    return routing.units[routing.operator_unit].email


@dataclass(frozen=True)
class Sent:
    """The outcome of :func:`send_question`: ``reference`` shown to the sender, ``created``
    False when the same form had been sent before."""

    reference: str
    created: bool


def reference_of(row) -> str:
    """``PYT-<outbox id>``: the reference number of a question."""
    return f"PYT-{row.id}"


def send_question(*, client_id: str, topic: str, message: str, email: str | None, consent: bool,
                  lang: str, routing) -> Sent:
    """Queue the question as an e-mail to the administrator and commit; return its reference.

    ``email`` is kept only with ``consent`` (it becomes the ``Reply-To``). Idempotent on
    ``client_id``.
    Raises ``KeyError`` for an unknown ``topic``."""

    key = f"contact:{client_id}"
    existing = db.session.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key == key)).first()
    if existing is not None:
        return Sent(reference_of(existing), False)
    reply_to = email if (email and consent) else None
    TOPICS[topic]  # KeyError for an unknown topic, before anything is queued
    to = admin_address(routing)
    with mail_context():
        label = str(TOPICS[topic])
        context = {"topic": label, "message": message, "email": reply_to, "lang": lang}
        payload = {
            "to": [to],
            "subject": f"[ŁCKzM] {label}",
            "text": render_template("information/email_contact.txt", **context),
            "html": None,
            "headers": {"Reply-To": reply_to} if reply_to else {},
            "report_id": None,
        }
    try:
        row = enqueue("contact", key, payload)
        db.session.flush()
        # The reference is known only now; the administrator sees it in the subject too.
        row.payload = {**payload, "subject": f"[ŁCKzM {reference_of(row)}] {label}"}
        db.session.commit()
    except IntegrityError:
        # The same form sent twice at once: the other request's row won the unique dedupe key.
        db.session.rollback()
        existing = db.session.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key == key)).one()
        return Sent(reference_of(existing), False)
    return Sent(reference_of(row), True)
