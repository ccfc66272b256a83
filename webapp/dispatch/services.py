"""The outbox: e-mails written in the same transaction as the change that causes them, and sent
later by the worker (issue 2: "a crash between commit and send loses nothing and sends nothing
twice").

Delivery guarantee, stated honestly: **at least once**, with duplicates made recognisable.

- A row is enqueued by :func:`enqueue` in the caller's transaction, so a rolled-back change
  leaves no message and a committed one always has its message.
- A worker *claims* a row with a conditional UPDATE committed before it talks to SMTP, so two
  workers (threads or processes, SQLite or PostgreSQL) never send the same row at the same time.
- If a worker dies after the SMTP server accepted the message but before the row was marked
  ``sent``, the claim expires after ``OUTBOX_LOCK_SECONDS`` and the row is sent again. SMTP has no
  way to make that impossible. The resend carries the same ``Message-ID`` (derived from the row id
  and its dedupe key, :func:`message_id`), so mail clients and archives that deduplicate on
  ``Message-ID`` show it once; others show it twice.

Payload shape (JSON): ``{"to": [str], "subject": str, "text": str, "html": str | None,
"headers": {str: str}, "report_id": int | None}``. Messages are rendered when enqueued, so the
worker needs no request, templates or routing and sends exactly what the change described.
"""
from __future__ import annotations

import contextlib
import email.message
import email.utils
import hashlib
import logging
import random
from datetime import datetime, timedelta

from flask import current_app, has_request_context, render_template, url_for
from flask_babel import force_locale, format_datetime, gettext as _
from sqlalchemy import or_, select, update

from webapp.clock import utcnow
from webapp.departments.services import link_url
from webapp.dispatch import mail
from webapp.dispatch.models import OutboxMessage
from webapp.extensions import db
from webapp.geo import osm_url
from webapp.reports.models import Status
from webapp.reports.services import tracking_url
from webapp.routing.services import explain

log = logging.getLogger(__name__)

#: Language of e-mails to units and residents (the city works in Polish).
MAIL_LOCALE = "pl"


# --------------------------------------------------------------------------- enqueue

def enqueue(kind: str, dedupe_key: str, payload: dict) -> OutboxMessage:
    """Add a pending outbox row to the session (no commit) and return it.

    Idempotent: if a row with ``dedupe_key`` already exists, in the database or still pending
    in this session, that row is returned and nothing is added. (Two *concurrent* transactions
    enqueueing the same key are stopped by the unique constraint: the second one fails at commit.)
    ``kind`` is a short label (``"dispatch"``, ``"status_notice"``); ``payload`` as in the module
    docstring.
    """
    if not dedupe_key or len(dedupe_key) > 160:
        raise ValueError("dedupe_key must be 1-160 characters")
    for obj in db.session.new:
        if isinstance(obj, OutboxMessage) and obj.dedupe_key == dedupe_key:
            return obj
    existing = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)).first()
    if existing is not None:
        return existing
    row = OutboxMessage(kind=kind, dedupe_key=dedupe_key, payload=payload, status="pending",
                        attempts=0, next_attempt_at=utcnow())
    db.session.add(row)
    return row


# --------------------------------------------------------------------------- rendering

@contextlib.contextmanager
def mail_context():
    """Render in Polish, with ``url_for`` working also outside a request (worker, CLI)."""
    if has_request_context():
        with force_locale(MAIL_LOCALE):
            yield
        return
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    with current_app.test_request_context("/", base_url=base):
        with force_locale(MAIL_LOCALE):
            yield


def absolute_url(endpoint: str, **values) -> str:
    """``PUBLIC_BASE_URL`` + the path of ``endpoint`` (links in e-mails must not depend on the
    host a request happened to use)."""
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + url_for(endpoint, **values)


def _sender_domain() -> str:
    _, address = email.utils.parseaddr(current_app.config.get("MAIL_DEFAULT_SENDER") or "")
    return address.rpartition("@")[2] or "lckzm.localhost"


def message_id(row: OutboxMessage) -> str:
    """The deterministic ``Message-ID`` of an outbox row:
    ``<outbox-{id}-{first 16 hex of sha256(dedupe_key)}@{sender domain}>``. Every attempt to
    send the row uses the same value, so a resend after a crash is recognisable as a duplicate."""
    digest = hashlib.sha256(row.dedupe_key.encode()).hexdigest()[:16]
    return f"<outbox-{row.id}-{digest}@{_sender_domain()}>"


