"""Turning services and reports into Open311 GeoReport v2 objects (dicts, written
as XML or JSON by :mod:`webapp.open311.formats`).

Spec: http://wiki.open311.org/GeoReport_v2/. Datetimes are ISO 8601 (W3C) in UTC with an explicit
``+00:00`` offset. Only public fields are written: never ``email``, consent, ``client_id``, the
raw ``description`` nor the tracking hash.
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import url_for

from webapp.citymap.queries import support_counts
from webapp.reports import queries
from webapp.reports.models import Report, Status


def w3c_datetime(value: datetime | None) -> str | None:
    """``value`` (aware) as ISO 8601 in UTC with offset, e.g. ``2026-05-01T08:30:00+00:00``."""
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat(timespec="seconds")


def service_json(config, service, lang: str) -> dict:
    """One entry of ``services.json``: ``{service_code, service_name, description, metadata,
    type, keywords, group}``; ``metadata`` is true when the category has extra questions
    (see :func:`service_definition_json`). ``keywords`` lists the category's names in the other UI
    languages (comma separated) so clients can search in any of them."""
    name = service.name(lang)
    others = []
    for other in ("pl", "en", "uk"):
        alias = service.name(other)
        if alias and alias != name and alias not in others:
            others.append(alias)
    return {
        "service_code": service.code,
        "service_name": name,
        "description": name,
        "metadata": bool(service.attributes),
        "type": "realtime",
        "keywords": ", ".join(others),
        "group": config.group_name(service.code, lang) or "",
    }


DATATYPE_DESCRIPTIONS = {"number": "A number, e.g. 3 or 2.5.", "string": "One line of text.",
                         "text": "Text, several lines allowed."}


def service_definition_json(service, lang: str) -> dict:
    """GeoReport v2 service definition: ``{service_code, attributes: [{variable, code,
    datatype, required, datatype_description, order, description, values: [{key, name}]}]}``
    from the category's ``attributes`` in routing.toml (``values`` only for list types)."""
    attributes = []
    for order, attribute in enumerate(service.attributes, start=1):
        entry = {
            "variable": True,
            "code": attribute.code,
            "datatype": attribute.datatype,
            "required": attribute.required,
            "datatype_description": DATATYPE_DESCRIPTIONS.get(attribute.datatype, ""),
            "order": order,
            "description": attribute.description(lang),
        }
        if attribute.values:
            entry["values"] = [{"key": v.key, "name": v.name(lang)} for v in attribute.values]
        attributes.append(entry)
    return {"service_code": service.code, "attributes": attributes}


def support_count(report: Report) -> int:
    """How many phones said "me too" for ``report`` (:mod:`webapp.citymap`), one query."""
    return support_counts([report.id]).get(report.id, 0)


def media_url_template() -> str:
    """The absolute URL of a public photo copy with ``{}`` for its id (one ``url_for`` per
    answer instead of one per row)."""
    return url_for("photos.public", photo_id=987654321, _external=True).replace("987654321", "{}")


def request_json(config, row: queries.Open311Row, lang: str, media: str, *,
                 extensions: bool = False) -> dict:
    """One GeoReport v2 ``service_request`` object for the report of ``row``
    (:class:`~webapp.reports.queries.Open311Row`); ``media`` is :func:`media_url_template`'s
    answer.

    ``status`` is ``open``/``closed`` (:attr:`Status.open311`); ``agency_responsible`` is the
    unit's name; ``description`` is the moderated ``public_description`` ("" while awaiting
    moderation). With ``extensions`` (``extensions=true``; ``row`` must hold a full report) our
    extension fields are added: ``support_count`` ("me too" count), ``attributes`` (answers by
    code) and ``status_history``, a list, oldest first, of ``{status, open311_status, note,
    agency_responsible, datetime}``.
    """
    report = row.report
    data = {
        "service_request_id": str(report.id),
        "status": Status(report.status).open311,
        "status_notes": row.note,
        "service_name": config.category_name(report.service_code, lang),
        "service_code": report.service_code,
        "description": queries.public_description(report) or "",
        "agency_responsible": config.unit_name(report.agency_responsible),
        "service_notice": None,
        "requested_datetime": w3c_datetime(report.requested_at),
        "updated_datetime": w3c_datetime(report.updated_at),
        "expected_datetime": None,
        "address": report.address_string or None,
        "address_id": None,
        "zipcode": None,
        "lat": report.lat,
        "long": report.long,
        "media_url": media.format(row.photo_id) if row.photo_id else None,
    }
    if extensions:
        data["support_count"] = support_count(report)
        # The answers to the category's questions (attribute[code]), public once moderated.
        data["attributes"] = dict(report.attributes or {}) \
            if queries.description_is_public(report) else {}
        data["status_history"] = [
            {
                "status": change.status,
                "open311_status": Status(change.status).open311,
                "note": change.note or None,
                "agency_responsible": config.unit_name(change.agency_responsible),
                "datetime": w3c_datetime(change.created_at),
            }
            for change in report.history
        ]
    return data
