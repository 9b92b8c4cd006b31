"""The import mapping file: how one city's legacy export becomes cases.

A mapping names the source format and time zone, the column for each case field and three
tables (category → matter code, agency → department type, status → case status). It is read
and checked whole before a single row is touched, so a mistake in it never loads anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from cityops.cases.models import Status
from cityops.catalog.models import DEPARTMENT_TYPES
from cityops.errors import InvalidInput

Format = Literal["csv", "open311-json"]
FORMATS: tuple[Format, ...] = ("csv", "open311-json")
SKIP = "skip"
CLASSIFY = "classify"  # default_matter: the city's model reads the record's text (cityops.intel)
ISO = "iso"
# Fields whose column the mapping must name; the others are optional.
REQUIRED_COLUMNS = ("external_id", "created", "status", "category")
OPTIONAL_COLUMNS = ("closed", "updated", "due", "agency", "description", "address", "lat", "lon", "district")
# Imported records keep their history: only states a legacy system can report.
IMPORT_STATUSES = frozenset({Status.REGISTERED, Status.DISPATCHED, Status.DISPOSING,
                             Status.REPORTED_BACK, Status.CLOSED, Status.REJECTED})
_SOURCE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")
_TOP = {"source", "format", "timezone", "date_format", "columns", "categories", "default_matter",
        "agencies", "default_department", "statuses", "missing_location", "description"}


class MappingError(InvalidInput):
    """The mapping file is wrong; the message names the file and the key."""


@dataclass(frozen=True)
class ImportMapping:
    source: str  # short name: case source "import:<source>", keys "import:<source>:<id>"
    format: Format
    timezone: str
    date_format: str  # strptime pattern, or "iso" for ISO 8601 (with or without offset)
    columns: Mapping[str, tuple[str, ...]]  # case field -> source column(s), joined for text
    categories: Mapping[str, str]  # source category -> matter code or "skip"
    default_matter: str  # for categories not in the table: a matter code, "skip" or "classify"
    agencies: Mapping[str, str]  # source agency -> department type
    default_department: str | None  # department type for unlisted agencies; None: unknown
    statuses: Mapping[str, Status]  # lower-cased source status -> case status
    missing_location: Literal["keep", "skip"] = "keep"
    notes: str = ""

    def column(self, name: str) -> str | None:
        cols = self.columns.get(name)
        return cols[0] if cols else None

    @property
    def matter_codes(self) -> set[str]:
        return {c for c in (*self.categories.values(), self.default_matter) if c not in (SKIP, CLASSIFY)}


def _fail(path: str, key: str, en: str, zh: str) -> MappingError:
    return MappingError(f"{path}, key '{key}': {en}", f"{path}，键 {key}：{zh}")


def _text(raw: Mapping[str, Any], key: str, path: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, key, "required text is missing", "缺少必填文字")
    return value.strip()


def _table(raw: Any, key: str, path: str, check: Callable[[str, str], str]) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _fail(path, key, "expected a mapping of source value to target", "应为源值到目标值的映射")
    out: dict[str, str] = {}
    for k, v in raw.items():
        out[str(k).strip()] = check(f"{key}.{k}", str(v).strip() if v is not None else "")
    return out


def _columns(raw: Any, path: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, Mapping):
        raise _fail(path, "columns", "expected a mapping of case field to source column",
                    "应为案卷字段到源列名的映射")
    unknown = sorted(set(raw) - set(REQUIRED_COLUMNS) - set(OPTIONAL_COLUMNS))
    if unknown:
        allowed = ", ".join((*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS))
        raise _fail(path, f"columns.{unknown[0]}", f"unknown case field; use {allowed}",
                    f"未知的案卷字段；可用 {allowed}")
    out: dict[str, tuple[str, ...]] = {}
    for name, value in raw.items():
        cols = [value] if isinstance(value, str) else value
        if not isinstance(cols, list) or not cols or not all(isinstance(c, str) and c for c in cols):
            raise _fail(path, f"columns.{name}", "expected a column name or a list of them",
                        "应为列名或列名列表")
        if len(cols) > 1 and name not in ("description", "address"):
            raise _fail(path, f"columns.{name}", "only description and address may join several columns",
                        "只有 description 和 address 可合并多列")
        out[str(name)] = tuple(cols)
    missing = [c for c in REQUIRED_COLUMNS if c not in out]
    if missing:
        raise _fail(path, f"columns.{missing[0]}", "this case field needs a source column",
                    "该案卷字段必须指定源列")
    if ("lat" in out) != ("lon" in out):
        raise _fail(path, "columns.lat", "name both lat and lon, or neither", "lat 与 lon 须同时给出")
    return out


def parse_mapping(raw: Any, path: str, matter_codes: Collection[str]) -> ImportMapping:
    """Check a mapping document; `matter_codes` are the catalogue's matters."""
    if not isinstance(raw, Mapping):
        raise _fail(path, "(top)", "the top level must be a mapping", "顶层必须是映射")
    unknown = sorted(set(raw) - _TOP)
    if unknown:
        raise _fail(path, unknown[0], f"unknown key; use {', '.join(sorted(_TOP))}",
                    f"未知的键；可用 {', '.join(sorted(_TOP))}")
    source = _text(raw, "source", path)
    if not _SOURCE.match(source):
        raise _fail(path, "source", "use 1–40 lower-case letters, digits, '.', '_' or '-'",
                    "来源名只能用小写字母、数字、'.'、'_'、'-'（1–40 个）")
    fmt = _text(raw, "format", path)
    if fmt not in FORMATS:
        raise _fail(path, "format", f"use one of {', '.join(FORMATS)}", f"格式只能是 {', '.join(FORMATS)}")
    tz = _text(raw, "timezone", path, "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(path, "timezone", f"unknown time zone {tz!r} (use an IANA name like America/New_York)",
                    f"未知时区 {tz!r}（请用 IANA 名称，如 Asia/Shanghai）") from None

    def matter(key: str, value: str) -> str:
        if value != SKIP and value not in matter_codes:
            raise _fail(path, key, f"{value!r} is not a matter code of the catalogue, nor 'skip' "
                        "(quote codes: \"06013\")", f"{value!r} 不是目录中的管理事项代码，也不是 skip")
        return value

    def department(key: str, value: str) -> str:
        if value not in DEPARTMENT_TYPES:
            raise _fail(path, key, f"unknown department type {value!r}; use one of {', '.join(DEPARTMENT_TYPES)}",
                        f"未知的部门类型 {value!r}")
        return value

    def status(key: str, value: str) -> str:
        if value not in {s.value for s in IMPORT_STATUSES}:
            allowed = ", ".join(sorted(s.value for s in IMPORT_STATUSES))
            raise _fail(path, key, f"unknown case status {value!r}; use one of {allowed}",
                        f"未知的案卷状态 {value!r}；可用 {allowed}")
        return value

    statuses = _table(raw.get("statuses"), "statuses", path, status)
    if not statuses:
        raise _fail(path, "statuses", "map at least one source status", "至少映射一个源状态")
    default_dept = raw.get("default_department")
    missing = raw.get("missing_location", "keep")
    if missing not in ("keep", "skip"):
        raise _fail(path, "missing_location", "use keep or skip", "只能是 keep 或 skip")
    return ImportMapping(
        source=source,
        format=fmt,  # type: ignore[arg-type]
        timezone=tz,
        date_format=_text(raw, "date_format", path, ISO),
        columns=_columns(raw.get("columns"), path),
        categories=_table(raw.get("categories"), "categories", path, matter),
        default_matter=CLASSIFY if raw.get("default_matter") == CLASSIFY
        else matter("default_matter", str(raw.get("default_matter", SKIP))),
        agencies=_table(raw.get("agencies"), "agencies", path, department),
        default_department=department("default_department", str(default_dept)) if default_dept else None,
        statuses={k.lower(): Status(v) for k, v in statuses.items()},
        missing_location=missing,
        notes=str(raw.get("description", "")),
    )


def load_mapping(path: Path, matter_codes: Collection[str]) -> ImportMapping:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _fail(str(path), "(file)", f"cannot read the file ({exc.strerror})", f"无法读取文件（{exc.strerror}）") from exc
    except yaml.YAMLError as exc:
        raise _fail(str(path), "(file)", f"not valid YAML: {exc}", f"不是有效的 YAML：{exc}") from exc
    return parse_mapping(raw, str(path), matter_codes)