def build_message(row: OutboxMessage) -> email.message.EmailMessage:
    """Turn an outbox row's payload into a MIME message (text part, plus HTML when given).
    Raises ``KeyError``/``ValueError`` for a malformed payload (counted as a failed attempt)."""
    payload = row.payload
    msg = email.message.EmailMessage()
    msg["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    msg["To"] = ", ".join(payload["to"])
    msg["Subject"] = payload["subject"]
    msg["Message-ID"] = message_id(row)
    msg["Date"] = email.utils.format_datetime(row.created_at)
    # RFC 3834: tell auto-responders (out-of-office) not to answer a robot.
    msg["Auto-Submitted"] = "auto-generated"
    for name, value in (payload.get("headers") or {}).items():
        msg[name] = value
    msg.set_content(payload["text"])
    if payload.get("html"):
        msg.add_alternative(payload["html"], subtype="html")
    return msg


def _photo_links(report) -> list[str]:
    return [absolute_url("photos.public", photo_id=photo.id) for photo in report.photos]


def _payload(report, to: str, subject: str, template: str, context: dict) -> dict:
    """The outbox payload of one e-mail about ``report``: ``template`` names the pair
    ``<template>.txt`` / ``<template>.html`` rendered with ``context`` (inside mail_context)."""
    return {
        "to": [to],
        "subject": subject,
        "text": render_template(f"{template}.txt", **context),
        "html": render_template(f"{template}.html", **context),
        "headers": {"X-LCKzM-Report": str(report.id)},
        "report_id": report.id,
    }


def enqueue_dispatch(report, link, unit, *, routing, note: str = "",
                     from_unit: str | None = None) -> OutboxMessage:
    """Render and enqueue the dispatch e-mail that sends ``report`` to ``unit`` with the signed
    ``link`` (no commit).

    The e-mail holds the report number, category, description, location (WGS84 coordinates,
    OpenStreetMap link, address), links to the public photo copies, why the report went to the
    unit (:func:`webapp.routing.services.explain` on ``routing``), and the signed link with its
    expiry date (Europe/Warsaw). ``note`` (from the operator, or from the unit ``from_unit``
    that forwarded the report) is quoted when given. Dedupe key: ``dispatch:{report id}:{link
    id}`` (one e-mail per issued link). Raises ``ValueError`` when the unit has no e-mail
    address.
    """
    if not getattr(unit, "email", None):
        raise ValueError(f"unit {unit.id!r} has no e-mail address in routing.toml")
    db.session.flush()  # ids for the link and photos
    with mail_context():
        context = {
            "report": report,
            "unit": unit,
            "category": routing.category_name(report.service_code, MAIL_LOCALE),
            "map_url": osm_url(report.lat, report.long),
            "photo_urls": _photo_links(report),
            "link_url": link_url(link),
            "expires_at": format_datetime(link.expires_at, "d MMMM y, HH:mm"),
            "note": note,
            "from_unit": routing.unit_name(from_unit) or "",
            "why": explain(routing, report.routing_rule, unit.id),
        }
        subject = _("Report %(number)s: %(category)s", number=report.number,
                    category=context["category"])
        payload = _payload(report, unit.email, subject, "emails/dispatch", context)
    return enqueue("dispatch", f"dispatch:{report.id}:{link.id}", payload)


def enqueue_status_notice(report, change, *, routing) -> OutboxMessage | None:
    """Render and enqueue the e-mail that tells the resident about status ``change`` (no commit).

    Only when the resident gave an e-mail address *and* consent (``report.email`` and
    ``report.consent_version``; regulamin pkt 5); returns ``None`` otherwise. Holds the new
    status, the public note and the private tracking link. Dedupe key:
    ``status_notice:{report id}:{change id}``.
    """
    if not (report.email and report.consent_version):
        return None
    db.session.flush()  # the change's id names the message
    with mail_context():
        context = {
            "report": report,
            "change": change,
            "status_label": Status(change.status).label,
            "category": routing.category_name(report.service_code, MAIL_LOCALE),
            "tracking_url": tracking_url(report),
        }
        subject = _("Report %(number)s: %(status)s", number=report.number,
                    status=context["status_label"])
        payload = _payload(report, report.email, subject, "emails/status_notice", context)
    return enqueue("status_notice", f"status_notice:{report.id}:{change.id}", payload)


# --------------------------------------------------------------------------- listeners
# Connected in webapp.dispatch.init_app; they run inside the announcing transaction, so the
# outbox row commits with the change that caused it.

def on_link_issued(link, *, report, unit, note: str, from_unit: str | None, routing, **_):
    """A unit got a signed link (a dispatch or a forward): queue the e-mail that carries it."""
    return enqueue_dispatch(report, link, unit, routing=routing, note=note, from_unit=from_unit)


def on_report_status_changed(report, *, change, routing, **_):
    """A report's status changed: queue the notice to the resident (when they consented)."""
    return enqueue_status_notice(report, change, routing=routing)


# --------------------------------------------------------------------------- sending

def _backoff(attempts: int) -> timedelta:
    """Exponential back-off with jitter: ``base * 2**(attempts-1)`` capped, then a uniform
    random value between half and all of it, so workers that failed together retry apart.
    ``OUTBOX_BACKOFF_SECONDS`` (60) and ``OUTBOX_BACKOFF_MAX_SECONDS`` (3600) tune it."""
    base = float(current_app.config.get("OUTBOX_BACKOFF_SECONDS", 60))
    cap = float(current_app.config.get("OUTBOX_BACKOFF_MAX_SECONDS", 3600))
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=random.uniform(delay / 2, delay))


