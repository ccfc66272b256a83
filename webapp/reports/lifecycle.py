"""The report lifecycle: which status changes are allowed, who may make them, and what each one
records and sends.

Statuses (:class:`webapp.reports.models.Status`) and the allowed transitions (:data:`ALLOWED`)::

    awaiting_moderation -> dispatched (dispatch_report: operator or CLI release), rejected
    dispatched          -> accepted, in_progress, resolved, rejected, forwarded
    forwarded           -> accepted, in_progress, resolved, rejected, forwarded
    accepted            -> in_progress, resolved, rejected, forwarded
    in_progress         -> in_progress (a progress note), resolved, rejected, forwarded
    resolved            -> in_progress                 (reopen)
    rejected            -> accepted, in_progress       (reopen)

Rules (issue 2, "Department linked page"):

- ``rejected`` needs a non-empty public note: the reason, which the resident sees.
- ``forwarded`` needs ``target_unit``: a unit known to ``routing.toml`` other than the current
  one. The old unit's links are revoked, the new unit gets a new link and a dispatch e-mail
  (by the listeners of :mod:`webapp.reports.signals`).
- ``resolved`` and ``rejected`` are closed (Open311 ``closed``). The responsible unit may reopen
  a closed report (a fix did not hold, a rejection was a mistake), but only with a public note
  saying why, so the resident is never left guessing. A repeated ``in_progress`` also needs a
  note: it is a progress update.
- A unit (``actor_kind="unit"``) may only act on reports it is responsible for
  (``agency_responsible``) and may not set ``dispatched`` or ``awaiting_moderation``.
- Every change is one :class:`StatusChange` row: who (``actor_kind``/``actor_id``; the unit id
  for units), when (UTC), what (status, note, responsible unit after the change).
- When the resident gave an e-mail and consent (regulamin pkt 5), each change made through
  :func:`set_status` (and the release of a moderated report) enqueues a notice to them.
- Each such change is announced with :data:`webapp.reports.signals.report_status_changed`
  (push notifications subscribe to it).

This module imports no other domain: it announces each change (:mod:`webapp.reports.signals`)
and departments and dispatch react. Nothing here commits: the caller commits once, so the
report, its history, links and outbox rows change together or not at all.
"""
from __future__ import annotations

from datetime import timedelta

from flask_babel import lazy_gettext as _l

from webapp.clock import utcnow
from webapp.extensions import db
from webapp.reports import signals
from webapp.reports.models import STATUS_LABELS, Status, StatusChange

S = Status

ALLOWED: dict[Status, frozenset[Status]] = {
    S.AWAITING_MODERATION: frozenset({S.DISPATCHED, S.REJECTED}),
    S.DISPATCHED: frozenset({S.ACCEPTED, S.IN_PROGRESS, S.RESOLVED, S.REJECTED, S.FORWARDED}),
    S.FORWARDED: frozenset({S.ACCEPTED, S.IN_PROGRESS, S.RESOLVED, S.REJECTED, S.FORWARDED}),
    S.ACCEPTED: frozenset({S.IN_PROGRESS, S.RESOLVED, S.REJECTED, S.FORWARDED}),
    S.IN_PROGRESS: frozenset({S.IN_PROGRESS, S.RESOLVED, S.REJECTED, S.FORWARDED}),
    S.RESOLVED: frozenset({S.IN_PROGRESS}),
    S.REJECTED: frozenset({S.ACCEPTED, S.IN_PROGRESS}),
}

#: Statuses a unit may set through its link, in the order the form offers them.
UNIT_STATUSES: tuple[Status, ...] = (S.ACCEPTED, S.IN_PROGRESS, S.RESOLVED, S.REJECTED, S.FORWARDED)

CLOSED = frozenset({S.RESOLVED, S.REJECTED})

NOTE_MAX_LENGTH = 2000

#: A change identical to the latest one (same status, note and actor) within this window is a
#: retried request (a double tap, a phone resending after a lost answer), not a new change.
REPLAY_WINDOW = timedelta(minutes=10)

ACTOR_KINDS = frozenset({"system", "unit", "operator"})


