"""Bulk registration of other departments' resources from a catalogue sheet (CSV).

Tens of thousands of rows: read and checked as columns (Polars), stored with one executemany;
no Python object per row. A bad row stops the whole import (nothing stored) and the error
names the row as a spreadsheet shows it (the header is row 1).
"""

from __future__ import annotations

import io
import sqlite3
from datetime import datetime
from pathlib import Path

import orjson
import polars as pl

from cityops.data import catalogue
from cityops.data.models import (
    COLUMNS,
    CYCLES,
    ITEM_TYPES,
    OPENNESS,
    REQUIRED,
    SHARING,
    parse_items,
)
from cityops.errors import InvalidInput

_DEFAULTS = {"description": "", "provider_code": "", "classification": "", "theme": "", "items": "",
             "sharing_condition": "", "openness_condition": "", "update_cycle": "不定期", "format": "CSV",
             "keywords": ""}
_BY_ZH = {zh: en for en, zh in COLUMNS.items()}


def read_sheet(source: str | Path | bytes) -> pl.DataFrame:
    """The sheet as text columns named in English (Chinese headers accepted)."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        frame = pl.read_csv(io.BytesIO(data), infer_schema=False, encoding="utf8-lossy")
    except (pl.exceptions.PolarsError, ValueError) as exc:
        raise InvalidInput(f"cannot read the CSV: {exc}", "无法读取 CSV 文件") from None
    frame = frame.rename({c: _BY_ZH.get(c.strip().lstrip("\ufeff"), c.strip().lstrip("\ufeff"))
                          for c in frame.columns})
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InvalidInput(f"the sheet lacks column(s): {', '.join(missing)}",
                           f"表格缺少列：{'、'.join(COLUMNS[c] for c in missing)}")
    extra = {c: pl.lit(v) for c, v in _DEFAULTS.items() if c not in frame.columns}
    frame = frame.with_columns(**extra) if extra else frame
    return frame.select([pl.col(c).fill_null(_DEFAULTS.get(c, "")).str.strip_chars() for c in COLUMNS])


def validate(frame: pl.DataFrame) -> None:
    """Raise for the first row whose controlled values are not allowed (checked as columns)."""
    checks = [
        *((c, pl.col(c) == "", f"{c} is required", f"缺少{COLUMNS[c]}") for c in REQUIRED),
        ("sharing", ~pl.col("sharing").is_in(SHARING), "sharing must be one of " + ", ".join(SHARING),
         "共享类型应为：" + "、".join(SHARING)),
        ("openness", ~pl.col("openness").is_in(OPENNESS), "openness must be one of " + ", ".join(OPENNESS),
         "开放属性应为：" + "、".join(OPENNESS)),
        ("update_cycle", ~pl.col("update_cycle").is_in(CYCLES), "update_cycle must be one of " + ", ".join(CYCLES),
         "更新周期应为：" + "、".join(CYCLES)),
        ("sharing_condition", (pl.col("sharing") == "有条件共享") & (pl.col("sharing_condition") == ""),
         "有条件共享 needs a sharing_condition", "有条件共享须写明共享条件"),
        ("published", pl.col("published").str.to_date("%Y-%m-%d", strict=False).is_null(),
         "published must be a date YYYY-MM-DD", "发布日期应为 YYYY-MM-DD"),
    ]
    for column, bad, en, zh in checks:
        hit = frame.select(bad.arg_true().first()).item() if len(frame) else None
        if hit is not None:
            row, shown = int(hit) + 2, frame[column][int(hit)]
            raise InvalidInput(f"row {row}: {en} (found '{shown}')", f"第 {row} 行：{zh}（实为“{shown}”）")
    dupes = frame.filter(pl.col("code").is_duplicated())
    if len(dupes):
        code = dupes["code"][0]
        raise InvalidInput(f"resource code '{code}' appears more than once in the sheet",
                           f"资源代码“{code}”在表中重复")


def _items_json(cells: pl.Series) -> list[str]:
    """Item cells ("名称:C;数量:N") as stored JSON; unknown item types refused."""
    out = []
    for n, cell in enumerate(cells.to_list()):
        items = parse_items(cell or "")
        bad = next((i.type for i in items if i.type not in ITEM_TYPES), None)
        if bad is not None:
            raise InvalidInput(f"row {n + 2}: item type '{bad}' is not one of {', '.join(ITEM_TYPES)}",
                               f"第 {n + 2} 行：信息项类型“{bad}”应为：{'、'.join(ITEM_TYPES)}")
        out.append(orjson.dumps([{"name": i.name, "type": i.type, "description": ""} for i in items]).decode())
    return out


def rows(frame: pl.DataFrame, at: datetime, source: str) -> list[tuple[object, ...]]:
    """The checked sheet as rows in the store's column order."""
    validate(frame)
    stamp = catalogue.to_us(at)
    frame = frame.with_columns(pl.Series("items", _items_json(frame["items"])),
                               pl.lit(stamp).alias("modified"), pl.lit(source).alias("source"))
    return frame.select(catalogue.COLS).rows()


def import_sheet(conn: sqlite3.Connection, source: str | Path | bytes, at: datetime, registered_by: str) -> int:
    """Register every row of the sheet (in the caller's transaction); how many were stored."""
    return catalogue.upsert_rows(conn, rows(read_sheet(source), at, registered_by))
