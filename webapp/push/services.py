"""Status notifications to residents: Web Push subscriptions, the push messages queued through
the outbox at each public status change, sending them, one-click unsubscribe for push and
e-mail, and erasing residents' e-mail addresses after the retention period.

Protocols: Web Push (RFC 8030), message encryption ``aes128gcm`` (RFC 8291), VAPID (RFC 8292),
sent with pywebpush. One-click unsubscribe for e-mail: RFC 8058.

Reliability. A status change enqueues one outbox row per subscription in the same transaction
(``kind="push"``), with the idempotency key ``push:{report id}:{change id}:{subscription id}``
as the outbox's unique ``dedupe_key``: a change replayed, or a listener run twice, adds nothing.
The worker claims a batch of rows before sending (a lease, see :mod:`webapp.dispatch.services`)
and marks each one sent in its own commit right after the push service answered 201, before
the next POST, so a worker killed and restarted repeats a row only if it died between the push
service's answer and that commit: at most the one message in flight per worker. The rest of its
batch is sent by another worker once the lease has expired, once. That repeat cannot be ruled
out: HTTP push has no transaction spanning the push service and our database, so exactly once
is not possible at the transport level. The resident still sees one notification: the repeat
carries the same ``Topic`` header (a push service keeps only the newest undelivered
message per topic, RFC 8030 §5.4, so a repeat still queued replaces the first) and the same
notification ``tag`` (the service worker shows it with that tag, and the phone replaces a
notification with the same tag instead of adding a second one).
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import json
import logging
from datetime import timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from flask import current_app, has_request_context, url_for
from flask_babel import force_locale, gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, select

from webapp.citymap.models import Support
from webapp.clock import utcnow
from webapp.dispatch.models import OutboxMessage
from webapp.dispatch.services import enqueue, mail_context, notices_allowed
from webapp.extensions import db
from webapp.push.models import PushSubscription
from webapp.reports.models import Report, Status
from webapp.reports.services import tracking_url
from pywebpush import WebPushException, webpush
from py_vapid import Vapid
from sqlalchemy import func
from webapp.reports.models import StatusChange

log = logging.getLogger(__name__)

PUSH_KIND = "push"
LANGUAGES = ("pl", "en", "uk")
_UNSUB_SALT = "push-unsubscribe"


class SubscriptionError(ValueError):
    """A subscription the server refuses; ``message`` is a translated text for the page."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


class PushFailed(Exception):
    """A push the push service did not accept. ``retry_after`` (seconds or None) is the
    earliest retry the service asked for (``Retry-After``); ``permanent`` means never retry
    (the outbox marks the row dead at once)."""

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


# --------------------------------------------------------------------------- subscriptions

def _b64decode(value: str) -> bytes:
    value = (value or "").strip()
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _endpoint_allowed(endpoint: str) -> bool:
    """Only push services named in ``PUSH_ALLOWED_HOSTS`` (host or ``.suffix``), over https
    (http only when ``PUSH_ALLOW_HTTP``, for tests on loopback): the worker POSTs to this URL,
    so an open choice would let anyone make the server call internal addresses."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username:
        return False
    if parts.scheme == "http" and not current_app.config.get("PUSH_ALLOW_HTTP"):
        return False
    host = parts.hostname.lower()
    for allowed in current_app.config.get("PUSH_ALLOWED_HOSTS") or ():
        allowed = allowed.lower()
        if host == allowed or (allowed.startswith(".") and host.endswith(allowed)):
            return True
    return False


def parse_subscription(data) -> tuple[str, str, str]:
    """Check a ``PushSubscription.toJSON()`` dict; return ``(endpoint, p256dh, auth)``.

    Raises :class:`SubscriptionError` for a missing or malformed field, a key that is not a
    P-256 point (65 bytes, starting 0x04) or a 16-byte auth secret, or a push service not in
    ``PUSH_ALLOWED_HOSTS``.
    """
    if not isinstance(data, dict):
        raise SubscriptionError(_("The browser sent no push subscription."))
    endpoint = data.get("endpoint")
    keys = data.get("keys") if isinstance(data.get("keys"), dict) else {}
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    if not all(isinstance(v, str) and v for v in (endpoint, p256dh, auth)) or len(endpoint) > 2000:
        raise SubscriptionError(_("The browser sent an incomplete push subscription."))
    try:
        raw_key, raw_auth = _b64decode(p256dh), _b64decode(auth)
    except (binascii.Error, ValueError):
        raise SubscriptionError(_("The browser sent an incomplete push subscription.")) from None
    if len(raw_key) != 65 or raw_key[0] != 4 or len(raw_auth) != 16:
        raise SubscriptionError(_("The browser sent an incomplete push subscription."))
    if not _endpoint_allowed(endpoint):
        raise SubscriptionError(_("This browser's push service is not supported. Choose e-mail "
                                  "notifications instead."))
    return endpoint, p256dh.strip(), auth.strip()


def subscribe(report: Report, data, *, lang: str) -> PushSubscription:
    """Store (or refresh) the browser subscription ``data`` for ``report``; commits.

    Idempotent per (report, endpoint): subscribing again updates the keys and language. Refused
    (:class:`SubscriptionError`) for a bad subscription, a push service not allowed, or when
    the report already has ``PUSH_MAX_PER_REPORT`` subscriptions.
    """
    endpoint, p256dh, auth = parse_subscription(data)
    lang = lang if lang in LANGUAGES else "pl"
    row = db.session.scalar(select(PushSubscription).where(
        PushSubscription.report_id == report.id, PushSubscription.endpoint == endpoint))
    if row is None:
        count = len(subscriptions_of(report))
        if count >= int(current_app.config.get("PUSH_MAX_PER_REPORT", 10)):
            raise SubscriptionError(_("Too many devices follow this report already."))
        row = PushSubscription(report_id=report.id, endpoint=endpoint, created_at=utcnow())
        db.session.add(row)
    row.p256dh, row.auth, row.lang, row.failures = p256dh, auth, lang, 0
    db.session.commit()
    return row


def subscriptions_of(report: Report) -> list[PushSubscription]:
    """The report's push subscriptions, oldest first."""
    return list(db.session.scalars(select(PushSubscription)
                                   .where(PushSubscription.report_id == report.id)
                                   .order_by(PushSubscription.id)))


