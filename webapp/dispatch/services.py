"""The outbox: e-mails written in the same transaction as the change that causes them, and sent
later by the worker (issue 2: "a crash between commit and send loses nothing and sends nothing
twice").

Delivery guarantee, stated honestly: **at least once**, with duplicates made recognisable.

- A row is enqueued by :func:`enqueue` in the caller's transaction, so a rolled-back change
  leaves no message and a committed one always has its message.
- A worker *claims* a batch of due rows (``WORKER_BATCH_SIZE``, 20) in one short transaction:
  on PostgreSQL ``SELECT ... FOR UPDATE SKIP LOCKED LIMIT n`` inside the ``UPDATE`` that sets
  the lease, so concurrent workers take disjoint rows instead of queueing on the same first ones;
  on SQLite the same single ``UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING id``, which
  runs under the database's one write lock and so is atomic. Two workers (threads or processes)
  never send the same row at the same time (issue 12).
- The claim is a lease of ``OUTBOX_LOCK_SECONDS`` (20 s) on every row of the batch
  (``locked_until``), named by a token (``claimed_by``). The worker renews it while it sends, so
  a slow server does not let a second worker in, and a worker that died (``kill -9``) releases
  its rows within one lease: another worker sends them within about 20 s. A worker that could
  not renew its lease stops sending the rest of its batch (another may hold it by then).
- E-mails of a batch go over one SMTP connection (:class:`webapp.dispatch.mail.Mailer`); each
  row is marked ``sent`` in its own short commit right after the server (or push service)
  accepted it, so a crash repeats at most the one message in flight per worker.
- If a worker dies after the SMTP server accepted the message but before the row was marked
  ``sent``, the lease expires and the row is sent again. SMTP has no
  way to make that impossible. The resend carries the same ``Message-ID`` (derived from the row id
  and its dedupe key, :func:`message_id`), so mail clients and archives that deduplicate on
  ``Message-ID`` show it once; others show it twice. ``attempts`` counts claims: a worker that
  dies mid-batch costs each unsent row of its batch one attempt.

Failures (:func:`classify_failure`): an SMTP 5xx answer to the sender, a recipient or the data
is *permanent* (the address does not exist, the server refuses the message): the row is ``dead``
at once. Anything else (4xx, connection refused, time-outs, 5xx during login or greeting, which
are our configuration, not the message) is *temporary*: retried with back-off until
``OUTBOX_MAX_ATTEMPTS``, then ``dead``. A row that dies is logged as an error and, when
``ADMIN_EMAIL`` is set, an ``admin_alert`` e-mail is queued to that address (an alert that dies
itself raises no further alert). ``flask outbox list --dead`` shows them, ``flask outbox retry``
sends one again.

Payload shape (JSON): ``{"to": [str], "subject": str, "text": str, "html": str | None,
"headers": {str: str}, "report_id": int | None}``. Messages are rendered when enqueued, so the
worker needs no request, templates or routing and sends exactly what the change described.
"""
from __future__ import annotations

import contextlib
import email.message
import email.policy
import email.utils
import hashlib
import logging
import os
import random
import smtplib
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from datetime import datetime, timedelta

from flask import current_app, has_request_context, render_template, url_for
from flask_babel import force_locale, format_datetime, gettext as _
from sqlalchemy import bindparam, case, func, or_, select, update

from webapp.clock import utcnow
from webapp.departments.services import link_url
from webapp.dispatch import mail
from webapp.dispatch.models import OutboxMessage
from webapp.extensions import db
from webapp.geo import osm_url
from webapp.reports.models import Status
from webapp.reports.services import NOTICE_SUBSCRIBERS, tracking_token, tracking_url
from webapp.routing.services import explain
from email_validator import EmailNotValidError, validate_email

log = logging.getLogger(__name__)

#: Language of e-mails to units and residents (the city works in Polish).
MAIL_LOCALE = "pl"

#: ``kind`` of the e-mail that tells the administrator a message died.
ADMIN_ALERT = "admin_alert"

