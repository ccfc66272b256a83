"""Signed department links: issue, sign, resolve and revoke.

A link is two things that must agree: a ``department_link`` row (random id, unit, report,
``expires_at``, ``revoked_at``) and an itsdangerous signature over ``{"l": id, "r": report_id,
"u": unit_id}`` made with ``SECRET_KEY`` and the salt ``"department-link"``. The signature proves
the URL was made by us and bounds its age; the row makes it revocable (issue 2: "scoped to one
report and one unit; expires, 30 days by default; revocable").
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from flask import current_app, has_request_context, url_for
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from webapp.clock import utcnow
from webapp.departments.models import DepartmentLink
from webapp.departments.signals import link_issued
from webapp.extensions import db
from webapp.reports.lifecycle import StatusError, set_status

SALT = "department-link"

LINK_ERROR_MESSAGES = {
    "invalid": _l("This link is not valid. Check that it was copied whole, or ask the "
                  "Contact Centre for a new one."),
    "expired": _l("This link has expired. Ask the Contact Centre for a new one."),
    "revoked": _l("This link has been withdrawn, for example because the report was forwarded "
                  "to another unit."),
}


class LinkError(ValueError):
    """A department link that cannot be used.

    ``reason`` is ``"invalid"`` (bad signature, unknown row, mismatched report or unit),
    ``"expired"`` (signature older than the link's life, or the row's ``expires_at`` passed) or
    ``"revoked"``. ``message`` is a lazy translated text for the person holding the link.
    """

    def __init__(self, reason: str):
        if reason not in LINK_ERROR_MESSAGES:
            raise ValueError(f"unknown link error reason {reason!r}")
        self.reason = reason
        self.message = LINK_ERROR_MESSAGES[reason]
        super().__init__(reason)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def issue_link(report, unit_id: str, *, max_age_days: int, now: datetime | None = None
               ) -> DepartmentLink:
    """Create a link row for ``unit_id`` on ``report`` and add it to the session (no commit).

    The id is ``secrets.token_urlsafe(16)`` (128 random bits). ``expires_at`` is ``now`` (UTC,
    default the current time) plus ``max_age_days`` (the app's
    ``DEPARTMENT_LINK_MAX_AGE_DAYS``, 30). Flushes when ``report`` has no id yet, because the
    link must name it.
    """
    now = now or utcnow()
    days = max_age_days
    if report.id is None:
        db.session.add(report)
        db.session.flush()
    link = DepartmentLink(id=secrets.token_urlsafe(16), report_id=report.id, unit_id=unit_id,
                          created_at=now, expires_at=now + timedelta(days=days))
    db.session.add(link)
    return link


def link_token(link: DepartmentLink) -> str:
    """The signed, URL-safe token for ``link`` (timestamped by itsdangerous, so its age is
    checked again by :func:`resolve_token`)."""
    return _serializer().dumps({"l": link.id, "r": link.report_id, "u": link.unit_id})


def link_url(link: DepartmentLink) -> str:
    """Absolute URL of the department page for ``link``: ``PUBLIC_BASE_URL`` plus the path of
    ``departments.show``. Works outside a request (the worker, the CLI)."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    token = link_token(link)
    if has_request_context():
        path = url_for("departments.show", token=token)
    else:
        with current_app.test_request_context("/"):
            path = url_for("departments.show", token=token)
    return base + path


def _link_life(link: DepartmentLink) -> timedelta:
    return link.expires_at - link.created_at