class StatusError(ValueError):
    """A status change that the rules refuse.

    ``message`` is a lazy translated text for the person who asked; ``field`` names the form
    field it belongs to (``"status"``, ``"note"``, ``"target_unit"``) or is ``None``.
    """

    def __init__(self, message, field: str | None = None):
        self.message = message
        self.field = field
        super().__init__(field)

    def __str__(self) -> str:
        # Evaluated late: the lazy message needs the request's (or a forced) locale.
        return str(self.message)


def allowed_next(report, *, actor_kind: str = "unit") -> list[Status]:
    """Statuses ``report`` may move to now, for ``actor_kind``, in display order."""
    current = Status(report.status)
    allowed = ALLOWED.get(current, frozenset())
    order = UNIT_STATUSES if actor_kind == "unit" else tuple(Status)
    return [s for s in order if s in allowed]


def _needs_note(current: Status, new: Status) -> str | None:
    if new == S.REJECTED:
        return _l("Give the reason for the rejection; the resident will see it.")
    if current in CLOSED:
        return _l("Say why the report is reopened; the resident will see it.")
    if current == new:
        return _l("Describe the progress in the note; the resident will see it.")
    return None


def find_replay(report, status, note: str, actor_kind: str, actor_id) -> StatusChange | None:
    """The latest change of ``report`` when (``status``, ``note``, actor) repeats it within
    :data:`REPLAY_WINDOW` (a double tap, a resend after a lost answer), else None."""
    if not report.history:
        return None
    note = (note or "").strip()
    last = report.history[-1]
    if (last.status == str(getattr(status, "value", status)) and last.note == note
            and last.actor_kind == actor_kind
            and last.actor_id == actor_id and utcnow() - last.created_at < REPLAY_WINDOW):
        return last
    return None


def _unit_with_email(routing, unit_id: str | None, *, unknown):
    """The routing ``Unit`` ``unit_id`` when it exists and has an e-mail address; otherwise
    :class:`StatusError` (``unknown`` for a missing unit, field ``target_unit``)."""
    unit = routing.units.get(unit_id) if unit_id else None
    if unit is None:
        raise StatusError(unknown, field="target_unit")
    if not getattr(unit, "email", None):
        raise StatusError(_l("The unit %(unit)s has no contact e-mail address.", unit=unit.name),
                          field="target_unit")
    return unit


def _record(report, status: Status, *, note: str, actor_kind: str, actor_id: str | None,
            now) -> StatusChange:
    change = StatusChange(status=status.value, note=note, actor_kind=actor_kind,
                          actor_id=actor_id, agency_responsible=report.agency_responsible,
                          created_at=now)
    report.history.append(change)
    report.status = status.value
    report.updated_at = now
    db.session.add(report)
    return change


def dispatch_report(report, *, routing, actor_kind: str = "system", actor_id: str | None = None,
                    note: str = "") -> StatusChange:
    """Send ``report`` to its ``agency_responsible`` unit; return the recorded change.

    ``routing`` is the :class:`~webapp.routing.config.RoutingConfig` that names the units.
    Sets status ``dispatched``, records a :class:`StatusChange` (with ``agency_responsible``)
    and announces :data:`~webapp.reports.signals.report_dispatched` (departments issue a
    signed link, dispatch queues the e-mail to the unit). Allowed for a report being created
    (no history yet) and for one ``awaiting_moderation``; releasing a moderated report also
    announces :data:`~webapp.reports.signals.report_status_changed` (the resident is told when
    they consented), a new one does not (the form already told them). Adds to ``db.session``;
    does not commit. Raises :class:`StatusError` for another status, an unknown unit or one
    without e-mail.
    """
    if actor_kind not in ACTOR_KINDS:
        raise ValueError(f"unknown actor kind {actor_kind!r}")
    previous = report.status or None
    # A report being created has no history yet (submit_report makes it "awaiting_moderation"
    # and dispatches it in the same transaction); a released one waited in moderation.
    new_report = not report.history and previous in (None, S.AWAITING_MODERATION.value,
                                                     S.DISPATCHED.value)
    released = bool(report.history) and previous == S.AWAITING_MODERATION.value
    if not (new_report or released):
        raise StatusError(_l("Only a new report or one awaiting moderation can be sent to a "
                             "unit."), field="status")
    unit = _unit_with_email(routing, report.agency_responsible,
                            unknown=_l("The report has no known responsible unit."))
    change = _record(report, S.DISPATCHED, note=(note or "").strip(), actor_kind=actor_kind,
                     actor_id=actor_id, now=utcnow())
    db.session.flush()  # ids for the listeners (links and messages name the report)
    signals.report_dispatched.send(report, change=change, unit=unit, note=change.note,
                                   routing=routing)
    if released:
        signals.report_status_changed.send(report, change=change, routing=routing)
    return change