def _forget_pending(subscription_ids: list[int]) -> None:
    """Delete pending push rows of these subscriptions (an unsubscribe stops queued ones too)."""
    for sid in subscription_ids:
        db.session.execute(delete(OutboxMessage).where(
            OutboxMessage.kind == PUSH_KIND, OutboxMessage.status == "pending",
            OutboxMessage.dedupe_key.like(f"push:%:%:{sid}")))


def unsubscribe(report: Report, endpoint: str | None = None) -> int:
    """Remove ``report``'s subscription for ``endpoint`` (all of them when None) and the push
    messages still queued for it; commits; returns how many subscriptions were removed.
    Idempotent (0 when there was nothing to remove)."""
    query = select(PushSubscription).where(PushSubscription.report_id == report.id)
    if endpoint:
        query = query.where(PushSubscription.endpoint == endpoint)
    rows = list(db.session.scalars(query))
    _forget_pending([r.id for r in rows])
    for row in rows:
        db.session.delete(row)
    db.session.commit()
    return len(rows)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_UNSUB_SALT)


def unsubscribe_token(subscription: PushSubscription) -> str:
    """A signed token naming one subscription (for the unsubscribe link in a notification)."""
    return _serializer().dumps([subscription.id, subscription.report_id])


def unsubscribe_by_token(token: str) -> bool | None:
    """Remove the subscription a token from :func:`unsubscribe_token` names; commits.

    Returns True when removed, False when it was already gone, None for a forged token."""
    try:
        sid, report_id = _serializer().loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    row = db.session.get(PushSubscription, sid)
    if row is None or row.report_id != report_id:
        return False
    _forget_pending([row.id])
    db.session.delete(row)
    db.session.commit()
    return True


# --------------------------------------------------------------------------- enqueue

def _absolute(path: str) -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


def notification_for(report: Report, change, subscription: PushSubscription) -> dict:
    """The notification text for one subscription, in its language: ``{"title", "body", "url",
    "unsubscribe_url", "stop_label", "tag", "number", "lang", "icon", "badge"}`` (JSON-ready).

    ``url`` is the report's private tracking page; ``tag`` is the same for a repeated send of
    the same notification, so a phone shows it once.
    """

    with force_locale(subscription.lang):
        label = Status(change.status).label
        title = _("Report %(number)s: %(status)s", number=report.number, status=label)
        body = change.note or _("The status of your report has changed. Open it to see the details.")
        stop_label = _("Stop notifications")
    return {
        "title": title,
        "body": body[:300],
        "url": tracking_url(report),
        "unsubscribe_url": _absolute(url_for("push.unsubscribe_link",
                                             token=unsubscribe_token(subscription))),
        "stop_label": stop_label,
        "tag": f"report-{report.id}-change-{change.id}",
        "number": report.number,
        "lang": subscription.lang,
        "icon": _absolute("/static/icons/icon-192.png"),
        "badge": _absolute("/static/icons/icon-192.png"),
    }


def idempotency_key(report_id: int, change_id: int, subscription_id: int) -> str:
    """``push:{report}:{change}:{subscription}``: one notification per status change, channel
    and recipient (the outbox's unique ``dedupe_key``)."""
    return f"push:{report_id}:{change_id}:{subscription_id}"


