"""The moderation queue and the operators' actions on a report.

Every action is audited (``webapp.audit``) with before and after, adds to ``db.session`` and
does not commit (the view commits once). Errors: :class:`ModerationError` with a lazy message.
"""
from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import force_locale, gettext as _, lazy_gettext as _l
from sqlalchemy import func, select

from webapp.audit.services import record
from webapp.citymap.services import add_merged_support
from webapp.clock import utcnow
from webapp.departments.services import issue_link, revoke_links
from webapp.departments.signals import link_issued
from webapp.extensions import db
from webapp.moderation.models import ContentHold, InternalNote, SubmissionOrigin, SubmitterBlock
from webapp.reports.lifecycle import StatusError, dispatch_report, set_status
from webapp.reports.models import Report, Status

#: Prepared public reasons for a rejection (Polish is the public language of the city).
REJECT_REASONS = {
    "emergency": (_l("Threat to life or health"),
                  _l("This portal is not for threats to life or health. In such a case call 112 "
                     "at once.")),
    "formal_letter": (_l("Formal letter"),
                      _l("Complaints, requests and petitions are submitted through the city "
                         "office's channels (ePUAP, the office's inbox), not through this "
                         "portal.")),
    "outside_lodz": (_l("Outside Łódź"),
                     _l("The place is outside Łódź; the city's services cannot act there.")),
    "duplicate": (_l("Duplicate"),
                  _l("The same problem has already been reported: report %(number)s.")),
}

NEARBY_METRES = 50
#: ``routing_rule`` of a report an operator re-routed: ``operator:<reason>``.
OPERATOR_RULE = "operator"
#: The longest reason that fits ``routing_rule`` (128 characters) after ``operator:``.
REASON_MAX_LENGTH = 128 - len(OPERATOR_RULE) - 1
EARTH_RADIUS_M = 6371008.8
OPEN_STATUSES = tuple(s.value for s in Status if s.open311 == "open")


class ModerationError(ValueError):
    """A refused action; ``message`` is a lazy translated text, ``field`` the form field."""

    def __init__(self, message, field: str | None = None):
        super().__init__(str(field))
        self.message = message
        self.field = field


def actor_id(user) -> str:
    """How an operator appears in a report's history (``actor_id``): ``staff:<id>``."""
    return f"staff:{user.id}"


def snapshot(report: Report) -> dict:
    """What the audit trail keeps of a report before/after an action."""
    return {"status": report.status, "service_code": report.service_code,
            "agency_responsible": report.agency_responsible,
            "public_description": report.public_description,
            "routing_rule": report.routing_rule}


# --------------------------------------------------------------------------- queue

@dataclass
class QueueFilters:
    """Filters of the queue: category code, ``held`` (only reports held by content rules),
    text in the description."""

    category: str = ""
    held: bool = False
    q: str = ""


def queue(filters: QueueFilters, limit: int = 100) -> list[Report]:
    """Reports awaiting moderation, oldest first, at most ``limit``."""
    query = (select(Report).where(Report.status == Status.AWAITING_MODERATION.value)
             .order_by(Report.requested_at, Report.id).limit(limit))
    if filters.category:
        query = query.where(Report.service_code == filters.category)
    if filters.held:
        query = query.where(Report.id.in_(select(ContentHold.report_id)
                                          .where(ContentHold.resolved_at.is_(None))))
    if filters.q:
        query = query.where(Report.description.contains(filters.q))
    return list(db.session.scalars(query))


def queue_size() -> int:
    """How many reports await moderation."""
    return db.session.scalar(select(func.count(Report.id))
                             .where(Report.status == Status.AWAITING_MODERATION.value)) or 0