#: Callables ``check(report, change) -> bool`` asked before a notice to the resident about a
#: status change is queued (the e-mail here; web push asks through :func:`notices_allowed`
#: too); any False means no notice. Upper packages fill it in their init_app (moderation's
#: "notices" switch), so this package never imports them. Unit dispatch e-mails never ask.
NOTICE_CHECKS: list = []


def notices_allowed(report, change) -> bool:
    """True when every :data:`NOTICE_CHECKS` entry lets a notice about ``change`` go out."""
    return all(check(report, change) for check in NOTICE_CHECKS)


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
    report_id = payload.get("report_id") if isinstance(payload, dict) else None
    row = OutboxMessage(kind=kind, dedupe_key=dedupe_key, payload=payload, status="pending",
                        attempts=0, next_attempt_at=utcnow(),
                        report_id=report_id if isinstance(report_id, int) else None)
    db.session.add(row)
    return row


# --------------------------------------------------------------------------- rendering

@contextlib.contextmanager
def mail_context(locale: str = MAIL_LOCALE):
    """Render in ``locale`` (Polish by default), with ``url_for`` working also outside a
    request (worker, CLI)."""
    if has_request_context():
        with force_locale(locale):
            yield
        return
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    with current_app.test_request_context("/", base_url=base):
        with force_locale(locale):
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


#: Headers that hold addresses: a non-ASCII display name is encoded, the address kept as is.
_ADDRESS_HEADERS = frozenset({"from", "to", "cc", "reply-to"})


class _Policy(email.policy.Compat32):
    """The classic policy, writing a header that is ASCII, has no line break and fits on a
    line as it is, without the :class:`~email.header.Header` the classic policy wraps every
    header in and re-encodes at each flatten (half of flattening a message, about 0.1 ms of a
    worker's 1 ms of CPU per e-mail; issue 12). The bytes are the same; every header this
    module writes is such a header once :func:`_header` has encoded it, except the encoded
    ones folded onto several lines, which take the classic path."""

    def _as_is(self, name: str, value) -> str | None:
        if not isinstance(value, str) or not value.isascii() or "\n" in value or "\r" in value \
                or len(name) + 2 + len(value) > (self.max_line_length or 998):
            return None
        return f"{name}: {value}{self.linesep}"

    def fold(self, name, value):
        return self._as_is(name, value) or super().fold(name, value)

    def fold_binary(self, name, value):
        line = self._as_is(name, value)
        return super().fold_binary(name, value) if line is None else line.encode("ascii")


#: Classic policy, but a header is folded only past RFC 5322's 998 characters: folding a long
#: URL (``List-Unsubscribe``) onto its own line made readers see it with a leading space.
#: Encoded (non-ASCII) headers are folded at 76 by :func:`_header` itself.
_POLICY = _Policy(max_line_length=998)


def _header(name: str, value: str) -> str:
    """``value`` ready for a header: as is when ASCII, else RFC 2047 encoded (UTF-8, folded
    into encoded words of at most 76 characters a line)."""
    if value.isascii():
        return value
    if name.lower() in _ADDRESS_HEADERS:
        return ", ".join(email.utils.formataddr(pair, charset="utf-8")
                         for pair in email.utils.getaddresses([value]))
    return Header(value, "utf-8", header_name=name).encode(maxlinelen=76)


