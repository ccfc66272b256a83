"""Writing GeoReport v2 answers in XML (the spec's required format) or JSON (by the suffix).

The XML uses the spec's element names: a list is a root element (``services``,
``service_requests``, ``errors``, ...) with one child per item (``service``, ``request``,
``error``); nested lists use :data:`ITEM_TAGS`. ``None`` is an empty element, booleans are
``true``/``false``.
"""
from __future__ import annotations

import json
import re
from xml.etree import ElementTree as ET

from flask import Response

FORMATS = ("xml", "json")
#: Characters XML 1.0 cannot carry at all (not even escaped); dropped from text (a URL path,
#: unlike the query, is not cleaned of control characters before it reaches us).
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: Element name of the items of a nested list, by the list's own name.
ITEM_TAGS = {"attributes": "attribute", "values": "value", "endpoints": "endpoint",
             "formats": "format", "status_history": "status_change"}


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return XML_ILLEGAL.sub("", str(value))


def _fill(element: ET.Element, value) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _fill(ET.SubElement(element, key), child)
    elif isinstance(value, list):
        tag = ITEM_TAGS.get(element.tag, "item")
        for child in value:
            _fill(ET.SubElement(element, tag), child)
    else:
        element.text = _text(value)


def to_xml(root: str, item: str | None, data) -> bytes:
    """``data`` (a list of dicts with ``item`` as each element's name, or one dict when
    ``item`` is None) as an XML document whose root element is ``root``."""
    element = ET.Element(root)
    if item is None:
        _fill(element, data)
    else:
        for entry in data:
            _fill(ET.SubElement(element, item), entry)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)


def render(fmt: str, root: str, item: str | None, data, status: int = 200) -> Response:
    """A response with ``data`` in ``fmt`` ("xml" or "json"); see :func:`to_xml`."""
    if fmt == "xml":
        return Response(to_xml(root, item, data), status=status,
                        mimetype="text/xml", content_type="text/xml; charset=utf-8")
    return Response(json.dumps(data, ensure_ascii=False), status=status,
                    mimetype="application/json")
