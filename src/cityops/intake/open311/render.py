"""JSON and XML bodies for GeoReport v2 resources, UTF-8 with Chinese text intact.

XML is built with the standard library (we only ever write XML, never parse it here). A list
becomes repeated elements named by `SINGULAR`; a dict becomes child elements.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from cityops.intake.open311.errors import Open311Error

FORMATS = ("xml", "json")
MEDIA_TYPES = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}
# Which element a list item is written as, by the list's own element name.
SINGULAR = {
    "services": "service", "service_requests": "request", "attributes": "attribute",
    "values": "value", "notes": "note", "endpoints": "endpoint", "formats": "format",
    "errors": "error", "service_request_updates": "request_update", "media_urls": "media_url",
}


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Error(404, f"unknown format '{fmt}'; use .xml or .json / 未知格式 {fmt}")
    return fmt


# Characters XML 1.0 cannot carry at all, not even escaped: one control character in one
# description would otherwise make the whole requests.xml unreadable for every client.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else _NOT_XML.sub("\ufffd", str(value))


# An element name: ElementTree writes any string as a tag, so a key like 'a><b' would be markup.
_TAG = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}\Z")


def _fill(elem: ET.Element, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, child in value.items():
            if isinstance(key, str) and _TAG.match(key):
                _fill(ET.SubElement(elem, key), child)
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
        name = SINGULAR.get(elem.tag, "value")
        for item in value:
            _fill(ET.SubElement(elem, name), item)
    else:
        elem.text = _text(value)


def to_xml(root: str, body: Any) -> bytes:
    elem = ET.Element(root)
    _fill(elem, body)
    out: bytes = ET.tostring(elem, encoding="utf-8", xml_declaration=True)
    return out


def body(fmt: str, root: str, payload: Any) -> bytes:
    """The payload as JSON, or as XML under `root` (lists repeat their singular element)."""
    if fmt == "json":
        # HTML-safe JSON: <, > and & only ever occur inside strings, where \u escapes mean the
        # same; a page that drops a value into HTML unescaped still gets no markup from us.
        out = orjson.dumps(payload)
        if b"<" in out or b">" in out or b"&" in out:
            out = out.replace(b"&", b"\\u0026").replace(b"<", b"\\u003c").replace(b">", b"\\u003e")
        return bytes(out)
    return to_xml(root, payload)


def errors(fmt: str, err: Open311Error) -> bytes:
    items = [{"code": err.status, "description": err.description}]
    return body(fmt, "errors", items)
