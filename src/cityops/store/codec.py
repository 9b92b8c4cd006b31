"""Case <-> row conversion, driven by the dataclass's own field types (no per-field code)."""

from __future__ import annotations

import dataclasses
import typing
from datetime import UTC, datetime
from typing import Any

import orjson

from cityops.cases.models import Case, Status

_HINTS = typing.get_type_hints(Case)
CASE_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Case))
_DATETIMES = frozenset(n for n, t in _HINTS.items() if datetime in typing.get_args(t) or t is datetime)
_BOOLS = frozenset(n for n, t in _HINTS.items() if bool in typing.get_args(t) or t is bool)
_STATUSES = frozenset(n for n, t in _HINTS.items() if Status in typing.get_args(t) or t is Status)


def to_us(dt: datetime | None) -> int | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        raise ValueError("naive datetimes are not stored; give a time zone")
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int | None) -> datetime | None:
    if us is None:
        return None
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)


def case_to_row(case: Case) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name in CASE_COLUMNS:
        value = getattr(case, name)
        if name in _DATETIMES:
            value = to_us(value)
        elif name in _BOOLS and value is not None:
            value = int(value)
        elif name == "attributes":
            value = orjson.dumps(value).decode()
        elif isinstance(value, Status):
            value = value.value
        row[name] = value
    return row


def row_to_case(row: typing.Mapping[str, Any]) -> Case:
    values: dict[str, Any] = {}
    for name in CASE_COLUMNS:
        value = row[name]
        if name in _DATETIMES:
            value = from_us(value)
        elif name in _BOOLS and value is not None:
            value = bool(value)
        elif name in _STATUSES and value is not None:
            value = Status(value)
        elif name == "attributes":
            value = orjson.loads(value)
        values[name] = value
    return Case(**values)
