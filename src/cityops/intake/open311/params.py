"""Parsing what clients send: query lists, W3C dates, the POST form, locations. Pure functions.

Empty parameters behave as missing (real clients send `jurisdiction_id=` and the like).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cityops.intake.open311.errors import Open311Error, bad_request

WINDOW = timedelta(days=90)
DEFAULT_CAP = 200  # anonymous pages are bounded in cost: a page is rendered on the event loop
MAX_DESCRIPTION = 4000
CONTACT_FIELDS = ("email", "first_name", "last_name", "phone", "device_id", "account_id")
_ATTR = re.compile(r"^attribute\[([A-Za-z0-9_.-]{1,64})\](\[\])?$")
_LONLAT = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*[,，]\s*(-?\d+(?:\.\d+)?)\s*$")


def first(params: Mapping[str, list[str]], name: str) -> str | None:
    """The first non-empty value of a parameter, stripped; None when missing or empty."""
    for value in params.get(name, ()):
        if value.strip():
            return value.strip()
    return None


def comma_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def parse_when(value: str, name: str, tz: ZoneInfo) -> datetime:
    """W3C / ISO 8601; a time without a zone is read in the city's zone; a bare date is midnight."""
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise bad_request(
            f"{name} '{value}' is not an ISO 8601 date-time such as 2026-11-27T09:00:00+08:00 / {name} 日期格式错误"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=tz)


def window(start: str | None, end: str | None, now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end): at most 90 days; missing ends default to the most recent 90 days."""
    s = parse_when(start, "start_date", tz) if start else None
    e = parse_when(end, "end_date", tz) if end else None
    if s is None and e is None:
        return now - WINDOW, now + timedelta(seconds=1)
    if s is None:
        assert e is not None
        try:
            s = e - WINDOW
        except OverflowError:
            raise bad_request(f"end_date '{end}' is out of range / end_date 超出范围") from None
    if e is None:
        e = max(now + timedelta(seconds=1), s)
    if e < s:
        raise bad_request("end_date is before start_date / 结束时间早于开始时间")
    if e - s > WINDOW:
        raise bad_request(f"start_date to end_date spans {(e - s).days} days; at most 90 are allowed / 时间范围不能超过 90 天")
    return s, e


def whole(value: str) -> int | None:
    """A plain ASCII whole number that fits SQLite's 64-bit integers, else None.

    `str.isdigit` alone lets '²' (int() fails) and 30-digit ids (the store overflows) through.
    """
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


def positive_int(value: str | None, name: str, default: int, cap: int | None = None) -> int:
    if value is None:
        return default
    number = whole(value)
    if number is None or number < 1:
        raise bad_request(f"{name} must be a positive whole number / {name} 必须是正整数")
    return min(number, cap) if cap else number


@dataclass(frozen=True)
class Submission:
    """A POST requests body, parsed and checked for form (not yet for meaning)."""

    service_code: str
    description: str
    lat: float | None
    lon: float | None
    address_string: str | None
    address_id: str | None
    media_url: str | None
    attributes: dict[str, list[str]] = field(default_factory=dict)
    contact: dict[str, str] = field(default_factory=dict)
    client_token: str | None = None


def parse_submission(params: Mapping[str, list[str]]) -> Submission:
    code = first(params, "service_code")
    if code is None:
        raise bad_request("service_code is required / 缺少 service_code")
    description = first(params, "description") or ""
    if len(description) > MAX_DESCRIPTION:
        raise bad_request(
            f"description has {len(description)} characters; at most {MAX_DESCRIPTION} are allowed / 问题描述超过 {MAX_DESCRIPTION} 字"
        )
    lat, lon = _number(first(params, "lat"), "lat"), _number(first(params, "long"), "long")
    if (lat is None) != (lon is None):
        raise bad_request("give both lat and long / lat 与 long 必须同时提供")
    address, address_id = first(params, "address_string"), first(params, "address_id")
    if lat is None and address is None and address_id is None:
        raise bad_request("a location is required: lat and long, address_string or address_id / 缺少位置")
    media = first(params, "media_url")
    if media is not None and not re.match(r"^https?://\S+$", media):
        raise bad_request("media_url must be an http(s) URL / media_url 必须是 http(s) 地址")
    attributes: dict[str, list[str]] = {}
    for name, values in params.items():
        m = _ATTR.match(name)
        if m:
            attributes.setdefault(m.group(1), []).extend(v.strip() for v in values if v.strip())
    contact = {f: v for f in CONTACT_FIELDS if (v := first(params, f)) is not None}
    return Submission(code, description, lat, lon, address, address_id, media, attributes, contact,
                      first(params, "token") or first(params, "client_token"))


def _number(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise bad_request(f"{name} '{value}' is not a number / {name} 不是数字") from None
    if not math.isfinite(number):
        raise bad_request(f"{name} must be finite / {name} 无效")
    return number


@dataclass(frozen=True)
class Place:
    name: str
    lon: float
    lat: float


def geocode(address: str, places: Iterable[Place]) -> tuple[float, float]:
    """(lon, lat) for "lon,lat" text or an exact known place name (district, waterlogging point)."""
    m = _LONLAT.match(address)
    if m:
        a, b = float(m.group(1)), float(m.group(2))
        return (a, b) if abs(b) <= 90 else (b, a)
    wanted = address.strip().casefold()
    for place in places:
        if place.name.casefold() == wanted:
            return place.lon, place.lat
    raise bad_request(
        f"cannot locate address_string '{address}': give 'lon,lat', a district name or a "
        f"waterlogging point name, or send lat and long / 无法定位地址 {address}"
    )


def form_params(items: Iterable[tuple[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in items:
        if isinstance(value, str):
            out.setdefault(key, []).append(value)
    return out


def merge(*sources: Mapping[str, list[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for src in sources:
        for key, values in src.items():
            out.setdefault(key, []).extend(values)
    return out


def require(value: str | None, name: str) -> str:
    if value is None:
        raise Open311Error(400, f"{name} is required / 缺少 {name}")
    return value
