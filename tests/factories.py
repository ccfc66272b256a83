"""Factories for rows the tests need, instead of fixtures that build worlds (STYLE.md)."""
from __future__ import annotations

import uuid
from datetime import timedelta

from webapp.clock import utcnow
from webapp.extensions import db
from webapp.reports.models import Report, StatusChange


def make_report(*, history=(), commit=True, **fields) -> Report:
    """Insert one report at ul. Piotrkowska (a pothole, dispatched to ZDiT a day ago) with
    ``fields`` overriding any column, and ``history`` tuples ``(status, note, actor_kind,
    actor_id, agency, minutes after requested_at)``. Needs an app context; commits unless
    ``commit`` is False."""
    requested_at = fields.pop("requested_at", None) or utcnow() - timedelta(days=1)
    service_code = fields.get("service_code", "ROAD_POTHOLE")
    values = dict(
        client_id=str(uuid.uuid4()), tracking_token_hash=uuid.uuid4().hex + uuid.uuid4().hex,
        service_code=service_code,
        description="Duża dziura przy przejściu, tel. 600 100 200",
        public_description="Duża dziura przy przejściu dla pieszych",
        lat=51.7593, long=19.4573, address_string="ul. Piotrkowska 104",
        status="dispatched", agency_responsible="zdit",
        routing_rule=f"category:{service_code}",
        routing_reason="Kategoria przekazywana do jednostki.",
        requested_at=requested_at, updated_at=requested_at,
    )
    values.update(fields)
    if values.get("email") and "consent_version" not in fields:
        values["consent_version"] = "2024-04-16"
    report = Report(**values)
    for st, note, kind, actor, agency, minutes in history:
        when = requested_at + timedelta(minutes=minutes)
        report.history.append(StatusChange(status=st, note=note, actor_kind=kind, actor_id=actor,
                                           agency_responsible=agency, created_at=when))
        report.updated_at = when
    db.session.add(report)
    if commit:
        db.session.commit()
    return report
