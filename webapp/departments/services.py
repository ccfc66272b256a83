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

from webapp.clock import utcnow
from webapp.departments.models import DepartmentLink
from webapp.extensions import db

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


def osm_url(lat: float, long: float) -> str:
    """OpenStreetMap link centred on WGS84 ``lat``/``long`` (degrees) with a marker, zoom 18."""
    return (f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={long:.6f}"
            f"#map=18/{lat:.6f}/{long:.6f}")


def units() -> dict:
    """The units of the current routing configuration, ``{unit id: Unit}`` (``routing.toml``)."""
    from webapp.routing.services import current_routing
    return current_routing().units


def get_unit(unit_id: str | None):
    """The routing ``Unit`` with ``unit_id``, or ``None`` when unknown."""
    if not unit_id:
        return None
    return units().get(unit_id)


def unit_name(unit_id: str | None) -> str:
    """Display name of a unit; the bare id when ``routing.toml`` no longer lists it (old
    history entries must still render)."""
    unit = get_unit(unit_id)
    return unit.name if unit is not None else (unit_id or "")


def category_name(service_code: str, lang: str = "pl") -> str:
    """Name of the category ``service_code`` in ``lang`` (Polish by default); the code itself
    when ``routing.toml`` no longer lists it."""
    from webapp.routing.services import current_routing
    try:
        service = current_routing().service(service_code)
    except (KeyError, LookupError):
        service = None
    if service is None:
        return service_code
    try:
        return service.name(lang)
    except (KeyError, LookupError, TypeError):
        return service.name_pl


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def issue_link(report, unit_id: str, *, now: datetime | None = None,
               max_age_days: int | None = None) -> DepartmentLink:
    """Create a link row for ``unit_id`` on ``report`` and add it to the session (no commit).

    The id is ``secrets.token_urlsafe(16)`` (128 random bits). ``expires_at`` is ``now`` (UTC,
    default the current time) plus ``max_age_days`` (default ``DEPARTMENT_LINK_MAX_AGE_DAYS``,
    30). Flushes when ``report`` has no id yet, because the link must name it.
    """
    now = now or utcnow()
    days = max_age_days if max_age_days is not None else \
        current_app.config.get("DEPARTMENT_LINK_MAX_AGE_DAYS", 30)
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
