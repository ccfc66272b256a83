"""Deciding which unit gets a report, and saying why in plain words.

Rules (see ``routing.toml`` and ``docs/routing.md``): the first area rule, in file order, that
lists the report's category and whose polygon holds the report's point sends it to that rule's
unit; otherwise the category's own unit. The category's ``mode`` applies either way: "auto"
reports are dispatched at once, "operator" reports first wait for an operator of
``operator_unit`` (regulamin pkt 3: "automatycznie lub za pośrednictwem operatora").
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import get_locale, gettext as _

from webapp.routing.config import RoutingConfig


class UnknownService(ValueError):
    """The service_code is not a category in the routing file."""


@dataclass(frozen=True)
class RoutingDecision:
    """Where a report goes.

    ``unit_id``: the unit that must act (in "operator" mode, the unit the operator is expected
    to forward to). ``mode``: "auto" or "operator". ``rule``: which rule matched,
    ``"area:<id>"`` or ``"category:<code>"``. ``reason``: plain Polish words stored with the
    report and shown to operators.
    """

    unit_id: str
    mode: str
    rule: str
    reason: str


def route(config: RoutingConfig, service_code: str, lat: float, long: float) -> RoutingDecision:
    """Route a report in category ``service_code`` at (``lat``, ``long``), WGS84 degrees.

    The point is not checked against the city limit here (the report form does that).
    Raises :class:`UnknownService` when ``service_code`` is not in ``config``.
    """
    service = config.service(service_code)
    if service is None:
        raise UnknownService(f"unknown service_code {service_code!r}")
    operator = config.units[config.operator_unit]
    for rule in config.area_rules:
        if service.code in rule.services and rule.boundary.contains(lat, long):
            unit = config.units[rule.unit]
            reason = (f"Zgłoszenie w kategorii „{service.name_pl}” z obszaru „{rule.name}” "
                      f"jest przekazywane do: {unit.name}.")
            return RoutingDecision(unit.id, service.mode, f"area:{rule.id}",
                                   _with_mode(reason, service.mode, operator.name))
    unit = config.units[service.unit]
    reason = f"Kategoria „{service.name_pl}” jest przekazywana do: {_bare(unit.name)}."
    return RoutingDecision(unit.id, service.mode, f"category:{service.code}",
                           _with_mode(reason, service.mode, operator.name))


def _bare(name: str) -> str:
    """A name that ends a sentence, without its own final dot ("Sp. z o.o." + "." -> one dot)."""
    return name.rstrip(".")


def _with_mode(reason: str, mode: str, operator_name: str) -> str:
    if mode == "operator":
        return f"{reason} Najpierw sprawdza je operator: {_bare(operator_name)}."
    return reason


def explain(config: RoutingConfig, rule: str, unit_id: str | None) -> str:
    """Plain-words explanation of a stored routing decision for the public report page, in the
    current UI language (gettext; category names from the routing file in that language).

    ``rule`` is a stored ``RoutingDecision.rule`` (or ``operator:<reason>`` after an operator
    re-routed the report in the moderation panel) and ``unit_id`` the unit now responsible (None
    while nobody is). The rule is only quoted while it still leads to ``unit_id``; after a
    forward, or once the file has changed, the sentence just names the unit. Never raises: a
    rule, category or unit no longer in ``config`` still gives a sensible sentence (unit names
    fall back to the stored id).
    """
    lang = str(get_locale() or "pl")
    unit = config.units.get(unit_id) if unit_id else None
    unit_name = _bare(unit.name) if unit is not None else (unit_id or "")
    kind, _sep, key = (rule or "").partition(":")
    if not unit_name:
        return _("An operator of the Łódź Contact Centre will choose the unit responsible for "
                 "this report.")
    if kind == "category":
        service = config.service(key)
        if service is not None and service.unit == unit_id:
            return _("Reports in the category “%(category)s” are sent to %(unit)s.",
                     category=service.name(lang), unit=unit_name)
    if kind == "area":
        area = next((r for r in config.area_rules if r.id == key), None)
        if area is not None and area.unit == unit_id:
            return _("This place lies in the area “%(area)s”, from which reports in this "
                     "category are sent to %(unit)s.", area=area.name, unit=unit_name)
    if kind == "operator" and key:
        # Stored by the moderation panel's re-route: "operator:<the operator's reason>".
        return _("An operator sent this report to %(unit)s: %(reason)s", unit=unit_name,
                 reason=key)
    return _("This report is handled by %(unit)s.", unit=unit_name)


def current_routing() -> RoutingConfig:
    """The routing file loaded at start-up (``current_app.extensions["routing"]``)."""
    return current_app.extensions["routing"]
