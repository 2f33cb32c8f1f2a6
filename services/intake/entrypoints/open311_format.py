"""Open311 GeoReport v2 answers in JSON or XML, and its errors: a list of {code, description}."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

from fastapi.responses import Response

from backbone.text import NOT_XML

# The element name of one item in a list, as the standard's XML examples spell them.
_ITEM = {"services": "service", "service_requests": "request", "attributes": "attribute",
         "values": "value", "endpoints": "endpoint", "formats": "format", "errors": "error"}


class Open311Error(Exception):
    def __init__(self, status: int, description: str, fmt: str = "json"):
        super().__init__(description)
        self.status = status
        self.description = description
        self.fmt = fmt




def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else NOT_XML.sub("", str(value))  # as stored before the door refused them


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _fill(ET.SubElement(element, key), child)
    elif isinstance(value, list):
        item = _ITEM.get(element.tag, "item")
        for child in value:
            _fill(ET.SubElement(element, item), child)
    else:
        element.text = _text(value)


def to_xml(root: str, value: Any) -> bytes:
    element = ET.Element(root)
    _fill(element, value)
    return b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(element, encoding="utf-8")


def render(fmt: str, root: str, value: Any, status: int = 200) -> Response:
    """`root` names the XML document element (services, service_requests, ...)."""
    if fmt == "xml":
        return Response(to_xml(root, value), status_code=status,
                        media_type="text/xml; charset=utf-8")
    return Response(json.dumps(value, ensure_ascii=False), status_code=status,
                    media_type="application/json")


def render_error(exc: Open311Error) -> Response:
    return render(exc.fmt, "errors", [{"code": exc.status, "description": exc.description}],
                  exc.status)
