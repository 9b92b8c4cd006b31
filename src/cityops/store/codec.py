"""Case <-> row conversion, driven by the dataclass's own field types (no per-field code).

The converters are worked out once from the type hints; converting a case is then one
pass over a precomputed list (this runs on every write, so it is kept cheap).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from cityops.cases.models import Case, Status, case_of

CASE_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Case))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(dt: datetime | None) -> int | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        raise ValueError("naive datetimes are not stored; give a time zone")
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int | None) -> datetime | None:
    if us is None:
        return None
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)


def _kind(hint: Any) -> str:
    args = set(typing.get_args(hint)) | {hint}
    for kind, t in (("datetime", datetime), ("bool", bool), ("status", Status)):
        if t in args:
            return kind
    return "json" if dict in args or typing.get_origin(hint) is dict else "plain"


_Conv = Callable[[Any], Any]
_TO_ROW: dict[str, _Conv] = {
    "datetime": to_us,
    "bool": lambda v: None if v is None else int(v),
    "status": lambda v: None if v is None else v.value,
    "json": lambda v: orjson.dumps(v).decode(),
}
_FROM_ROW: dict[str, _Conv] = {
    "datetime": from_us,
    "bool": lambda v: None if v is None else bool(v),
    "status": lambda v: None if v is None else Status(v),
    "json": orjson.loads,
}
_HINTS = typing.get_type_hints(Case)
_KINDS = {name: _kind(_HINTS[name]) for name in CASE_COLUMNS}
DATETIME_FIELDS: frozenset[str] = frozenset(n for n, k in _KINDS.items() if k == "datetime")
_ENCODE = [(n, _TO_ROW.get(_KINDS[n])) for n in CASE_COLUMNS]
_DECODE = [(n, _FROM_ROW.get(_KINDS[n])) for n in CASE_COLUMNS]


def case_to_row(case: Case) -> dict[str, Any]:
    values = case.__dict__
    return {n: (f(values[n]) if f else values[n]) for n, f in _ENCODE}


def case_values(case: Case) -> tuple[Any, ...]:
    """The row in CASE_COLUMNS order: positional parameters bind faster than named ones."""
    values = case.__dict__
    return tuple([f(values[n]) if f else values[n] for n, f in _ENCODE])


def row_to_case(row: typing.Mapping[str, Any]) -> Case:
    return case_of({n: (f(row[n]) if f else row[n]) for n, f in _DECODE})