def haversine_m(lat1: float, long1: float, lat2: float, long2: float) -> float:
    """Great-circle distance in metres between two WGS84 points (degrees)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(long2 - long1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def nearby_open(report: Report, metres: float = NEARBY_METRES) -> list[tuple[Report, float]]:
    """Open reports of any category within ``metres`` of ``report`` (possible duplicates),
    nearest first, as ``(report, distance in metres)``. A lat/long bounding box narrows the
    query; haversine decides."""
    dlat = metres / 111_320.0
    dlong = metres / (111_320.0 * max(0.1, math.cos(math.radians(report.lat))))
    candidates = db.session.scalars(
        select(Report).where(Report.id != report.id, Report.status.in_(OPEN_STATUSES),
                             Report.lat.between(report.lat - dlat, report.lat + dlat),
                             Report.long.between(report.long - dlong, report.long + dlong)))
    found = [(other, haversine_m(report.lat, report.long, other.lat, other.long))
             for other in candidates]
    return sorted([f for f in found if f[1] <= metres], key=lambda f: f[1])


def hold_of(report: Report) -> ContentHold | None:
    return db.session.get(ContentHold, report.id)


def notes_of(report: Report) -> list[InternalNote]:
    return list(db.session.scalars(select(InternalNote).where(InternalNote.report_id == report.id)
                                   .order_by(InternalNote.id)))


def _resolve_hold(report: Report) -> None:
    hold = hold_of(report)
    if hold is not None and hold.resolved_at is None:
        hold.resolved_at = utcnow()


def _awaiting(report: Report) -> None:
    if report.status != Status.AWAITING_MODERATION.value:
        raise ModerationError(_l("Another operator has already decided on this report."))


# --------------------------------------------------------------------------- actions

def approve(report: Report, user, *, routing, note: str = ""):
    """Send the report to its unit (the release path of ``flask reports release``): status
    ``dispatched``; through ``report_dispatched`` departments issue a signed link and dispatch
    queues the e-mail, and the resident is told. ``routing`` is the
    :class:`~webapp.routing.config.RoutingConfig`. Returns the recorded status change. Audited
    ``report.approve``. Raises :class:`ModerationError`."""
    _awaiting(report)
    before = snapshot(report)
    try:
        change = dispatch_report(report, routing=routing, actor_kind="operator",
                                 actor_id=actor_id(user), note=note)
    except StatusError as exc:
        raise ModerationError(exc.message, exc.field) from None
    _resolve_hold(report)
    record("report.approve", actor=user, object_type="report", object_id=report.id,
           before=before, after=snapshot(report))
    return change


def reroute(report: Report, user, *, routing, service_code: str, unit_id: str,
            reason: str) -> None:
    """Change the category and/or the unit, with a reason recorded in the report's routing
    explanation: ``routing_rule`` becomes ``operator:<reason>``, which
    :func:`webapp.routing.services.explain` words with the reason (the rule column holds
    :data:`REASON_MAX_LENGTH` characters of it; the audit trail keeps it whole). ``routing`` is
    the :class:`~webapp.routing.config.RoutingConfig`. Audited ``report.reroute``. Raises
    :class:`ModerationError` for an unknown category or unit, no change, no reason or a reason
    that is too long."""
    _awaiting(report)
    reason = " ".join((reason or "").split())
    if routing.service(service_code) is None:
        raise ModerationError(_l("Choose a category from the list."), "service_code")
    if unit_id not in routing.units:
        raise ModerationError(_l("Choose a unit from the list."), "unit")
    if service_code == report.service_code and unit_id == report.agency_responsible:
        raise ModerationError(_l("Choose another category or unit."), "unit")
    if not reason:
        raise ModerationError(_l("Give the reason for the change."), "reason")
    if len(reason) > REASON_MAX_LENGTH:
        raise ModerationError(_l("The reason may have at most %(n)d characters.",
                                 n=REASON_MAX_LENGTH), "reason")
    before = snapshot(report)
    report.service_code = service_code
    report.agency_responsible = unit_id
    report.routing_rule = f"{OPERATOR_RULE}:{reason}"
    report.updated_at = utcnow()
    record("report.reroute", actor=user, object_type="report", object_id=report.id,
           before=before, after={**snapshot(report), "reason": reason})


def edit_description(report: Report, user, text: str) -> None:
    """Replace the public description (redaction); the original stays in the audit trail and
    in ``description``. Audited ``report.edit``. Raises :class:`ModerationError` when empty."""
    text = (text or "").strip()
    if not text:
        raise ModerationError(_l("The public description cannot be empty."), "public_description")
    if len(text) > 5000:
        raise ModerationError(_l("The description may have at most %(n)d characters.", n=5000),
                              "public_description")
    before = snapshot(report)
    report.public_description = text
    report.updated_at = utcnow()
    record("report.edit", actor=user, object_type="report", object_id=report.id,
           before=before, after=snapshot(report))


def duplicate_target(typed: str) -> Report:
    """The report an operator names as the one a duplicate repeats: its number ``2026/42``
    (also ``ŁCKzM/2026/42``), or its id ``42`` / ``#42``. Raises :class:`ModerationError` at
    ``duplicate_of`` when nothing is typed, and a different one when no report has that number
    (a wrong year included), so a typo is not mistaken for an empty field."""
    typed = (typed or "").strip()
    if not typed:
        raise ModerationError(_l("Give the number of the report this one repeats."), "duplicate_of")
    parts = typed.lstrip("#").split("/")
    ident, year = parts[-1].strip(), parts[-2].strip() if len(parts) > 1 else ""
    found = db.session.get(Report, int(ident)) if ident.isdigit() and len(ident) <= 18 else None
    if found is None or (year.isdigit() and int(year) != found.requested_at.year):
        raise ModerationError(_l("There is no report %(number)s.", number=typed[:40]), "duplicate_of")
    return found


def reject(report: Report, user, *, routing, reason_key: str = "", text: str = "",
           duplicate_of: Report | None = None) -> None:
    """Reject with a prepared public reason (:data:`REJECT_REASONS`) or a written one; the
    resident sees it. ``duplicate`` needs ``duplicate_of`` (merging: the duplicate is closed
    with a link to the report it repeats, which gets an internal note and counts it as one
    more "me too", :func:`webapp.citymap.services.add_merged_support`). Audited
    ``report.reject`` / ``report.merge``; the status change announces
    ``report_status_changed`` (the resident's notice). Raises :class:`ModerationError`."""
    _awaiting(report)
    text = (text or "").strip()
    if reason_key == "duplicate":
        if duplicate_of is None or duplicate_of.id == report.id:
            raise ModerationError(_l("Give the number of the report this one repeats."), "duplicate_of")
        with force_locale("pl"):
            note = _("The same problem has already been reported: report %(number)s.",
                     number=duplicate_of.number)
    elif reason_key in REJECT_REASONS:
        with force_locale("pl"):
            note = str(REJECT_REASONS[reason_key][1])
    elif reason_key:
        raise ModerationError(_l("Choose a reason from the list."), "reason")
    elif text:
        note = text
    else:
        # "Written below" was chosen: the missing part is the text, so the error goes there.
        raise ModerationError(_l("Write the reason the resident will see, or choose a prepared "
                                 "reason from the list."), "text")
    if text and reason_key:
        note = f"{note} {text}"
    before = snapshot(report)
    try:
        set_status(report, Status.REJECTED, actor_kind="operator", actor_id=actor_id(user),
                   routing=routing, note=note)
    except StatusError as exc:
        raise ModerationError(exc.message, exc.field) from None
    _resolve_hold(report)
    after = {**snapshot(report), "note": note}
    if duplicate_of is not None and reason_key == "duplicate":
        after["duplicate_of"] = duplicate_of.id
        add_note(duplicate_of, user, f"#{report.id} merged here as a duplicate.", audit=False)
        add_merged_support(duplicate_of, report)
        record("report.merge", actor=user, object_type="report", object_id=report.id,
               before=before, after=after)
    else:
        record("report.reject", actor=user, object_type="report", object_id=report.id,
               before=before, after=after)


def add_note(report: Report, user, text: str, *, audit: bool = True) -> InternalNote:
    """Add an internal note (panel only). Audited ``report.note``. Raises
    :class:`ModerationError` when empty or longer than 2000 characters."""
    text = (text or "").strip()
    if not text:
        raise ModerationError(_l("Write the note."), "note")
    if len(text) > 2000:
        raise ModerationError(_l("The note may have at most %(n)d characters.", n=2000), "note")
    note = InternalNote(report_id=report.id, author_id=user.id, author_label=user.email,
                        text=text, created_at=utcnow())
    db.session.add(note)
    if audit:
        record("report.note", actor=user, object_type="report", object_id=report.id,
               after={"note": text})
    return note


def resend_link(report: Report, user, *, routing):
    """Withdraw the unit's current links and give it a new one, announced as
    ``link_issued`` (dispatch queues a new e-mail with it), as departments do on dispatch.
    ``routing`` is the :class:`~webapp.routing.config.RoutingConfig` that names the unit.
    Returns the link. Audited ``report.resend_link``. Raises :class:`ModerationError` for a
    report that is not with a unit that has an e-mail address."""
    unit = routing.units.get(report.agency_responsible or "")
    if report.status == Status.AWAITING_MODERATION.value or unit is None or not unit.email:
        raise ModerationError(_l("The report is not with a unit that has an e-mail address."))
    revoked = revoke_links(report, unit.id)
    link = issue_link(report, unit.id,
                      max_age_days=current_app.config["DEPARTMENT_LINK_MAX_AGE_DAYS"])
    link_issued.send(link, report=report, unit=unit, note="", from_unit=None, routing=routing)
    record("report.resend_link", actor=user, object_type="report", object_id=report.id,
           after={"unit": unit.id, "revoked": revoked, "link": link.id})
    return link


def revoke_link(report: Report, user) -> int:
    """Withdraw every link of the report. Audited ``report.revoke_links``."""
    count = revoke_links(report)
    record("report.revoke_links", actor=user, object_type="report", object_id=report.id,
           after={"revoked": count})
    return count


# --------------------------------------------------------------------------- submitters

def address_hash(address: str) -> str:
    """HMAC-SHA256(SECRET_KEY, address) in hex: how a submitter's address is kept."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, (address or "").encode(), hashlib.sha256).hexdigest()


def block_submitter(report: Report, user, *, days: int, reason: str = "") -> SubmitterBlock:
    """Block the address ``report`` came from for ``days`` (1-365). Audited
    ``submitter.block``. Raises :class:`ModerationError` when the origin is unknown."""
    origin = db.session.get(SubmissionOrigin, report.id)
    if origin is None:
        raise ModerationError(_l("The address this report came from is not known."))
    if not 1 <= days <= 365:
        raise ModerationError(_l("Give a period of 1 to 365 days."), "days")
    block = SubmitterBlock(key_hash=origin.key_hash, until=utcnow() + timedelta(days=days),
                           reason=(reason or "").strip()[:500], created_by=user.id,
                           created_at=utcnow())
    db.session.add(block)
    record("submitter.block", actor=user, object_type="report", object_id=report.id,
           after={"until": block.until.isoformat(), "reason": block.reason})
    return block


def is_blocked(address: str) -> bool:
    """True while an unlifted block of ``address``'s keyed hash lasts."""
    digest = address_hash(address)
    return db.session.scalar(
        select(SubmitterBlock.id).where(SubmitterBlock.key_hash == digest,
                                        SubmitterBlock.until > utcnow(),
                                        SubmitterBlock.lifted_at.is_(None)).limit(1)) is not None


def active_blocks() -> list[SubmitterBlock]:
    """Blocks still in force, the ones ending soonest first."""
    return list(db.session.scalars(select(SubmitterBlock)
                                   .where(SubmitterBlock.until > utcnow(),
                                          SubmitterBlock.lifted_at.is_(None))
                                   .order_by(SubmitterBlock.until)))


def lift_block(block_id: int, user) -> None:
    """End a block now. Audited ``submitter.unblock``. Raises :class:`ModerationError` for an
    unknown or already ended block."""
    block = db.session.get(SubmitterBlock, block_id)
    if block is None or block.lifted_at is not None:
        raise ModerationError(_l("This block has already ended."))
    block.lifted_at = utcnow()
    record("submitter.unblock", actor=user, object_type="block", object_id=block.id,
           before={"until": block.until.isoformat()}, after={"lifted_at": block.lifted_at.isoformat()})
