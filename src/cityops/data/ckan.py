"""The catalogue in CKAN's terms: packages, organizations, groups (pure functions).

A resource is a CKAN package (dataset) with one CKAN resource (its distribution); its
provider is an organization; its theme is a group. What CKAN has no field for (sharing type,
openness, update cycle, information items) goes into the package's `extras`.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

import orjson

from cityops.data.catalogue import Query, from_us, to_us
from cityops.data.models import Resource
from cityops.errors import InvalidInput

CKAN_VERSION = "2.10.4"  # the API generation answered (Action API v3)
MAX_ROWS = 1000
_SLUG = re.compile(r"[^a-z0-9_-]+")


def slug(text: str, prefix: str) -> str:
    """A CKAN name (lower-case ASCII, digits, - and _): the text itself when it is one, else
    a stable name from its hash, since provider and theme names are Chinese."""
    plain = _SLUG.sub("-", text.lower()).strip("-")
    if plain and plain == text.lower() and 2 <= len(plain) <= 100:
        return plain
    return f"{prefix}-{hashlib.sha1(text.encode()).hexdigest()[:12]}"


def org_name(r: Resource) -> str:
    return slug(r.provider_code, "org") if r.provider_code else slug(r.provider, "org")


def _time(us: int) -> str:
    return from_us(us).replace(tzinfo=None).isoformat(timespec="microseconds")  # CKAN: naive UTC


def organization(name: str, title: str, count: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": name, "name": name, "title": title, "display_name": title, "type": "organization",
                           "is_organization": True, "state": "active", "approval_status": "approved",
                           "description": "", "image_url": ""}
    if count is not None:
        out["package_count"] = count
    return out


def group(title: str, count: int | None = None) -> dict[str, Any]:
    name = slug(title, "group")
    out: dict[str, Any] = {"id": name, "name": name, "title": title, "display_name": title, "type": "group",
                           "is_organization": False, "state": "active", "approval_status": "approved",
                           "description": "", "image_url": ""}
    if count is not None:
        out["package_count"] = count
    return out


def resource_dict(r: Resource, base: str) -> dict[str, Any]:
    return {"id": f"{r.code}-data", "package_id": r.code, "name": r.name, "format": r.format,
            "url": f"{base.rstrip('/')}/api/v1/data/resources/{r.code}", "description": r.description,
            "position": 0, "state": "active", "created": f"{r.published}T00:00:00",
            "last_modified": _time(r.modified), "mimetype": None, "url_type": None}


def package(r: Resource, base: str) -> dict[str, Any]:
    org = organization(org_name(r), r.provider)
    extras = {"sharing_type": r.sharing, "sharing_condition": r.sharing_condition, "openness": r.openness,
              "openness_condition": r.openness_condition, "update_cycle": r.update_cycle,
              "classification": r.classification, "provider_code": r.provider_code, "source": r.source,
              "information_items": orjson.dumps([i.__dict__ for i in r.items]).decode()}
    tags = [{"name": w, "display_name": w, "state": "active"} for w in r.keywords.split()]
    return {"id": r.code, "name": slug(r.code, "ds"), "title": r.name, "notes": r.description, "type": "dataset",
            "state": "active", "private": False, "owner_org": org["id"], "organization": org,
            "groups": [group(r.theme)] if r.theme else [], "tags": tags, "num_tags": len(tags),
            "metadata_created": f"{r.published}T00:00:00", "metadata_modified": _time(r.modified),
            "license_id": "notspecified", "license_title": "见共享/开放条件",
            "extras": [{"key": k, "value": v} for k, v in extras.items() if v],
            "resources": [resource_dict(r, base)], "num_resources": 1, "url": "", "version": None}


_CLAUSE = re.compile(r'([+-]?)(\w+):(\[[^\]]*\]|"[^"]*"|\S+)')
_FIELDS = {"organization": "provider", "owner_org": "provider", "groups": "theme", "res_format": "format"}


def parse_fq(fq: str, q: Query) -> Query:
    """CKAN's filter query, the clauses harvesters send: organization:NAME, groups:NAME,
    res_format:CSV (several of one field, e.g. joined by OR: any of them; with a leading `-`:
    none of them, as ckanext-harvest's organizations_filter_exclude sends), and
    metadata_modified:[FROM TO TO] (either end `*`). Names are resolved by the caller."""
    from dataclasses import replace

    include: dict[str, list[str]] = {}
    exclude: dict[str, list[str]] = {}
    for sign, field, raw in _CLAUSE.findall(fq or ""):
        value = raw.strip('"')
        if field == "metadata_modified":
            start, end = _range(raw)
            q = replace(q, modified_from=start, modified_to=end)
        elif field in _FIELDS:
            (exclude if sign == "-" else include).setdefault(_FIELDS[field], []).append(value)
        elif field not in ("dataset_type", "state", "capacity", "site_id"):
            raise InvalidInput(f"fq field '{field}' is not supported; use organization, groups, res_format, "
                               "metadata_modified", f"不支持按 {field} 筛选")
    if "format" in exclude:
        raise InvalidInput("fq cannot exclude res_format", "不支持排除资源格式")
    def one_or_any(field: str, current: str | tuple[str, ...] | None) -> str | tuple[str, ...] | None:
        values = include.get(field)
        return current if not values else values[0] if len(values) == 1 else tuple(values)

    return replace(q, provider=one_or_any("provider", q.provider), theme=one_or_any("theme", q.theme),
                   format=str(include["format"][0]) if "format" in include else q.format,
                   not_provider=tuple(exclude.get("provider", ())), not_theme=tuple(exclude.get("theme", ())))


def _range(raw: str) -> tuple[int | None, int | None]:
    m = re.fullmatch(r"\[\s*(\S+)\s+TO\s+(\S+)\s*\]", raw)
    if not m:
        raise InvalidInput(f"metadata_modified needs a range [FROM TO TO], got {raw}",
                           "metadata_modified 应为区间 [起 TO 止]")
    return _instant(m.group(1)), _instant(m.group(2))


def _instant(text: str) -> int | None:
    if text == "*":
        return None
    text = text.removesuffix("Z")
    try:
        moment = datetime.fromisoformat(text.replace("NOW", ""))
    except ValueError:
        raise InvalidInput(f"'{text}' is not an ISO 8601 time", f"“{text}”不是 ISO 8601 时间") from None
    return to_us(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
