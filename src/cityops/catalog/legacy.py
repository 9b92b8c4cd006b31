"""Legacy names (GB/T 30428.2-2013 / CJ/T 214-2007) mapped onto GB/T 47678.5-2026 matter codes."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cityops.catalog.errors import CatalogueError
from cityops.catalog.loader import read_yaml

_PARENS = re.compile(r"\([^)]*\)")
_MATTER = re.compile(r"^\d{5}$")


def _norm(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def _variants(text: str) -> tuple[str, ...]:
    """Exact, then without "(区管)"-style qualifiers, then without list punctuation."""
    exact = _norm(text)
    bare = _PARENS.sub("", exact)
    return tuple(dict.fromkeys((exact, bare, bare.replace("、", ""))))


@dataclass(frozen=True)
class LegacyRow:
    group: str  # legacy "部件/<major>" or "事件/<major>"
    name: str
    matter: str
    aliases: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class LegacyTable:
    rows: tuple[LegacyRow, ...]
    _index: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, str] = {}
        for row in self.rows:
            for key in (*row.codes, row.name, *row.aliases):
                for variant in _variants(key):
                    index.setdefault(variant, row.matter)
        object.__setattr__(self, "_index", MappingProxyType(index))

    def map(self, code_or_name: str) -> str | None:
        for variant in _variants(code_or_name):
            if variant and variant in self._index:
                return self._index[variant]
        return None


def _row(raw: Any, source: str, i: int) -> LegacyRow:
    where = f"{source}, row {i + 1}"
    if not isinstance(raw, Mapping):
        raise CatalogueError(f"{where}: expected a mapping", f"{where}：应为映射")
    name, matter, group = raw.get("name"), str(raw.get("matter", "")), raw.get("group", "")
    if not isinstance(name, str) or not name:
        raise CatalogueError(f"{where}, field 'name': required", f"{where}，字段 name：必填")
    if not _MATTER.match(matter):
        raise CatalogueError(
            f"{where}, field 'matter': a 5-digit matter code, got {matter!r}",
            f"{where}，字段 matter：应为 5 位事项代码，实为 {matter!r}",
        )
    return LegacyRow(
        group=str(group),
        name=name,
        matter=matter,
        aliases=tuple(str(a) for a in raw.get("aliases", ())),
        codes=tuple(str(c) for c in raw.get("codes", ())),
        note=str(raw.get("note", "")),
    )


def load_legacy(path: Path | None = None) -> LegacyTable:
    """The packaged name table, or a city's own file (same format, may carry `codes`)."""
    if path is None:
        return _default()
    return _read(path, str(path))


def _read(path: Path, source: str) -> LegacyTable:
    rows = read_yaml(path, source).get("rows")
    if not isinstance(rows, list):
        raise CatalogueError(f"{source}: expected a 'rows' list", f"{source}：应有 rows 列表")
    return LegacyTable(tuple(_row(raw, source, i) for i, raw in enumerate(rows)))


@cache
def _default() -> LegacyTable:
    ref = resources.files("cityops.catalog") / "data" / "legacy.yaml"
    with resources.as_file(ref) as path:
        return _read(path, "cityops/catalog/data/legacy.yaml")


def map_legacy(code_or_name: str) -> str | None:
    """New matter code for a legacy component/event name (or a code a city file lists)."""
    return _default().map(code_or_name)


def legacy_table() -> list[tuple[str, str, str]]:
    """(legacy group, legacy name, GB/T 47678.5 matter code) for every packaged row."""
    return [(r.group, r.name, r.matter) for r in _default().rows]