def _check(report, current: Status, new: Status, note: str, actor_kind: str,
           actor_id: str | None) -> None:
    """Raise :class:`StatusError` when the rules of the module docstring refuse the change."""
    if actor_kind == "unit":
        if actor_id != report.agency_responsible:
            raise StatusError(_l("This report is now handled by another unit."))
        if new not in UNIT_STATUSES:
            raise StatusError(_l("Choose a status from the list."), field="status")
    elif new == S.DISPATCHED:
        raise StatusError(_l("Use the release command to send a report to a unit."),
                          field="status")
    if new not in ALLOWED.get(current, frozenset()):
        raise StatusError(_l("A report with the status “%(current)s” cannot be changed to "
                             "“%(new)s”.", current=STATUS_LABELS[current],
                             new=STATUS_LABELS[new]), field="status")
    if len(note) > NOTE_MAX_LENGTH:
        raise StatusError(_l("The note may have at most %(n)d characters.", n=NOTE_MAX_LENGTH),
                          field="note")
    needs_note = _needs_note(current, new)
    if needs_note is not None and not note:
        raise StatusError(needs_note, field="note")


def _forward_target(report, target_unit: str | None, routing):
    if not target_unit:
        raise StatusError(_l("Choose the unit to forward the report to."), field="target_unit")
    if target_unit == report.agency_responsible:
        raise StatusError(_l("The report is already with this unit; choose another one."),
                          field="target_unit")
    return _unit_with_email(routing, target_unit, unknown=_l("Choose a unit from the list."))


def set_status(report, status, *, actor_kind: str, actor_id: str | None, routing,
               note: str = "", target_unit: str | None = None) -> StatusChange:
    """Change ``report``'s status following :data:`ALLOWED` and the rules in the module
    docstring; return the recorded :class:`StatusChange`.

    ``status`` is a :class:`Status` or its value. ``note`` is the public note (stripped; at most
    2000 characters). ``routing`` is the :class:`~webapp.routing.config.RoutingConfig` that
    names the units. ``target_unit`` is required for ``forwarded``, which moves
    ``agency_responsible`` to it and announces :data:`~webapp.reports.signals.report_forwarded`
    (departments revoke the old unit's links and issue one to the new unit, dispatch e-mails
    it). Every change announces :data:`~webapp.reports.signals.report_status_changed` (dispatch
    tells the resident when they consented). Updates ``report.status`` and ``updated_at`` (UTC).
    No commit. Raises :class:`StatusError` (with ``field``) when the change is refused; nothing
    is changed then. Idempotent: repeating the latest change (same status, note and actor)
    within :data:`REPLAY_WINDOW` returns that change and records nothing new.
    """
    if actor_kind not in ACTOR_KINDS:
        raise ValueError(f"unknown actor kind {actor_kind!r}")
    if not status:
        raise StatusError(_l("Choose the new status."), field="status")
    try:
        new = Status(status)
    except ValueError:
        raise StatusError(_l("Choose a status from the list."), field="status") from None
    note = (note or "").strip()
    replayed = find_replay(report, new, note, actor_kind, actor_id)
    if replayed is not None:
        return replayed
    _check(report, Status(report.status), new, note, actor_kind, actor_id)
    new_unit = _forward_target(report, target_unit, routing) if new == S.FORWARDED else None

    old_unit = report.agency_responsible
    if new_unit is not None:
        report.agency_responsible = new_unit.id
    change = _record(report, new, note=note, actor_kind=actor_kind, actor_id=actor_id,
                     now=utcnow())
    db.session.flush()  # ids for the listeners (messages name the change)
    if new_unit is not None:
        signals.report_forwarded.send(report, change=change, from_unit=old_unit, unit=new_unit,
                                      note=note, routing=routing)
    signals.report_status_changed.send(report, change=change, routing=routing)
    return change
