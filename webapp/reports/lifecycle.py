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
  one. The old unit's links are revoked, the new unit gets a new link and a dispatch e-mail.
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

Nothing here commits: the caller commits once, so the report, its history, links and outbox
rows change together or not at all.
"""
from __future__ import annotations

from datetime import timedelta

from flask_babel import lazy_gettext as _l

from webapp.clock import utcnow
from webapp.extensions import db
from webapp.reports.models import STATUS_LABELS, Status, StatusChange
from webapp.reports.signals import report_status_changed

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


def dispatch_report(report, *, actor_kind: str = "system", actor_id: str | None = None,
                    note: str = ""):
    """Send ``report`` to its ``agency_responsible`` unit. Returns the new ``DepartmentLink``.

    Sets status ``dispatched``, records a :class:`StatusChange` (with ``agency_responsible``),
    issues a signed link (:func:`webapp.departments.services.issue_link`) and enqueues the
    dispatch e-mail to the unit. Allowed for a report being created (no history yet) and for
    one ``awaiting_moderation``; releasing a moderated report also notifies the resident (when
    they consented), a new one does not (the form already told them). Adds to ``db.session``; does not commit.
    Raises :class:`StatusError` for another status, an unknown unit or one without e-mail.
    """
    from webapp.departments.services import get_unit, issue_link
    from webapp.dispatch.services import enqueue_dispatch, enqueue_status_notice

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
    unit = get_unit(report.agency_responsible)
    if unit is None:
        raise StatusError(_l("The report has no known responsible unit."), field="target_unit")
    if not getattr(unit, "email", None):
        raise StatusError(_l("The unit %(unit)s has no contact e-mail address.", unit=unit.name),
                          field="target_unit")
    now = utcnow()
    change = StatusChange(status=S.DISPATCHED.value, note=(note or "").strip(),
                          actor_kind=actor_kind, actor_id=actor_id,
                          agency_responsible=unit.id, created_at=now)
    report.history.append(change)
    report.status = S.DISPATCHED.value
    report.updated_at = now
    db.session.add(report)
    link = issue_link(report, unit.id, now=now)
    enqueue_dispatch(report, link, unit, note=change.note)
    if released:
        enqueue_status_notice(report, change)
        report_status_changed.send(report, report=report, change=change)
    return link


def set_status(report, status, *, actor_kind: str, actor_id: str | None, note: str = "",
               target_unit: str | None = None) -> StatusChange:
    """Change ``report``'s status following :data:`ALLOWED` and the rules in the module
    docstring; return the recorded :class:`StatusChange`.

    ``status`` is a :class:`Status` or its value. ``note`` is the public note (stripped; at most
    2000 characters). ``target_unit`` is required for ``forwarded``. Updates ``report.status``
    and ``updated_at`` (UTC). ``forwarded`` moves ``agency_responsible`` to ``target_unit``,
    revokes the old unit's links, issues a new link and enqueues a dispatch to the new unit.
    Enqueues a notice to the resident when ``report.email`` and ``report.consent_version`` are
    set. No commit. Raises :class:`StatusError` (with ``field``) when the change is refused;
    nothing is changed then. Idempotent: repeating the latest change (same status, note and
    actor) within :data:`REPLAY_WINDOW` returns that change and records nothing new.
    """
    from webapp.departments.services import get_unit, issue_link, revoke_links
    from webapp.dispatch.services import enqueue_dispatch, enqueue_status_notice

    if actor_kind not in ACTOR_KINDS:
        raise ValueError(f"unknown actor kind {actor_kind!r}")
    try:
        new = Status(status)
    except ValueError:
        raise StatusError(_l("Choose a status from the list."), field="status") from None
    current = Status(report.status)
    note = (note or "").strip()
    replayed = find_replay(report, new, note, actor_kind, actor_id)
    if replayed is not None:
        return replayed

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

    new_unit = None
    if new == S.FORWARDED:
        if not target_unit:
            raise StatusError(_l("Choose the unit to forward the report to."),
                              field="target_unit")
        if target_unit == report.agency_responsible:
            raise StatusError(_l("The report is already with this unit; choose another one."),
                              field="target_unit")
        new_unit = get_unit(target_unit)
        if new_unit is None:
            raise StatusError(_l("Choose a unit from the list."), field="target_unit")
        if not getattr(new_unit, "email", None):
            raise StatusError(_l("The unit %(unit)s has no contact e-mail address.",
                                 unit=new_unit.name), field="target_unit")

    now = utcnow()
    if new_unit is not None:
        old_unit = report.agency_responsible
        if old_unit:
            revoke_links(report, old_unit, now=now)
        report.agency_responsible = new_unit.id
    change = StatusChange(status=new.value, note=note, actor_kind=actor_kind,
                          actor_id=actor_id, agency_responsible=report.agency_responsible,
                          created_at=now)
    report.history.append(change)
    report.status = new.value
    report.updated_at = now
    db.session.add(report)
    if new_unit is not None:
        link = issue_link(report, new_unit.id, now=now)
        enqueue_dispatch(report, link, new_unit, note=note, from_unit=actor_id)
    enqueue_status_notice(report, change)
    report_status_changed.send(report, report=report, change=change)
    return change
