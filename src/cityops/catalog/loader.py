"""Read catalogue YAML (the packaged directory and city overrides) into Entry values.

Every check names the file, the code and the field, so a person can fix the input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from cityops.catalog.errors import CatalogueError
from cityops.catalog.models import AREA_CLASSES, DEPARTMENT_TYPES, Entry, Kind, TimeLimit
from cityops.catalog.timelimits import TimeLimitSyntaxError, parse_time_limit

_CODE = re.compile(r"^\d{5}$")
_KIND_ZH = {"component": "管理部件", "matter": "管理事项"}
_MATTER_FIELDS = {"department", "time_limits", "verify_on_site", "keywords", "name_en"}
_COMPONENT_FIELDS = {"department", "keywords", "name_en"}
_ADD_FIELDS = _MATTER_FIELDS | {"code", "name", "major_code", "major_name"}
_SECTIONS: tuple[tuple[Kind, str, set[str]], ...] = (
    ("matter", "matters", _MATTER_FIELDS),
    ("component", "components", _COMPONENT_FIELDS),
)
LOCAL_MAJOR_NAME = "本地扩展事项类"

# the C loader reads the 400-entry directory several times faster; both are safe loaders
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Where:
    """Where a value came from: file, entry and field, for error messages."""

    def __init__(self, source: str, kind: Kind | None = None, code: str = "") -> None:
        self.source, self.kind, self.code = source, kind, code

    def fail(self, field: str, en: str, zh: str) -> CatalogueError:
        at_en, at_zh = self.source, self.source
        if self.code:
            at_en += f", {self.kind or 'entry'} {self.code}"
            at_zh += f"，{_KIND_ZH.get(self.kind or '', '条目')} {self.code}"
        if field:
            at_en += f", field '{field}'"
            at_zh += f"，字段 {field}"
        return CatalogueError(f"{at_en}: {en}", f"{at_zh}：{zh}")


def read_yaml(path: Path, source: str | None = None) -> Mapping[str, Any]:
    where = _Where(source or str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise where.fail(
            "", f"cannot read the file ({exc.strerror})", f"无法读取文件（{exc.strerror}）"
        ) from exc
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise where.fail("", f"not valid YAML: {exc}", f"不是有效的 YAML：{exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise where.fail("", "the top level must be a mapping", "顶层必须是映射（键: 值）")
    return data


def _department(value: Any, where: _Where) -> str:
    if not isinstance(value, str) or value not in DEPARTMENT_TYPES:
        keys = ", ".join(DEPARTMENT_TYPES)
        raise where.fail(
            "department",
            f"unknown department key {value!r}; use one of: {keys}",
            f"未知的部门类型 {value!r}；可选：{keys}",
        )
    return value


def _time_limit(value: Any, where: _Where, field: str) -> TimeLimit:
    if isinstance(value, Mapping):
        value = f"{value.get('amount', '')} {value.get('unit', '')}"
    if not isinstance(value, str):
        raise where.fail(
            field,
            f"expected text like '4 working_hours', got {value!r}",
            f"应为 '4 working_hours' 这样的文字，实为 {value!r}",
        )
    try:
        return parse_time_limit(value)
    except TimeLimitSyntaxError as exc:
        raise where.fail(
            field,
            f"{exc} (write '<amount> <unit>', unit working_hours|"
            "working_days|calendar_hours or 工作时|工作日|小时)",
            f"时限写法应为 '<数量> <单位>'，数量为正数：{value!r}",
        ) from exc


def _time_limits(value: Any, where: _Where) -> dict[str, TimeLimit]:
    if not isinstance(value, Mapping) or not value:
        raise where.fail(
            "time_limits",
            "expected a mapping of area class A/B/C to a time limit",
            "应为区域类别 A/B/C 到时限的映射",
        )
    limits: dict[str, TimeLimit] = {}
    for area, text in value.items():
        if area not in AREA_CLASSES:
            raise where.fail(
                f"time_limits.{area}", "area class must be A, B or C", "区域类别只能是 A、B 或 C"
            )
        limits[area] = _time_limit(text, where, f"time_limits.{area}")
    return limits


def _keywords(value: Any, where: _Where) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        raise where.fail("keywords", "expected a list of words", "应为词语列表")
    return tuple(value)


def _flag(value: Any, where: _Where) -> bool:
    if not isinstance(value, bool):
        raise where.fail(
            "verify_on_site",
            f"expected true or false, got {value!r}",
            f"应为 true 或 false，实为 {value!r}",
        )
    return value


def _text(raw: Mapping[str, Any], key: str, where: _Where) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise where.fail(key, "required text is missing", "缺少必填文字")
    return value.strip()


def _code(value: Any, where: _Where) -> str:
    code = str(value) if isinstance(value, (str, int)) else ""
    if not _CODE.match(code):
        raise where.fail(
            "code",
            f"a code is 5 digits (quote it in YAML), got {value!r}",
            f"代码应为 5 位数字（YAML 中请加引号），实为 {value!r}",
        )
    return code


def entry_from_mapping(raw: Any, source: str) -> Entry:
    """One entry of the packaged directory."""
    if not isinstance(raw, Mapping):
        raise _Where(source).fail("entries", "each entry must be a mapping", "每个条目必须是映射")
    kind = raw.get("kind")
    if kind not in ("component", "matter"):
        raise _Where(source).fail(
            "kind",
            f"kind must be component or matter, got {kind!r}",
            f"kind 只能是 component 或 matter，实为 {kind!r}",
        )
    where = _Where(source, kind, _code(raw.get("code"), _Where(source, kind)))
    limits = _time_limits(raw["time_limits"], where) if kind == "matter" else {}
    return Entry(
        kind=kind,
        code=where.code,
        major_code=_text(raw, "major_code", where),
        major_name=_text(raw, "major_name", where),
        name=_text(raw, "name", where),
        name_en=_text(raw, "name_en", where),
        department=_department(raw.get("department", "other"), where),
        time_limits=MappingProxyType(limits),
        verify_on_site=_flag(raw.get("verify_on_site", True), where),
        keywords=_keywords(raw.get("keywords", []), where),
    )


def read_directory(path: Path, source: str) -> tuple[Entry, ...]:
    data = read_yaml(path, source)
    raw_entries = data.get("entries")
    if not isinstance(raw_entries, list):
        raise _Where(source).fail("entries", "expected a list of entries", "应为条目列表")
    return tuple(entry_from_mapping(raw, source) for raw in raw_entries)


def _check_fields(raw: Any, allowed: set[str], where: _Where) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise where.fail("", "expected a mapping of fields", "应为字段映射")
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise where.fail(
            unknown[0],
            f"unknown field; allowed: {', '.join(sorted(allowed))}",
            f"未知字段；允许：{', '.join(sorted(allowed))}",
        )
    return raw


def _patched(entry: Entry, raw: Mapping[str, Any], where: _Where) -> Entry:
    changes: dict[str, Any] = {}
    if "department" in raw:
        changes["department"] = _department(raw["department"], where)
    if "time_limits" in raw:  # per class: a city may change only class A
        merged = dict(entry.time_limits) | _time_limits(raw["time_limits"], where)
        changes["time_limits"] = MappingProxyType(merged)
    if "verify_on_site" in raw:
        changes["verify_on_site"] = _flag(raw["verify_on_site"], where)
    if "keywords" in raw:
        changes["keywords"] = _keywords(raw["keywords"], where)
    if "name_en" in raw:
        changes["name_en"] = _text(raw, "name_en", where)
    return replace(entry, **changes)


def _added(raw: Any, taken: set[tuple[Kind, str]], source: str) -> Entry:
    if not isinstance(raw, Mapping):
        raise _Where(source).fail(
            "add", "each added matter must be a mapping", "每个新增事项必须是映射"
        )
    where = _Where(source, "matter", _code(raw.get("code"), _Where(source, "matter")))
    _check_fields(raw, _ADD_FIELDS, where)
    if ("matter", where.code) in taken:
        raise where.fail(
            "code",
            "this matter code already exists; local matters need a free code",
            "该事项代码已存在；本地新增事项须使用未占用的代码",
        )
    if "time_limits" not in raw:
        raise where.fail(
            "time_limits",
            "an added matter needs time limits (at least class A)",
            "新增事项必须给出时限（至少 A 类）",
        )
    name = _text(raw, "name", where)
    return Entry(
        kind="matter",
        code=where.code,
        major_code=str(raw.get("major_code", where.code[:2])),
        major_name=str(raw.get("major_name", LOCAL_MAJOR_NAME)),
        name=name,
        name_en=_text(raw, "name_en", where) if "name_en" in raw else name,
        department=_department(raw.get("department"), where),
        time_limits=MappingProxyType(_time_limits(raw["time_limits"], where)),
        verify_on_site=_flag(raw.get("verify_on_site", True), where),
        keywords=_keywords(raw.get("keywords", []), where),
    )


def apply_override(entries: tuple[Entry, ...], path: Path) -> tuple[Entry, ...]:
    """Merge a city's override file over `entries`; raise CatalogueError on any bad input."""
    source = str(path)
    data = read_yaml(path)
    unknown = sorted(set(data) - {"matters", "components", "add"})
    if unknown:
        raise _Where(source).fail(
            unknown[0],
            "unknown section; use matters, components or add",
            "未知的节；可用 matters、components、add",
        )
    by_key = {e.key: e for e in entries}
    for kind, section, allowed in _SECTIONS:
        patches = data.get(section) or {}
        if not isinstance(patches, Mapping):
            raise _Where(source).fail(
                section, "expected a mapping of code to fields", "应为代码到字段的映射"
            )
        for raw_code, raw in patches.items():
            where = _Where(source, kind, _code(raw_code, _Where(source, kind)))
            key: tuple[Kind, str] = (kind, where.code)
            if key not in by_key:
                raise where.fail(
                    "code",
                    f"unknown {kind} code; it is not in the catalogue",
                    f"未知的{_KIND_ZH[kind]}代码，目录中没有",
                )
            by_key[key] = _patched(by_key[key], _check_fields(raw, allowed, where), where)
    added = data.get("add") or []
    if not isinstance(added, list):
        raise _Where(source).fail("add", "expected a list of matters", "应为事项列表")
    for raw in added:
        entry = _added(raw, set(by_key), source)
        by_key[entry.key] = entry
    return tuple(by_key.values())
