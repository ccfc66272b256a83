"""Factories for the rows tests need, instead of fixtures that build worlds (STYLE.md).

The one place tests make reports: :func:`make_report` (a report as it looks some time after
submission), :func:`new_report` (as :func:`~webapp.reports.services.submit_report` leaves it
before dispatch) and :func:`dispatched` (sent to its unit, with the unit's link). All need an
app context.
"""
from __future__ import annotations

import os
import uuid
from urllib.parse import quote
from datetime import timedelta

from sqlalchemy import select

from webapp.auth.services import create_user, find_user
from webapp.clock import utcnow
from webapp.departments.models import DepartmentLink
from webapp.dispatch.models import OutboxMessage
from webapp.dispatch.services import enqueue
from webapp.extensions import db
from webapp.reports.lifecycle import dispatch_report
from webapp.reports.models import Report, StatusChange
from webapp.reports.services import token_hash, tracking_token
from webapp.routing.services import current_routing

CONSENT_VERSION = "2024-04-16"


def make_report(*, history=(), commit=True, unit=None, consent=None, **fields) -> Report:
    """Insert one report at ul. Piotrkowska (a pothole, dispatched to ZDiT a day ago).

    ``fields`` override any column; ``unit`` is short for ``agency_responsible``; ``consent``
    fills the consent columns (by default when there is an ``email``). ``history`` is tuples ``(status,
    note, actor_kind, actor_id, agency, minutes after requested_at)``. The tracking token is
    the real one for the ``client_id`` (:func:`tracking_token`). Commits unless ``commit`` is
    False (then the row is only added to the session).
    """
    requested_at = fields.pop("requested_at", None) or utcnow() - timedelta(days=1)
    service_code = fields.get("service_code", "ROAD_POTHOLE")
    client_id = fields.pop("client_id", None) or str(uuid.uuid4())
    values = dict(
        client_id=client_id, tracking_token_hash=token_hash(tracking_token(client_id)),
        service_code=service_code,
        description="Duża dziura przy przejściu, tel. 600 100 200",
        public_description="Duża dziura przy przejściu dla pieszych",
        lat=51.7593, long=19.4573, address_string="ul. Piotrkowska 104",
        status="dispatched", agency_responsible=unit or "zdit",
        routing_rule=f"category:{service_code}",
        requested_at=requested_at, updated_at=requested_at,
    )
    if consent or (consent is None and fields.get("email")):
        values.update(consent_version=CONSENT_VERSION, consent_text="Zgoda",
                      consent_at=requested_at)
    values.update(fields)
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


def new_report(*, waiting=False, status="awaiting_moderation", unit="zdit", consent=False,
               **fields) -> Report:
    """A report just submitted (now, not yet dispatched), flushed, not committed.

    ``waiting=True`` adds the ``status`` entry by "system" that an operator-mode report gets.
    """
    fields.setdefault("description", "Głęboka dziura w jezdni przy przejściu dla pieszych.")
    fields.setdefault("public_description", fields["description"])
    fields.setdefault("lat", 51.7592)
    fields.setdefault("long", 19.4560)
    history = [(status, "", "system", None, unit, 0)] if waiting else ()
    report = make_report(status=status, unit=unit, requested_at=utcnow(), history=history,
                         consent=consent, commit=False, **fields)
    db.session.flush()
    return report


def dispatched(**fields) -> tuple[Report, DepartmentLink]:
    """A committed :func:`new_report` dispatched to its unit; returns ``(report, link)``."""
    report = new_report(**fields)
    dispatch_report(report, routing=current_routing())
    db.session.commit()
    return report, latest_link(report)


def latest_link(report: Report) -> DepartmentLink | None:
    """The newest department link of ``report``."""
    return db.session.scalars(select(DepartmentLink).where(DepartmentLink.report_id == report.id)
                              .order_by(DepartmentLink.created_at.desc())).first()


def outbox(kind: str | None = None) -> list[OutboxMessage]:
    """The outbox rows (of ``kind``), oldest first."""
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    return list(db.session.scalars(query))


def enqueue_plain(n: int, prefix: str = "test") -> list[int]:
    """Queue ``n`` plain test e-mails (kind ``test``) and commit; returns their row ids."""
    rows = [enqueue("test", f"{prefix}:{i}", {"to": [f"u{i}@example.org"],
                                               "subject": f"Wiadomość {i}",
                                               "text": f"Treść {i}", "html": None})
            for i in range(n)]
    db.session.commit()
    return [row.id for row in rows]


def outbox_rows():
    """Every outbox row, oldest first, read afresh."""
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def worker_env(app) -> dict:
    """Environment for a `flask worker` process on the test database and SMTP server."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args", {}).get("options")
    if options:  # PostgreSQL run: the per-run schema travels in the URL (libpq options)
        url += "?options=" + quote(options)
    return {**os.environ, "FLASK_APP": "webapp", "DATABASE_URL": url,
            "INSTANCE_PATH": app.instance_path, "SECRET_KEY": app.config["SECRET_KEY"],
            "MAIL_SERVER": app.config["MAIL_SERVER"], "MAIL_PORT": str(app.config["MAIL_PORT"]),
            "PUBLIC_BASE_URL": app.config["PUBLIC_BASE_URL"]}


def statistics_world():
    """Seven reports: (unit, category, days ago, history as (status, actor kind, minutes))."""
    now = utcnow()

    def report(unit, code, days, status, steps):
        make_report(service_code=code, agency_responsible=unit, status=status,
                    requested_at=now - timedelta(days=days),
                    history=[("dispatched", "", "system", None, unit, 0)]
                    + [(s, "", kind, unit, unit, minutes) for s, kind, minutes in steps])
    # ZDiT, last 30 days: first responses 1 h, 3 h, 2 h; resolutions 10 h, 24 h.
    report("zdit", "ROAD_POTHOLE", 10, "resolved", [("accepted", "unit", 60), ("resolved", "unit", 600)])
    report("zdit", "ROAD_POTHOLE", 5, "resolved", [("accepted", "unit", 180), ("resolved", "unit", 24 * 60)])
    report("zdit", "STREET_LIGHT", 3, "in_progress", [("in_progress", "unit", 120)])
    # ZDiT, 60 days ago: first response 10 h, resolution 80 h.
    report("zdit", "ROAD_POTHOLE", 60, "resolved", [("accepted", "unit", 600), ("resolved", "unit", 4800)])
    # WGK: one untouched (2 days), one resolved in 30 min (200 days); an operator's change is no
    # unit response.
    report("wgk", "ILLEGAL_DUMP", 2, "dispatched", [("dispatched", "operator", 5)])
    report("wgk", "ILLEGAL_DUMP", 200, "resolved", [("resolved", "unit", 30)])
    # Older than a year: in no figure.
    report("wgk", "ILLEGAL_DUMP", 400, "resolved", [("resolved", "unit", 30)])
    return now
# --------------------------------------------------------------------------- staff

STAFF_PASSWORD = "correct horse battery staple"


def create_staff(app, email="operator@lodz.example", role="operator",
                 password=STAFF_PASSWORD) -> int:
    """Insert a staff account (no TOTP yet) and return its id."""
    with app.app_context():
        user = create_user(email, password, role)
        db.session.commit()
        return user.id


def staff_id(app, email) -> int:
    """The id of the staff account ``email``."""
    with app.app_context():
        return find_user(email).id
