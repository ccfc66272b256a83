"""Runtime switches (regulamin pkt 10), flipped by an admin; the environment gives defaults.

``reports`` (accepting new reports; env ``REPORTS_ENABLED``), ``photos`` (photo uploads;
``PHOTOS_ENABLED``), ``notices`` (status notices to residents, e-mail and web push;
``EMAIL_NOTICES_ENABLED``; unit dispatch e-mails keep flowing), ``maintenance``
(``MAINTENANCE_MODE``: public pages show a notice, writes answer 503).
"""
from __future__ import annotations

import time

from flask import current_app, g
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from webapp.audit.services import record
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.moderation.models import Switch

#: name -> (config key of the default, default when unset, label, public banner when "off"
#: (for maintenance: when "on")).
SWITCHES = {
    "reports": ("REPORTS_ENABLED", True, _l("Accepting new reports"),
                _l("New reports are not being accepted at the moment. Your draft stays on your "
                   "phone; send it later.")),
    "photos": ("PHOTOS_ENABLED", True, _l("Photo uploads"),
               _l("Photo uploads are switched off at the moment: send the report without photos.")),
    # Both channels to residents: the banner promises no notices, so push must not send either.
    "notices": ("EMAIL_NOTICES_ENABLED", True, _l("Status notices to residents (e-mail and push)"),
                _l("Notices about status changes (e-mail and push) are paused at the moment. "
                   "Follow your report on its page; its status there is up to date.")),
    "maintenance": ("MAINTENANCE_MODE", False, _l("Maintenance mode"),
                    _l("Technical break: you can browse, but sending is paused. Drafts wait on "
                       "your phone. In an emergency call 112.")),
}


#: How long the public banner may lag a switch flipped in another process (seconds). The same
#: process forgets at once (:func:`flip`); what writes may do is always read fresh (:func:`current`).
BANNER_TTL_S = 5.0


def current() -> dict[str, bool]:
    """Every switch's state: the stored value, else the config default (cached per request)."""
    if "moderation_switches" in g:
        return g.moderation_switches
    values = {name: bool(current_app.config.get(key, default))
              for name, (key, default, _label, _banner) in SWITCHES.items()}
    try:
        for row in db.session.scalars(select(Switch)):
            if row.name in values:
                values[row.name] = row.enabled
    except Exception:  # the table may not exist yet (before `flask db upgrade`)
        db.session.rollback()
    g.moderation_switches = values
    current_app.extensions["moderation_switches"] = (time.monotonic(), values)
    return values


def _recent() -> dict[str, bool]:
    """Like :func:`current`, but a state read in this process less than :data:`BANNER_TTL_S`
    ago will do: every public page shows the banners, and this query was about a sixth of the
    home page's time (issue 12)."""
    if "moderation_switches" in g:
        return g.moderation_switches
    cached = current_app.extensions.get("moderation_switches")
    if cached is not None and time.monotonic() - cached[0] < BANNER_TTL_S:
        return cached[1]
    return current()


def is_on(name: str) -> bool:
    return current()[name]


def banners() -> list:
    """Public banner texts for the switches that are not in their normal state (the state may
    be up to :data:`BANNER_TTL_S` old when another process flipped it)."""
    state = _recent()
    texts = []
    for name, (_key, default, _label, banner) in SWITCHES.items():
        if state[name] != default:
            texts.append(banner)
    return texts


def flip(name: str, enabled: bool, *, actor) -> None:
    """Store a switch's state (audited ``switch.set`` with before/after). No commit.
    Raises ``KeyError`` for an unknown switch."""
    if name not in SWITCHES:
        raise KeyError(name)
    before = current()[name]
    row = db.session.get(Switch, name)
    if row is None:
        row = Switch(name=name, enabled=enabled)
        db.session.add(row)
    row.enabled = enabled
    row.updated_at = utcnow()
    row.updated_by = getattr(actor, "id", None)
    g.pop("moderation_switches", None)
    current_app.extensions.pop("moderation_switches", None)
    record("switch.set", actor=actor, object_type="switch", object_id=name,
           before={"enabled": before}, after={"enabled": enabled})
