"""The catalogue: every component and matter, looked up by (kind, code) or searched by words."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from cityops.catalog.errors import CatalogueError, UnknownCode
from cityops.catalog.loader import apply_override, read_directory
from cityops.catalog.models import DEPARTMENT_TYPES, Entry, Kind

STANDARD = "GB/T 47678.5-2026"
DIRECTORY = "directory.yaml"


def _norm(text: str) -> str:
    """Full-width to half-width, lower case, no spaces: how people and manuals differ."""
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


@dataclass(frozen=True)
class Catalogue:
    """Immutable set of entries; components and matters share codes, so the key is (kind, code)."""

    entries: tuple[Entry, ...]
    sources: tuple[str, ...] = ()
    _by_key: Mapping[tuple[Kind, str], Entry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[tuple[Kind, str], Entry] = {}
        for entry in self.entries:
            if entry.key in index:
                raise CatalogueError(
                    f"duplicate {entry.kind} code {entry.code}",
                    f"重复的代码：{entry.kind} {entry.code}",
                )
            index[entry.key] = entry
        object.__setattr__(self, "_by_key", MappingProxyType(index))

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, kind: Kind, code: str) -> Entry:
        try:
            return self._by_key[(kind, code)]
        except KeyError:
            raise UnknownCode(kind, code) from None

    def matter(self, code: str) -> Entry:
        return self.get("matter", code)

    def component(self, code: str) -> Entry:
        return self.get("component", code)

    def find(self, kind: Kind, code: str) -> Entry | None:
        return self._by_key.get((kind, code))

    def matters(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.kind == "matter")

    def components(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.kind == "component")

    def component_of(self, matter_code: str) -> Entry | None:
        """The component behind a "<component>异常" matter (01001–05009 share its code)."""
        matter = self.matter(matter_code)
        return self.find("component", matter.code) if matter.is_component_matter else None

    def matter_for_component(self, component_code: str) -> Entry | None:
        """The "<component>异常" matter to register when this component is broken."""
        self.component(component_code)
        return self.find("matter", component_code)

    def search(self, text: str, kind: Kind | None = None, limit: int = 20) -> tuple[Entry, ...]:
        """Entries whose name, English name or keywords match `text`, best first.

        Matches both ways, so a short query ("井盖") and a citizen's sentence
        ("路口井盖丢了") both find the manhole-cover entries.
        """
        query = _norm(text)
        if not query:
            return ()
        scored: list[tuple[int, int, str, Entry]] = []
        for entry in self.entries:
            if kind is not None and entry.kind != kind:
                continue
            score = _score(entry, query)
            if score:
                # matters before components: a report is classified to a matter
                scored.append((-score, entry.kind != "matter", entry.code, entry))
        scored.sort(key=lambda item: item[:3])
        return tuple(item[3] for item in scored[:limit])

    @staticmethod
    def department_name(key: str) -> tuple[str, str]:
        """(zh, en) display name of a department type."""
        try:
            return DEPARTMENT_TYPES[key]
        except KeyError:
            raise UnknownCode("department", key) from None


def _score(entry: Entry, query: str) -> int:
    name = _norm(entry.name)
    if query == name:
        return 100
    best = 0
    if query in name:
        best = 70
    elif len(name) >= 2 and name in query:
        best = 60
    for word in map(_norm, entry.keywords):
        if query == word:
            best = max(best, 50)
        elif len(word) >= 2 and word in query:
            best = max(best, 30 + len(word))  # longer words are more specific
        elif query in word:
            best = max(best, 20)
    if not best and len(query) >= 3 and query in _norm(entry.name_en):
        best = 20
    return best


EXTENSION = "extension.yaml"


@cache
def _default() -> Catalogue:
    """The standard's directory with cityops's extension (matters its detectors need that the
    standard lacks, in the local code range) merged over it."""
    data = resources.files("cityops.catalog") / "data"
    with resources.as_file(data / DIRECTORY) as path:
        entries = read_directory(path, f"cityops/catalog/data/{DIRECTORY}")
    with resources.as_file(data / EXTENSION) as path:
        entries = apply_override(entries, path)
    return Catalogue(entries, sources=(f"{STANDARD} ({DIRECTORY})", f"cityops extension ({EXTENSION})"))


def load_catalogue(override: Path | None = None) -> Catalogue:
    """The packaged catalogue (cached), or a new one with a city's override merged over it."""
    base = _default()
    if override is None:
        return base
    return Catalogue(apply_override(base.entries, override), sources=(*base.sources, str(override)))