def _claim(row_id: int, now: datetime) -> bool:
    """Claim one row for this worker; commits. True when this call won the row."""
    lock = timedelta(seconds=int(current_app.config.get("OUTBOX_LOCK_SECONDS", 120)))
    table = OutboxMessage.__table__
    result = db.session.execute(
        update(table)
        .where(table.c.id == row_id, table.c.status == "pending",
               table.c.next_attempt_at <= now,
               or_(table.c.locked_until.is_(None), table.c.locked_until < now))
        .values(locked_until=now + lock, attempts=table.c.attempts + 1))
    db.session.commit()
    return result.rowcount == 1


def process_due(*, limit: int = 20, now: datetime | None = None) -> int:
    """Send up to ``limit`` due outbox rows; return how many were sent.

    A row is due when ``status='pending'``, ``next_attempt_at <= now`` and it is not claimed
    (``locked_until`` empty or past). Each row is claimed by :func:`_claim` (``UPDATE ... WHERE
    id=:id AND status='pending' AND (locked_until IS NULL OR locked_until < now)`` setting
    ``locked_until = now + OUTBOX_LOCK_SECONDS`` and ``attempts + 1``), committed before
    sending. On success: ``status='sent'``, ``sent_at``. On failure: ``last_error`` and
    ``next_attempt_at = now + back-off``; after ``OUTBOX_MAX_ATTEMPTS`` attempts ``status='dead'``
    (logged as an error; nothing is deleted). ``now`` is UTC (tests move it forward).
    Must run inside an app context; commits its own transactions.
    """
    now = now or utcnow()
    max_attempts = int(current_app.config.get("OUTBOX_MAX_ATTEMPTS", 8))
    ids = list(db.session.scalars(
        select(OutboxMessage.id)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now,
               or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)))
    db.session.commit()  # end the read transaction before claiming
    sent = 0
    for row_id in ids:
        if not _claim(row_id, now):
            continue  # another worker has it
        row = db.session.get(OutboxMessage, row_id)
        try:
            mail.send_message(build_message(row))
        except Exception as exc:  # any failure is retried; the error is kept on the row
            row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            row.locked_until = None
            if row.attempts >= max_attempts:
                row.status = "dead"
                log.error("outbox message %s (%s) is dead after %d attempts: %s",
                          row.id, row.dedupe_key, row.attempts, row.last_error)
            else:
                row.next_attempt_at = now + _backoff(row.attempts)
                log.warning("outbox message %s attempt %d failed, next at %s: %s",
                            row.id, row.attempts, row.next_attempt_at.isoformat(),
                            row.last_error)
            db.session.commit()
            continue
        row.status = "sent"
        row.sent_at = utcnow()
        row.locked_until = None
        row.last_error = None
        db.session.commit()
        sent += 1
    return sent
