"""GET services and services/{code}: the catalogue's matters as Open311 services (data-driven)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from cityops.catalog.models import Entry
from cityops.intake.open311.errors import Open311Error, bad_request

DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
# The catch-all service: "I don't know which": the description is classified on intake
# (cityops.intel); a sure answer is dispatched with the predicted matter, the rest go to triage.
CATCH_ALL = "other"
CATCH_ALL_NAME = "其他问题（按描述自动分类） / Other problem (classified from the description)"


@dataclass(frozen=True)
class Attribute:
    code: str
    datatype: str
    description: str
    required: bool = False
    datatype_description: str = ""
    values: tuple[tuple[str, str], ...] = ()  # (key, name)

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(k for k, _ in self.values)


@dataclass(frozen=True)
class Rule:
    codes: frozenset[str] = frozenset()
    majors: frozenset[str] = frozenset()
    keywords: frozenset[str] = frozenset()
    attributes: tuple[Attribute, ...] = field(default=())

    def applies(self, entry: Entry) -> bool:
        return (entry.code in self.codes or entry.major_code in self.majors
                or bool(self.keywords & set(entry.keywords)))


def parse_rules(data: Mapping[str, Any]) -> tuple[Rule, ...]:
    rules = []
    for raw in data.get("rules", []):
        when = raw.get("when", {})
        attrs = []
        for a in raw.get("attributes", []):
            if a["datatype"] not in DATATYPES:
                raise ValueError(f"attribute {a['code']}: unknown datatype {a['datatype']!r}")
            values = tuple((str(v["key"]), str(v["name"])) for v in a.get("values", []))
            attrs.append(Attribute(str(a["code"]), a["datatype"], str(a["description"]),
                                   bool(a.get("required", False)), str(a.get("datatype_description", "")),
                                   values))
        rules.append(Rule(frozenset(map(str, when.get("codes", []))), frozenset(map(str, when.get("majors", []))),
                          frozenset(map(str, when.get("keywords", []))), tuple(attrs)))
    return tuple(rules)


@cache
def default_rules() -> tuple[Rule, ...]:
    text = (resources.files("cityops.intake.open311") / "attributes.yaml").read_text("utf-8")
    return parse_rules(yaml.safe_load(text))


def attributes_for(entry: Entry, rules: Sequence[Rule] | None = None) -> tuple[Attribute, ...]:
    """Every attribute of every rule that applies, first rule first; codes are unique."""
    seen: dict[str, Attribute] = {}
    for rule in default_rules() if rules is None else rules:
        if rule.applies(entry):
            for attr in rule.attributes:
                seen.setdefault(attr.code, attr)
    return tuple(seen.values())


def service_name(entry: Entry) -> str:
    """One string, as every client expects: "中文名 / English name"."""
    return f"{entry.name} / {entry.name_en}"


def service_json(entry: Entry) -> dict[str, Any]:
    return {
        "service_code": entry.code,
        "service_name": service_name(entry),
        "description": f"{entry.major_name}：{entry.name} / {entry.name_en}",
        "metadata": bool(attributes_for(entry)),
        "type": "realtime",
        "keywords": ", ".join(entry.keywords),
        "group": entry.major_name,
    }


def catch_all_json() -> dict[str, Any]:
    return {
        "service_code": CATCH_ALL, "service_name": CATCH_ALL_NAME,
        "description": "不确定类别时选择，须填写描述 / choose when unsure; a description is required",
        "metadata": False, "type": "realtime", "keywords": "其他, other", "group": "其他 / Other",
    }


def definition_json(entry: Entry) -> dict[str, Any]:
    attrs = []
    for order, a in enumerate(attributes_for(entry), start=1):
        item: dict[str, Any] = {
            "variable": True, "code": a.code, "datatype": a.datatype, "required": a.required,
            "datatype_description": a.datatype_description, "order": order, "description": a.description,
        }
        if a.values:
            item["values"] = [{"key": k, "name": n} for k, n in a.values]
        attrs.append(item)
    return {"service_code": entry.code, "attributes": attrs}


def check_attributes(entry: Entry, given: Mapping[str, list[str]]) -> dict[str, Any]:
    """Validate posted attribute[code] values; returns them (lists for multivaluelists)."""
    known = {a.code: a for a in attributes_for(entry)}
    out: dict[str, Any] = {}
    for code, values in given.items():
        attr = known.get(code)
        if attr is None:
            raise bad_request(f"service {entry.code} has no attribute '{code}' / 该服务没有属性 {code}")
        if attr.datatype == "multivaluelist":
            bad = [v for v in values if v not in attr.keys]
            if bad:
                raise bad_request(f"attribute {code}: unknown values {bad}; use {sorted(attr.keys)} / 属性取值无效")
            out[code] = list(dict.fromkeys(values))
            continue
        if len(values) != 1:
            raise bad_request(f"attribute {code} takes one value / 属性 {code} 只能有一个值")
        value = values[0]
        if attr.datatype == "singlevaluelist" and value not in attr.keys:
            raise bad_request(f"attribute {code}: unknown value '{value}'; use {sorted(attr.keys)} / 属性取值无效")
        if attr.datatype == "number":
            try:
                float(value)
            except ValueError:
                raise bad_request(f"attribute {code} must be a number / 属性 {code} 必须是数字") from None
        if len(value) > 1000:
            raise bad_request(f"attribute {code} is over 1000 characters / 属性值过长")
        out[code] = value
    missing = [a.code for a in known.values() if a.required and a.code not in out]
    if missing:
        raise bad_request(f"required attributes missing: {', '.join(missing)} / 缺少必填属性")
    return out


def lookup(catalogue: Any, code: str) -> Entry:
    try:
        entry: Entry = catalogue.matter(code)
    except KeyError:
        raise Open311Error(404, f"unknown service_code '{code}' / 未知的服务代码 {code}") from None
    return entry
