"""Recording and reading the audit trail."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from webapp.audit.models import AuditEntry
from webapp.clock import utcnow
from webapp.extensions import db


def record(action: str, *, actor=None, actor_label: str | None = None, object_type: str = "",
           object_id=None, before: dict | None = None, after: dict | None = None) -> AuditEntry:
    """Add an audit entry to the session (no commit: it commits with the action it records).

    ``actor`` is a staff user (or None); ``actor_label`` overrides its e-mail (e.g. the address
    typed at a failed login). ``before``/``after`` are JSON-serialisable dicts.
    """
    entry = AuditEntry(created_at=utcnow(), actor_id=getattr(actor, "id", None),
                       actor_label=actor_label if actor_label is not None else getattr(actor, "email", ""),
                       action=action, object_type=object_type,
                       object_id="" if object_id is None else str(object_id),
                       before=before, after=after)
    db.session.add(entry)
    return entry


@dataclass
class AuditFilters:
    """Filters of the audit view: action prefix, actor e-mail (substring), object id."""

    action: str = ""
    actor: str = ""
    object_id: str = ""


def list_entries(filters: AuditFilters, limit: int = 200) -> list[AuditEntry]:
    """Newest first, at most ``limit`` entries matching ``filters``."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if filters.action:
        query = query.where(AuditEntry.action.startswith(filters.action))
    if filters.actor:
        query = query.where(AuditEntry.actor_label.contains(filters.actor))
    if filters.object_id:
        query = query.where(AuditEntry.object_id == filters.object_id)
    return list(db.session.scalars(query))


def actions() -> list[str]:
    """Distinct recorded actions, for the filter's list."""
    return list(db.session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))