def build_message(row: OutboxMessage) -> email.message.Message:
    """Turn an outbox row's payload into a MIME message (text part, plus HTML when given, as
    ``multipart/alternative``; UTF-8, headers RFC 2047 encoded where not ASCII).
    Raises ``KeyError``/``ValueError`` for a malformed payload (counted as a failed attempt).

    Built with the classic ``email.mime`` classes, not :class:`email.message.EmailMessage`:
    the same message for a quarter of the CPU (1 ms instead of 4 ms, measured), which is most
    of what a worker spends per e-mail besides waiting for the server."""
    payload = row.payload
    text = MIMEText(payload["text"], "plain", "utf-8", policy=_POLICY)
    if payload.get("html"):
        msg: email.message.Message = MIMEMultipart("alternative", policy=_POLICY)
        msg.attach(text)
        msg.attach(MIMEText(payload["html"], "html", "utf-8", policy=_POLICY))
    else:
        msg = text
    headers = {"From": current_app.config["MAIL_DEFAULT_SENDER"],
               "To": ", ".join(payload["to"]),
               "Subject": payload["subject"],
               "Message-ID": message_id(row),
               "Date": email.utils.format_datetime(row.created_at),
               # RFC 3834: tell auto-responders (out-of-office) not to answer a robot.
               "Auto-Submitted": "auto-generated",
               **(payload.get("headers") or {})}
    for name, value in headers.items():
        msg[name] = _header(name, str(value))
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
    ``report.consent_version``; regulamin pkt 5) and :func:`notices_allowed` (an admin may
    switch notices off, regulamin pkt 10); returns ``None`` otherwise. Written in the
    language the resident used (``report.language``, Polish when unknown); holds the new
    status, the public note, the private tracking link and a one-click unsubscribe link, with
    the RFC 8058 ``List-Unsubscribe`` / ``List-Unsubscribe-Post`` headers. Dedupe key:
    ``status_notice:{report id}:{change id}``.
    """
    if not (report.email and report.consent_version) or not notices_allowed(report, change):
        return None
    locale = report.language if report.language in current_app.config["LANGUAGES"] else MAIL_LOCALE
    db.session.flush()  # the change's id names the message
    with mail_context(locale):
        # The endpoint belongs to webapp.push (above dispatch): named, not imported.
        unsubscribe_url = absolute_url("push.email_unsubscribe",
                                       token=tracking_token(report.client_id))
        context = {
            "report": report,
            "change": change,
            "status_label": Status(change.status).label,
            "category": routing.category_name(report.service_code, locale),
            "tracking_url": tracking_url(report),
            "unsubscribe_url": unsubscribe_url,
            "lang": locale,
        }
        subject = _("Report %(number)s: %(status)s", number=report.number,
                    status=context["status_label"])
        payload = _payload(report, report.email, subject, "emails/status_notice", context)
    payload["headers"].update({"List-Unsubscribe": f"<{unsubscribe_url}>",
                               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
    return enqueue("status_notice", f"status_notice:{report.id}:{change.id}", payload)


def enqueue_subscriber_notices(report, change, *, routing) -> list[OutboxMessage]:
    """Render and enqueue the status ``change`` e-mail for every extra subscriber of ``report``
    (``reports.services.NOTICE_SUBSCRIBERS``: "me too" supporters who gave an address and
    consent); no commit. The same template as the author's notice, worded for a supporter and
    linking the report's *public* page (the author's tracking link is private), with the
    subscriber's own one-click unsubscribe link and RFC 8058 headers. Dedupe key:
    ``subscriber_notice:{report id}:{change id}:{subscriber key}``."""
    rows = []
    subscribers = [s for registered in NOTICE_SUBSCRIBERS for s in registered(report)]
    if subscribers:
        db.session.flush()  # the change's id names the messages
    for subscriber in subscribers:
        locale = subscriber.language if subscriber.language in current_app.config["LANGUAGES"] \
            else MAIL_LOCALE
        with mail_context(locale):
            unsubscribe_url = absolute_url(subscriber.unsubscribe_endpoint,
                                           **subscriber.unsubscribe_values)
            context = {"report": report, "change": change, "supporter": True,
                       "status_label": Status(change.status).label,
                       "category": routing.category_name(report.service_code, locale),
                       "tracking_url": absolute_url("reports.detail", report_id=report.id),
                       "unsubscribe_url": unsubscribe_url, "lang": locale}
            subject = _("Report %(number)s: %(status)s", number=report.number,
                        status=context["status_label"])
            payload = _payload(report, subscriber.email, subject, "emails/status_notice", context)
        payload["headers"].update({"List-Unsubscribe": f"<{unsubscribe_url}>",
                                   "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
        rows.append(enqueue("subscriber_notice",
                            f"subscriber_notice:{report.id}:{change.id}:{subscriber.key}", payload))
    return rows


# --------------------------------------------------------------------------- listeners
# Connected in webapp.dispatch.init_app; they run inside the announcing transaction, so the
# outbox row commits with the change that caused it.

def on_link_issued(link, *, report, unit, note: str, from_unit: str | None, routing, **_):
    """A unit got a signed link (a dispatch or a forward): queue the e-mail that carries it."""
    return enqueue_dispatch(report, link, unit, routing=routing, note=note, from_unit=from_unit)


def on_report_status_changed(report, *, change, routing, **_):
    """A report's status changed: queue the notice to the resident (when they consented) and
    to the supporters who asked for updates."""
    row = enqueue_status_notice(report, change, routing=routing)
    enqueue_subscriber_notices(report, change, routing=routing)
    return row


# --------------------------------------------------------------------------- sending

#: Senders of other message kinds (``kind -> function(row)``), registered by the packages that
#: own them (push: ``webapp.push``). A sender returns when the message was delivered (or needs
#: no delivery) and raises on failure; an exception with ``retry_after`` (seconds) delays the
#: retry at least that long, one with ``permanent = True`` marks the row dead at once. Kinds
#: not registered are e-mails.
SENDERS: dict = {}


def register_sender(kind: str, sender) -> None:
    """Send outbox rows of ``kind`` with ``sender(row)`` instead of as e-mail."""
    SENDERS[kind] = sender


def _backoff(attempts: int) -> timedelta:
    """Exponential back-off with jitter: ``base * 2**(attempts-1)`` capped, then a uniform
    random value between half and all of it, so workers that failed together retry apart.
    ``OUTBOX_BACKOFF_SECONDS`` (60) and ``OUTBOX_BACKOFF_MAX_SECONDS`` (3600) tune it."""
    base = float(current_app.config.get("OUTBOX_BACKOFF_SECONDS", 60))
    cap = float(current_app.config.get("OUTBOX_BACKOFF_MAX_SECONDS", 3600))
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=random.uniform(delay / 2, delay))


def lease_seconds() -> float:
    """Length of a worker's claim on a row (``OUTBOX_LOCK_SECONDS``, 20 s by default)."""
    return float(current_app.config.get("OUTBOX_LOCK_SECONDS", 20))