def enqueue_push(report: Report, change) -> list[OutboxMessage]:
    """Queue one push message per subscription of ``report`` for ``change`` (no commit).

    Payload: ``{"subscription_id", "report_id", "notification": {...}}`` (see
    :func:`notification_for`); the endpoint and keys are read at send time, so a subscription
    removed meanwhile gets nothing. Idempotent through :func:`idempotency_key`.
    """
    subs = subscriptions_of(report)
    if not subs:
        return []
    db.session.flush()  # the change's id names the messages
    rows = []
    with _url_context():
        for sub in subs:
            payload = {"subscription_id": sub.id, "report_id": report.id,
                       "notification": notification_for(report, change, sub)}
            rows.append(enqueue(PUSH_KIND, idempotency_key(report.id, change.id, sub.id), payload))
    return rows


def _url_context():
    """``url_for`` needs a request: outside one (worker, CLI) borrow the outbox's."""
    if has_request_context():
        return contextlib.nullcontext()
    return mail_context()


def on_status_changed(sender, report=None, change=None, **extra) -> None:
    """``report_status_changed`` receiver: queue the push notifications of a public change.
    ``awaiting_moderation`` is not announced (the resident was told when sending), nor anything
    while notices to residents are switched off (:func:`notices_allowed`)."""
    report = report if report is not None else sender
    if change is None or change.status == Status.AWAITING_MODERATION.value:
        return
    if not notices_allowed(report, change):
        return
    enqueue_push(report, change)


# --------------------------------------------------------------------------- sending

def _retry_after(response) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), or None."""
    value = (response.headers.get("Retry-After") or "").strip() if response is not None else ""
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - utcnow()).total_seconds())


def topic(key: str) -> str:
    """RFC 8030 ``Topic`` header for an idempotency key: 32 base64url characters."""
    return base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()).decode()[:32]


@functools.lru_cache(maxsize=4)
def _vapid(private_pem: bytes) -> Vapid:
    """The VAPID signer for a key, parsed once per process (parsing cost a share of each send)."""
    return Vapid.from_pem(private_pem)


def send_push(row: OutboxMessage) -> None:
    """Outbox sender for ``kind="push"``: encrypt and POST one notification.

    Success (201/202): returns; the subscription's failure count is reset. 404/410 (the browser
    unsubscribed, RFC 8030 §7.3): the subscription is deleted and the message counts as done.
    429 and 5xx: raises :class:`PushFailed` with the ``Retry-After`` the service gave (the
    outbox retries with back-off, not before that time). Other 4xx (a malformed request, our
    key refused): raises :class:`PushFailed` ``permanent``. Every failure increments the
    subscription's ``failures``; at ``PUSH_MAX_FAILURES`` the subscription is dropped.
    Sends ``TTL`` (``PUSH_TTL_SECONDS``), ``Urgency: normal`` and ``Topic``.
    """

    config = current_app.config
    sub = db.session.get(PushSubscription, row.payload.get("subscription_id"))
    if sub is None:
        log.info("push %s: subscription gone, nothing to send", row.dedupe_key)
        return
    data = json.dumps(row.payload["notification"], ensure_ascii=False)
    vapid = _vapid(current_app.extensions["push"]["private_pem"])
    try:
        webpush({"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}},
                data=data, vapid_private_key=vapid,
                vapid_claims={"sub": config["VAPID_SUBJECT"]},  # fresh dict: pywebpush adds aud/exp
                ttl=int(config.get("PUSH_TTL_SECONDS", 172800)),
                headers={"Urgency": "normal", "Topic": topic(row.dedupe_key)},
                timeout=float(config.get("PUSH_TIMEOUT", 10)))
    except WebPushException as exc:
        status = getattr(exc.response, "status_code", None)
        if status in (404, 410):
            log.info("push %s: subscription expired (%s), removed", row.dedupe_key, status)
            db.session.delete(sub)
            db.session.commit()
            return
        _failed(sub, f"HTTP {status}")
        if status == 429 or (status is not None and status >= 500):
            raise PushFailed(f"push service answered {status}",
                             retry_after=_retry_after(exc.response)) from None
        raise PushFailed(f"push service refused the message: {status}", permanent=True) from None
    except Exception as exc:  # connection refused, timeout: temporary
        _failed(sub, f"{type(exc).__name__}: {exc}")
        raise PushFailed(f"{type(exc).__name__}: {exc}") from None
    if sub.failures:
        sub.failures, sub.last_error = 0, None
        db.session.commit()


def _failed(sub: PushSubscription, error: str) -> None:
    sub.failures = (sub.failures or 0) + 1
    sub.last_error = error[:500]
    if sub.failures >= int(current_app.config.get("PUSH_MAX_FAILURES", 5)):
        log.warning("push subscription %s dropped after %d failures: %s", sub.id, sub.failures, error)
        db.session.delete(sub)
    db.session.commit()


# --------------------------------------------------------------------------- e-mail consent

def _erase_address(holder, kind: str, key_pattern: str, *, drop_pending: bool) -> None:
    """Forget ``holder``'s (a report or a "me too" support) e-mail address and consent record,
    and the address in its notices kept in the outbox (rows of ``kind`` whose dedupe key is
    LIKE ``key_pattern``: ``to`` emptied); with ``drop_pending`` queued notices are deleted
    (nothing more is sent). No commit."""
    holder.email = None
    holder.consent_version = None
    holder.consent_text = None
    holder.consent_at = None
    rows = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == kind, OutboxMessage.dedupe_key.like(key_pattern)))
    for row in rows:
        if drop_pending and row.status == "pending":
            db.session.delete(row)
        else:
            row.payload = {**(row.payload or {}), "to": []}  # a new dict: JSON columns track assignment


def _erase_email(report: Report, *, drop_pending: bool) -> None:
    """:func:`_erase_address` for a report's author (``status_notice:{report}:*``)."""
    _erase_address(report, "status_notice", f"status_notice:{report.id}:%", drop_pending=drop_pending)