def resolve_token(token: str, *, now: datetime | None = None) -> DepartmentLink:
    """Return the :class:`DepartmentLink` named by ``token`` if it may be used at ``now`` (UTC).

    Raises :class:`LinkError`: ``"invalid"`` for a bad or tampered signature, a payload of the
    wrong shape, an unknown link id, or a report/unit that differ from the row's; ``"revoked"``
    when ``revoked_at`` is set; ``"expired"`` when the signature is older than the link's life
    (``expires_at - created_at``; checked both by itsdangerous against the wall clock and
    against ``now``) or ``now >= expires_at``.
    """
    now = now or utcnow()
    serializer = _serializer()
    try:
        payload, signed_at = serializer.loads(token, return_timestamp=True)
    except BadSignature:
        raise LinkError("invalid") from None
    if not (isinstance(payload, dict) and isinstance(payload.get("l"), str)
            and isinstance(payload.get("r"), int) and isinstance(payload.get("u"), str)):
        raise LinkError("invalid")
    link = db.session.get(DepartmentLink, payload["l"])
    if link is None or link.report_id != payload["r"] or link.unit_id != payload["u"]:
        raise LinkError("invalid")
    if link.revoked_at is not None:
        raise LinkError("revoked")
    life = _link_life(link)
    try:
        serializer.loads(token, max_age=max(1, int(life.total_seconds())))
    except SignatureExpired:
        raise LinkError("expired") from None
    except BadSignature:  # pragma: no cover - the first loads() already checked it
        raise LinkError("invalid") from None
    if now - signed_at > life or now >= link.expires_at:
        raise LinkError("expired")
    return link


def revoke_links(report, unit_id: str | None = None, *, now: datetime | None = None) -> int:
    """Revoke the report's links that are not yet revoked (only ``unit_id``'s when given).

    Sets ``revoked_at = now`` (UTC) in the session, no commit. Returns how many links were
    revoked.
    """
    now = now or utcnow()
    query = select(DepartmentLink).where(DepartmentLink.report_id == report.id,
                                         DepartmentLink.revoked_at.is_(None))
    if unit_id is not None:
        query = query.where(DepartmentLink.unit_id == unit_id)
    count = 0
    for link in db.session.scalars(query):
        link.revoked_at = now
        count += 1
    return count


def change_status_through_link(link: DepartmentLink, *, status: str, note: str,
                               target_unit: str | None, routing):
    """Apply and commit one status change asked for through ``link``; return the
    :class:`~webapp.reports.models.StatusChange` (a new one, or the one a resend repeats).

    ``status``/``note``/``target_unit`` are the form's raw values; every rule is
    :func:`~webapp.reports.lifecycle.set_status`'s (a resend of the change just made is a
    replay, answered as the first request was). Marks the link used. Two requests racing on
    one report (several gunicorn workers, a double submit without JavaScript) cannot both win:
    the report's version column makes the loser's UPDATE fail (``StaleDataError``); the loser
    reloads the report and decides once more, which turns a duplicate into a replay and a
    conflicting change into a clear refusal. Raises :class:`StatusError` after rolling back.
    """
    for attempt in range(2):
        try:
            change = set_status(link.report, status, actor_kind="unit", actor_id=link.unit_id,
                                note=note or "", target_unit=target_unit or None,
                                routing=routing)
            link.last_used_at = change.created_at
            db.session.commit()
            return change
        except StatusError:
            db.session.rollback()
            raise
        except StaleDataError:
            db.session.rollback()  # expires the report: the next attempt reads it afresh
            if attempt:
                raise
    raise AssertionError("unreachable")


def touch_link(link: DepartmentLink) -> None:
    """Record that ``link`` was opened now (UTC) and commit."""
    link.last_used_at = utcnow()
    db.session.commit()


# --------------------------------------------------------------------------- listeners
# Connected in webapp.departments.init_app to the signals of webapp.reports.signals.

def _issue_and_announce(report, unit, *, now, note: str, from_unit: str | None, routing):
    link = issue_link(report, unit.id, now=now,
                      max_age_days=current_app.config["DEPARTMENT_LINK_MAX_AGE_DAYS"])
    link_issued.send(link, report=report, unit=unit, note=note, from_unit=from_unit,
                     routing=routing)
    return link


def on_report_dispatched(report, *, change, unit, note: str, routing, **_):
    """A report was sent to ``unit``: give the unit a signed link (announced as
    :data:`~webapp.departments.signals.link_issued`). Returns the link."""
    return _issue_and_announce(report, unit, now=change.created_at, note=note, from_unit=None,
                               routing=routing)


def on_report_forwarded(report, *, change, from_unit: str | None, unit, note: str, routing, **_):
    """A unit forwarded the report: withdraw the old unit's links, give the new unit one."""
    if from_unit:
        revoke_links(report, from_unit, now=change.created_at)
    return _issue_and_announce(report, unit, now=change.created_at, note=note,
                               from_unit=from_unit, routing=routing)