def _claim_token() -> str:
    """A token naming one claimed batch (host, process, random part; at most 64 characters)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _claim_batch(limit: int, now: datetime, token: str) -> list[OutboxMessage]:
    """Claim up to ``limit`` due rows for ``token`` in one statement and commit; return them as
    transient :class:`OutboxMessage` objects (not in the session: changing one writes nothing),
    due first.

    Due: ``pending``, ``next_attempt_at <= now``, no lease or an expired one (a crashed
    worker's). Sets ``locked_until = now + lease``, ``claimed_by = token``, ``attempts + 1``.
    PostgreSQL locks the candidate rows ``FOR UPDATE SKIP LOCKED`` (rows another worker is
    claiming at that instant are skipped, not waited for); SQLite drops that clause and runs
    the statement under its single write lock.
    """
    table = OutboxMessage.__table__
    due = (select(table.c.id)
           .where(table.c.status == "pending", table.c.next_attempt_at <= now,
                  or_(table.c.locked_until.is_(None), table.c.locked_until < now))
           .order_by(table.c.next_attempt_at, table.c.id)
           .limit(limit)
           .with_for_update(skip_locked=True)
           .cte("due"))
    # The claimed rows come back whole from the UPDATE itself (no second query), in no order.
    rows = [OutboxMessage(**dict(row._mapping)) for row in db.session.execute(
        update(table)
        .where(table.c.id.in_(select(due.c.id)))
        .values(locked_until=now + timedelta(seconds=lease_seconds()), claimed_by=token,
                attempts=table.c.attempts + 1)
        .returning(*table.c))]
    db.session.commit()
    rows.sort(key=lambda row: (row.next_attempt_at, row.id))
    return rows


class _Lease:
    """Keeps one batch's claim alive while the body of ``with`` runs: every third of the lease
    a thread moves ``locked_until`` of the rows still ``pending`` and claimed by ``token`` to
    one lease from the current time (shifted as ``now`` is shifted from the clock: tests run
    the worker at a moved clock), on its own connection, which stays open for the batch.
    :meth:`held` is False once the lease may have lapsed (no successful renewal for a whole
    lease): another worker may hold the rows by then, so the batch stops.

    On SQLite the open connection also keeps the file open between the worker's own commits
    (its connections are not pooled): closing the last connection checkpoints and removes the
    WAL, which made every commit of a lone worker cost about 40 ms (measured)."""

    def __init__(self, token: str, now: datetime):
        self.token = token
        self.length = lease_seconds()
        self.offset = now - utcnow()
        self.valid_until = time.monotonic() + self.length
        self._stop = threading.Event()
        self._opened = threading.Event()
        self._engine = db.engine
        self._thread = threading.Thread(target=self._run, name="outbox-lease", daemon=True)

    def held(self) -> bool:
        return time.monotonic() < self.valid_until

    def _run(self) -> None:
        try:
            conn = self._engine.connect()
        except Exception:  # noqa: BLE001 - renewals then fail and log; the batch goes on
            log.warning("could not open a connection to renew outbox claim %s", self.token,
                        exc_info=True)
            conn = None
        finally:
            self._opened.set()
        try:
            while not self._stop.wait(self.length / 3):
                self._renew(conn)
        finally:
            if conn is not None:
                conn.close()

    def _renew(self, conn) -> None:
        table = OutboxMessage.__table__
        started = time.monotonic()
        try:
            if conn is None or conn.closed or conn.invalidated:
                conn = self._engine.connect()
            with conn.begin():
                conn.execute(update(table)
                             .where(table.c.claimed_by == self.token,
                                    table.c.status == "pending")
                             .values(locked_until=utcnow() + self.offset
                                     + timedelta(seconds=self.length)))
            self.valid_until = started + self.length
        except Exception:  # noqa: BLE001 - a missed renewal only shortens the lease
            log.warning("could not renew the outbox claim %s", self.token, exc_info=True)

    def __enter__(self) -> "_Lease":
        self._thread.start()
        self._opened.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


#: SMTP exceptions whose 5xx code means "this message will never be accepted".
_MESSAGE_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused,
                   smtplib.SMTPDataError)


def classify_failure(exc: BaseException) -> str:
    """``"permanent"`` or ``"temporary"`` for an exception raised while sending.

    Permanent (RFC 5321 section 4.2.1, 5yz = "permanent negative completion"): a 5xx answer to
    MAIL FROM, to every RCPT TO, or to DATA; and a payload we cannot turn into a message
    (``KeyError``/``ValueError``/``TypeError``). Temporary: 4xx answers, connection and time-out
    errors (:class:`OSError`, :class:`smtplib.SMTPServerDisconnected`), and failures before the
    message is named (greeting, STARTTLS, login), which are about our configuration and would
    kill every message at once.
    """
    if getattr(exc, "permanent", False):  # a sender (e.g. push) said so itself
        return "permanent"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        return "permanent" if codes and all(500 <= code < 600 for code in codes) else "temporary"
    if isinstance(exc, _MESSAGE_ERRORS):
        return "permanent" if 500 <= exc.smtp_code < 600 else "temporary"
    if isinstance(exc, (KeyError, ValueError, TypeError)):
        return "permanent"
    return "temporary"


def _describe(exc: BaseException) -> str:
    """The error text kept on the row: the server's own words where it gave any."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        parts = [f"{addr}: {code} {_text(msg)}" for addr, (code, msg) in exc.recipients.items()]
        text = "recipient refused: " + "; ".join(parts)
    elif isinstance(exc, smtplib.SMTPResponseException):
        text = f"{type(exc).__name__}: {exc.smtp_code} {_text(exc.smtp_error)}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text[:2000]


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _alert_admin(row: OutboxMessage) -> OutboxMessage | None:
    """Queue an e-mail to ``ADMIN_EMAIL`` saying that ``row`` died (no commit).

    None when no ``ADMIN_EMAIL`` is set, or when ``row`` is itself an alert (so an unreachable
    administrator does not start a loop of alerts about alerts). Dedupe key:
    ``admin_alert:{row id}:{dead_at}``, one alert per death (a retried row that dies again is
    reported again)."""
    admin = (current_app.config.get("ADMIN_EMAIL") or "").strip()
    if not admin or row.kind == ADMIN_ALERT:
        return None
    to = ", ".join((row.payload or {}).get("to") or [])
    with mail_context():
        subject = _("Undeliverable e-mail %(id)s to %(to)s", id=row.id, to=to)
        lines = [
            _("The portal could not deliver an e-mail and has stopped trying."),
            "",
            _("Message: %(id)s (%(kind)s)", id=row.id, kind=row.kind),
            _("To: %(to)s", to=to),
            _("Subject: %(subject)s", subject=(row.payload or {}).get("subject", "")),
            _("Attempts: %(n)s", n=row.attempts),
            _("Error: %(error)s", error=row.last_error or ""),
        ]
        if row.report_id is not None:
            lines.append(_("Report: %(url)s", url=absolute_url("reports.detail",
                                                                report_id=row.report_id)))
        lines += ["",
                  _("Correct the address (routing.toml) or the mail server, then send it again "
                    "with: flask outbox retry %(id)s (add --to ADDRESS for a new address)",
                    id=row.id),
                  _("All undelivered e-mails: flask outbox list --dead")]
        payload = {"to": [admin], "subject": subject, "text": "\n".join(lines) + "\n",
                   "html": None, "headers": {}, "report_id": None}
    stamp = row.dead_at.strftime("%Y%m%dT%H%M%S.%f")
    return enqueue(ADMIN_ALERT, f"admin_alert:{row.id}:{stamp}", payload)


def _fail(row: OutboxMessage, exc: BaseException, now: datetime, max_attempts: int,
          token: str) -> None:
    """Record a failed attempt on ``row`` (no commit): dead at once when permanent or out of
    attempts (logged as an error, admin alerted), else pending again after back-off (a
    warning). Only while the row is still ``pending`` and claimed by ``token``: a row another
    worker has claimed since (our lease lapsed) or already sent is left as it is."""
    kind = classify_failure(exc)
    row.last_error = _describe(exc)
    values = {"last_error": row.last_error, "locked_until": None, "claimed_by": None}
    dead = kind == "permanent" or row.attempts >= max_attempts
    if dead:
        row.status, row.dead_at = "dead", utcnow()
        values.update(status="dead", dead_at=row.dead_at)
    else:
        delay = _backoff(row.attempts)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:  # the server said when (HTTP Retry-After)
            delay = max(delay, timedelta(seconds=float(retry_after)))
        row.next_attempt_at = now + delay
        values["next_attempt_at"] = row.next_attempt_at
    table = OutboxMessage.__table__
    result = db.session.execute(update(table).where(
        table.c.id == row.id, table.c.claimed_by == token, table.c.status == "pending")
        .values(**values))
    if result.rowcount != 1:
        log.warning("outbox message %s failed (%s) after another worker took it over",
                    row.id, row.last_error)
        return
    if dead:
        reason = "refused permanently" if kind == "permanent" else \
            f"failed {row.attempts} times"
        log.error("outbox message %s (%s, %s) is dead: %s: %s", row.id, row.kind,
                  row.dedupe_key, reason, row.last_error)
        _alert_admin(row)
    else:
        log.warning("outbox message %s attempt %d failed (temporary), next at %s: %s",
                    row.id, row.attempts, row.next_attempt_at.isoformat(), row.last_error)


#: The statement that marks one row sent, built once: a worker runs it for every message, and
#: building an ``update()`` (plus the session's ORM path) per message cost more CPU than the
#: database spent running it (issue 12, profiled).
_MARK_SENT = (update(OutboxMessage.__table__)
              .where(OutboxMessage.__table__.c.id == bindparam("row_id"),
                     OutboxMessage.__table__.c.status != "sent")
              .values(status="sent", sent_at=bindparam("sent_now"), locked_until=None,
                      claimed_by=bindparam("token"), last_error=bindparam("error")))


def _mark_sent(conn, row: OutboxMessage, refused: dict | None, token: str) -> None:
    """Mark ``row`` sent now by the claim ``token`` (kept in ``claimed_by``: which worker sent
    it), on ``conn``: a connection in autocommit mode held for the batch, so the mark is one
    statement that is its own transaction, durable when this returns (PostgreSQL: one round
    trip instead of a pool check-out with its ping, BEGIN, UPDATE and COMMIT). Whoever holds
    its claim by now: it was delivered. A row already marked by another worker's copy keeps
    its first ``sent_at``."""
    conn.execute(_MARK_SENT, {"row_id": row.id, "sent_now": utcnow(), "token": token,
                              "error": _describe_refused(refused) if refused else None})
    conn.commit()  # nothing to commit in autocommit mode; ends SQLite's write turn (database.py)


def _release(rows: list[OutboxMessage], token: str) -> None:
    """Give back claimed rows this batch did not try (the worker is stopping): they are due
    again at once for another worker, and the claim does not count as an attempt. Commits."""
    if not rows:
        return
    table = OutboxMessage.__table__
    db.session.execute(update(table).where(
        table.c.id.in_([r.id for r in rows]), table.c.claimed_by == token,
        table.c.status == "pending")
        .values(locked_until=None, claimed_by=None, attempts=table.c.attempts - 1))
    db.session.commit()


@dataclass(frozen=True)
class Batch:
    """What one pass of the worker did: rows ``claimed`` and rows ``sent``."""

    claimed: int
    sent: int


def process_batch(*, limit: int = 20, now: datetime | None = None, stop=None) -> Batch:
    """Claim up to ``limit`` due rows (:func:`_claim_batch`) and send them, renewing the claim
    meanwhile (:class:`_Lease`); return a :class:`Batch`.

    E-mails share one SMTP connection (:class:`webapp.dispatch.mail.Mailer`); other kinds go
    to their registered sender (:data:`SENDERS`). No transaction stays open while talking to
    SMTP or a push service. Each success is committed at once (``status='sent'``,
    ``sent_at``: one autocommitted statement, :func:`_mark_sent`). On failure
    (:func:`classify_failure`): a permanent one makes the row ``dead``
    at once; a temporary one sets ``next_attempt_at = now + back-off``, and ``dead`` after
    ``OUTBOX_MAX_ATTEMPTS`` attempts. Either way ``last_error`` keeps the server's answer; a
    death is logged as an error and alerts ``ADMIN_EMAIL`` (nothing is deleted). When ``stop``
    (a :class:`threading.Event`) is set mid-batch, or the lease could not be renewed, the
    batch ends early; rows not tried are released when stopping. ``now`` is UTC (tests move
    it forward). Must run inside an app context; commits its own transactions.
    """
    now = now or utcnow()
    max_attempts = int(current_app.config.get("OUTBOX_MAX_ATTEMPTS", 8))
    token = _claim_token()
    rows = _claim_batch(limit, now, token)
    if not rows:
        return Batch(0, 0)
    sent = 0
    with _Lease(token, now) as lease, mail.Mailer() as mailer, \
            db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as marks:
        for index, row in enumerate(rows):
            if stop is not None and stop.is_set():
                _release(rows[index:], token)
                break
            if not lease.held():
                log.warning("outbox claim %s lapsed; leaving %d message(s) to other workers",
                            token, len(rows) - index)
                break
            try:
                sender = SENDERS.get(row.kind)
                refused = None
                if sender is not None:
                    sender(row)
                else:
                    refused = mailer.send(build_message(row))
            except Exception as exc:  # kept on the row; classify_failure decides what follows
                db.session.rollback()  # whatever the sender left half done
                _fail(row, exc, now, max_attempts, token)
                db.session.commit()
                continue
            if sender is not None:
                # What the sender left in the session, and its transaction, end first (on
                # SQLite an open write would lock out the mark on the other connection).
                db.session.commit()
            _mark_sent(marks, row, refused, token)
            sent += 1
    return Batch(len(rows), sent)


def process_due(*, limit: int = 20, now: datetime | None = None) -> int:
    """Send one batch of up to ``limit`` due outbox rows (:func:`process_batch`); return how
    many were sent."""
    return process_batch(limit=limit, now=now).sent


def next_due_in(now: datetime | None = None) -> float | None:
    """Seconds until the earliest pending row becomes due (its back-off ends or its lease
    expires; 0 when one is due now), or None when nothing is pending. One query on the
    status index (pending rows are few)."""
    now = now or utcnow()
    table = OutboxMessage.__table__
    due_at = case((table.c.locked_until > table.c.next_attempt_at, table.c.locked_until),
                  else_=table.c.next_attempt_at)
    earliest = db.session.scalar(select(func.min(due_at)).where(table.c.status == "pending"))
    db.session.commit()
    if earliest is None:
        return None
    return max(0.0, (earliest - now).total_seconds())


def _describe_refused(refused: dict) -> str:
    """``last_error`` of a message sent to some but not all of its recipients."""
    return ("sent, but some recipients were refused: "
            + "; ".join(f"{addr}: {code} {_text(msg)}"
                        for addr, (code, msg) in refused.items()))[:2000]


# --------------------------------------------------------------------------- operating

#: Built once, on the Core table: constructing an ORM select on every call cost ~1 ms, four
#: times the query itself (SQLite, measured), and ``/healthz`` runs it on every probe.
_DEAD_COUNT = (select(func.count()).select_from(OutboxMessage.__table__)
               .where(OutboxMessage.__table__.c.status == "dead"))


def dead_count() -> int:
    """How many outbox rows are ``dead`` (one ``count(*)`` on the status index; for
    ``/healthz``, which uses it as its database check too)."""
    return int(db.session.scalar(_DEAD_COUNT))


def list_messages(*, dead_only: bool = False, limit: int = 100) -> list[OutboxMessage]:
    """Outbox rows, newest first (``dead_only``: only ``dead`` ones), at most ``limit``."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if dead_only:
        query = query.where(OutboxMessage.status == "dead")
    return list(db.session.scalars(query))


class RetryError(Exception):
    """The row cannot be retried (unknown id, or already sent); ``str()`` says why."""


def retry(row_id: int, *, to: list[str] | None = None,
          now: datetime | None = None) -> OutboxMessage:
    """Make a ``dead`` (or waiting ``pending``) row due now, with a fresh set of attempts;
    commits and returns it. ``to`` replaces the recipients (a message is rendered when queued,
    so a unit's corrected address in ``routing.toml`` does not reach an old message by
    itself); each must be a valid address. ``last_error`` stays until a send succeeds.
    Raises :class:`RetryError` for an unknown id, a row already ``sent`` or a bad address."""

    row = db.session.get(OutboxMessage, row_id)
    if row is None:
        raise RetryError(f"no outbox message {row_id}")
    if row.status == "sent":
        raise RetryError(f"outbox message {row_id} was already sent at "
                         f"{row.sent_at:%Y-%m-%d %H:%M:%S} UTC")
    if to:
        for address in to:
            try:
                validate_email(address, check_deliverability=False)
            except EmailNotValidError as exc:
                raise RetryError(f"not an e-mail address: {address!r} ({exc})") from None
        row.payload = {**row.payload, "to": list(to)}  # a new dict: JSON columns track assignment
    row.status = "pending"
    row.attempts = 0
    row.next_attempt_at = now or utcnow()
    row.locked_until = None
    row.dead_at = None
    db.session.commit()
    log.info("outbox message %s (%s) queued again by an operator, to %s", row.id, row.kind,
             ", ".join(row.payload.get("to") or []))
    return row