def _erase_support_email(support: Support, *, drop_pending: bool) -> None:
    """:func:`_erase_address` for a "me too" supporter
    (``subscriber_notice:{report}:*:support-{id}``). The support itself stays (it still counts)."""
    _erase_address(support, "subscriber_notice",
                   f"subscriber_notice:{support.report_id}:%:support-{support.id}",
                   drop_pending=drop_pending)


def withdraw_support_email_consent(support: Support) -> bool:
    """A supporter withdraws e-mail consent (RODO art. 7(3)): erase the address and consent of
    the support, drop its queued notices; commits. Idempotent: False when nothing was left."""
    had = bool(support.email or support.consent_version)
    _erase_support_email(support, drop_pending=True)
    db.session.commit()
    return had


def withdraw_email_consent(report: Report) -> bool:
    """The resident withdraws e-mail consent (RODO art. 7(3)): erase the address and consent,
    drop queued notices; commits. Idempotent: False when there was nothing to withdraw."""
    had = bool(report.email or report.consent_version)
    _erase_email(report, drop_pending=True)
    db.session.commit()
    return had


def erase_expired_emails(*, now=None) -> int:
    """The retention job: erase the e-mail address (and consent record, and the copies in its
    outbox notices) of every report closed (``resolved``/``rejected``) more than
    ``EMAIL_RETENTION_DAYS`` days ago, and of its "me too" supporters likewise; commits;
    returns how many reports' own addresses were erased.

    "Closed at" is the time of the report's latest status change; a reopened report is not
    closed. Nothing else about the report changes. ``now`` is UTC (tests move it).
    """
    now = now or utcnow()
    cutoff = now - timedelta(days=float(current_app.config.get("EMAIL_RETENTION_DAYS", 30)))
    last_change = (select(StatusChange.report_id, func.max(StatusChange.created_at).label("at"))
                   .group_by(StatusChange.report_id).subquery())
    reports = list(db.session.scalars(
        select(Report).join(last_change, last_change.c.report_id == Report.id)
        .where(Report.status.in_([Status.RESOLVED.value, Status.REJECTED.value]),
               (Report.email.is_not(None)) | (Report.consent_version.is_not(None)),
               last_change.c.at <= cutoff)))
    for report in reports:
        _erase_email(report, drop_pending=False)
    supports = list(db.session.scalars(
        select(Support).join(Report, Report.id == Support.report_id)
        .join(last_change, last_change.c.report_id == Report.id)
        .where(Report.status.in_([Status.RESOLVED.value, Status.REJECTED.value]),
               (Support.email.is_not(None)) | (Support.consent_version.is_not(None)),
               last_change.c.at <= cutoff)))
    for support in supports:
        _erase_support_email(support, drop_pending=False)
    db.session.commit()
    if reports or supports:
        log.info("erased the e-mail address of %d closed report(s) and %d supporter(s)",
                 len(reports), len(supports))
    return len(reports)


def give_email_consent(report: Report, email: str, *, consent_text: str, consent_version: str,
                       lang: str) -> None:
    """Record ``email`` and the consent to use it for ``report`` (from its tracking page), with
    the consent's text, version and time (UTC) as the form does; notices then go out in
    ``lang``. Commits. The caller has validated the address and the ticked consent."""
    report.email = email
    report.consent_text = consent_text
    report.consent_version = consent_version
    report.consent_at = utcnow()
    if lang in LANGUAGES:
        report.language = lang
    db.session.commit()
