"""The audit trail in words: every recorded action code (``report.approve``, ``switch.set``...)
has a translated label, and an entry's before/after JSON becomes ``(label, text)`` pairs the
page shows as a definition list. Lives here, at the top layer, because it names what every
layer below records (the audit package itself only stores)."""
from __future__ import annotations

from flask_babel import gettext as _, lazy_gettext as _l

from webapp.moderation.switches import SWITCHES
from webapp.reports.models import Status

#: Every action ``webapp.audit.services.record`` is called with (tests check none is missing).
ACTION_LABELS = {
    "login": _l("Signed in"),
    "login.failed": _l("Failed sign-in"),
    "user.create": _l("Account created"),
    "user.update": _l("Account changed"),
    "user.totp_enrolled": _l("Authenticator app set up"),
    "user.recovery_codes": _l("New recovery codes"),
    "user.logout_everywhere": _l("Signed out on every device"),
    "apikey.create": _l("API key issued"),
    "apikey.revoke": _l("API key revoked"),
    "report.approve": _l("Report approved and sent"),
    "report.reroute": _l("Category or unit changed"),
    "report.edit": _l("Public text edited"),
    "report.reject": _l("Report rejected"),
    "report.merge": _l("Report merged as a duplicate"),
    "report.note": _l("Internal note added"),
    "report.resend_link": _l("New link sent to the unit"),
    "report.revoke_links": _l("Unit's links withdrawn"),
    "photo.hide": _l("Photo hidden"),
    "photo.show": _l("Photo shown again"),
    "photo.rotate": _l("Photo rotated"),
    "submitter.block": _l("Submitter blocked"),
    "submitter.unblock": _l("Submitter's block lifted"),
    "outbox.resend": _l("Undelivered message sent again"),
    "switch.set": _l("Switch changed"),
}

OBJECT_LABELS = {
    "report": _l("Report"), "staff_user": _l("Account"), "api_key": _l("API key"),
    "photo": _l("Photo"), "outbox": _l("Message"), "switch": _l("Switch"), "block": _l("Block"),
}

#: The keys of ``before``/``after`` (see the ``record`` calls); an unknown key is shown as is.
FIELD_LABELS = {
    "status": _l("Status"), "service_code": _l("Category"),
    "agency_responsible": _l("Unit"), "public_description": _l("Public text"),
    "routing_rule": _l("Routing rule"), "note": _l("Note"), "duplicate_of": _l("Duplicate of report"),
    "reason": _l("Reason"), "enabled": _l("On"), "method": _l("Method"),
    "failed_logins": _l("Failed attempts"), "locked_until": _l("Locked until"),
    "email": _l("E-mail"), "name": _l("Name"), "role": _l("Role"), "active": _l("Active"),
    "totp_enrolled": _l("Authenticator app set up"), "contact": _l("Contact"),
    "rate_limit": _l("Rate limit"), "revoked": _l("Revoked"), "hidden": _l("Hidden"),
    "rotation": _l("Rotation (degrees)"), "to": _l("Recipients"), "last_error": _l("Last error"),
    "until": _l("Until"), "lifted_at": _l("Lifted at"), "unit": _l("Unit"), "link": _l("Link"),
}

#: Coded values of some keys (``login.failed`` reasons, ``login`` methods, roles).
VALUE_LABELS = {
    "unknown": _l("unknown address"), "locked": _l("account locked"),
    "password": _l("wrong password"), "second_factor": _l("wrong code"),
    "totp_enrolment": _l("wrong code while setting up"), "totp": _l("authenticator code"),
    "recovery_code": _l("recovery code"), "enrolment": _l("setting up the authenticator"),
    "operator": _l("operator"), "admin": _l("administrator"),
}


def action_label(code: str) -> str:
    """The translated label of an action code; an unknown code is shown as it is."""
    label = ACTION_LABELS.get(code)
    return str(label) if label is not None else code


def object_label(object_type: str, object_id: str) -> str:
    """"Zgłoszenie 12", "Przełącznik Tryb serwisowy": the entry's object in words."""
    if object_type == "switch" and object_id in SWITCHES:
        return f"{OBJECT_LABELS['switch']}: {SWITCHES[object_id][2]}"
    kind = OBJECT_LABELS.get(object_type)
    return " ".join(part for part in (str(kind) if kind else object_type, object_id) if part)


def _value(key: str, value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return ", ".join(_value(key, v) for v in value) or "—"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_value(k, v)}" for k, v in value.items())
    if key == "status":
        try:
            return Status(value).label
        except ValueError:
            return str(value)
    if key == "duplicate_of":
        return f"#{value}"
    label = VALUE_LABELS.get(value) if key in ("reason", "method", "role") else None
    return str(label) if label is not None else str(value)


def change_items(data: dict | None) -> list[tuple[str, str]]:
    """``before``/``after`` of an entry as ``(label, text)`` pairs in the JSON's order
    (booleans as yes/no, statuses by their label, nothing as "—"); [] for none."""
    if not data:
        return []
    return [(str(FIELD_LABELS[k]) if k in FIELD_LABELS else k, _value(k, v))
            for k, v in data.items()]
