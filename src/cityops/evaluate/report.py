"""Render an indicator frame (from compute_indicators) as CSV, a rich table or JSON records.

CSV headers are "结案率 close_rate" (zh label, space, the column key) by default, so a
spreadsheet user reads Chinese and a script can split on the last space to get the key;
lang="en" gives the bare keys, lang="zh" the Chinese labels only. Rates and hours are
written as decimals with 4 places (0.9372, not 93.72 %); empty cells are nulls.

`spreadsheet_csv` is what a person gets, from the CLI and from the API alike: a UTF-8 byte
order mark (Excel on a Chinese-locale Windows reads GBK without it) and the district or
department names beside their codes; the cases no department holds yet are labelled
未派遣 / not dispatched rather than left blank.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, TextIO

import polars as pl
from rich.console import RenderableType

from cityops.clitable import Column, fit
from cityops.evaluate.indicators import HOUR_COLUMNS, LABELS, RATE_COLUMNS, TOTAL_KEY

Lang = Literal["zh+en", "zh", "en"]

_KEY_COLUMNS: Final = ("district", "department", "grid", "city")
_NULL: Final = "—"
BOM: Final = "\ufeff"
# The group of cases with no code for the key: not dispatched yet (department), and so on.
UNASSIGNED: Final[dict[str, tuple[str, str]]] = {
    "department": ("未派遣", "not dispatched"), "district": ("未定区", "no district"), "grid": ("无网格", "no grid"),
}
NAME_LABELS: Final[dict[str, tuple[str, str]]] = {
    "district_name": ("区名称", "district_name"), "district_name_en": ("区英文名", "district_name_en"),
    "department_name": ("部门名称", "department_name"), "department_name_en": ("部门英文名", "department_name_en"),
}


def header(column: str, lang: Lang = "zh+en") -> str:
    """Column heading in the chosen language; unknown columns keep their own name."""
    zh = (LABELS.get(column) or NAME_LABELS.get(column) or (column, column))[0]
    if lang == "en":
        return column
    if lang == "zh":
        return zh
    return f"{zh} {column}"


def to_csv(df: pl.DataFrame, out: TextIO, lang: Lang = "zh+en") -> None:
    """Write ``df`` as CSV to ``out``: headers per ``lang``, floats with 4 decimals."""
    renamed = df.rename({c: header(c, lang) for c in df.columns})
    out.write(renamed.write_csv(float_precision=4, null_value=""))


def with_names(df: pl.DataFrame, names: Mapping[str, tuple[str, str]]) -> pl.DataFrame:
    """`district_name` and `district_name_en` (or the department's) right after the code
    column; the city's total row reads 全市 / city, a missing code 未派遣 / not dispatched."""
    for key in ("district", "department"):
        if key not in df.columns:
            continue
        codes = df.get_column(key).to_list()
        pairs = [UNASSIGNED[key] if code is None or code == "" else ("全市", "city") if code == TOTAL_KEY
                 else names.get(str(code), (str(code), str(code))) for code in codes]
        at = df.columns.index(key) + 1
        df = df.insert_column(at, pl.Series(f"{key}_name", [p[0] for p in pairs], pl.Utf8))
        df = df.insert_column(at + 1, pl.Series(f"{key}_name_en", [p[1] for p in pairs], pl.Utf8))
    return df


def spreadsheet_csv(df: pl.DataFrame, names: Mapping[str, tuple[str, str]],
                    labels: Mapping[str, tuple[str, str]] = LABELS) -> str:
    """The CSV a person opens (CLI and API alike): BOM, "中文 key" headers (`labels`: the
    indicators' own, or the citizen indicators'), names beside district and department codes."""
    df = with_names(df, names)
    zh = {**NAME_LABELS, **labels}
    return BOM + df.rename({c: f"{zh[c][0]} {c}" if c in zh else c for c in df.columns}).write_csv(
        float_precision=4, null_value="")


def _cell(column: str, value: object) -> str:
    if value is None:
        if column in UNASSIGNED:
            return " ".join(UNASSIGNED[column])
        return _NULL
    if column in RATE_COLUMNS and isinstance(value, float):
        return f"{value * 100:.2f} %"
    if column in HOUR_COLUMNS and isinstance(value, float):
        return f"{value:.2f}"
    if column in _KEY_COLUMNS and value == TOTAL_KEY:
        return "全市 city"
    return str(value)


# The columns an operator reads first, one table within 100 columns; `to_table(...,
# columns=None)` shows them all (split into several tables that each fit).
SUMMARY: Final = (
    "accepted", "closed", "close_rate", "on_time_close_rate", "rework_rate",
    "overdue_pending", "avg_handle_hours",
)
# Table headings short enough for a 100-column terminal (Chinese first; CSV keeps LABELS).
SHORT: Final[dict[str, tuple[str, str]]] = {
    "disposed_on_time": ("按期处置数", "on time"),
    "overdue_pending": ("超期待处置数", "overdue"),
    "closed_on_time": ("按期结案数", "on time"),
    "on_time_close_rate": ("按期结案率", "on time"),
    "rework_rate": ("返工率", "rework"),
    "on_time_dispose_rate": ("按期处置率", "on time"),
    "overdue_pending_rate": ("超期待处置率", "overdue rate"),
    "dispose_rate": ("处置率", "dispose rate"),
    "avg_accept_hours": ("平均立案用时", "avg accept h"),
    "avg_handle_hours": ("平均处置用时", "avg handle h"),
}


def _column(column: str, numeric: bool) -> Column:
    zh, en = SHORT.get(column) or LABELS.get(column, (column, column))
    return Column(zh, en, numeric)


def to_table(
    df: pl.DataFrame,
    title: str | None = None,
    columns: tuple[str, ...] | None = SUMMARY,
    names: Mapping[str, str] | None = None,
) -> RenderableType:
    """Rich table(s) within 100 columns: zh over short en headings, rates as "93.72 %", hours
    with 2 decimals; split into several tables when the columns do not fit.

    `names` maps group keys (district or department codes) to display names.
    """
    keys = [c for c in df.columns if c in _KEY_COLUMNS]
    if columns is not None:
        df = df.select(*keys, *[c for c in columns if c in df.columns])
    if names:
        df = df.with_columns(
            pl.col(k).replace_strict(names, default=pl.col(k), return_dtype=pl.Utf8) for k in keys
        )
    values = [c for c in df.columns if c not in _KEY_COLUMNS]
    df = df.select(*keys, *values)
    # One iteration per group (a few dozen rows for display), not per case.
    rows = [[_cell(c, v) for c, v in zip(df.columns, row, strict=True)] for row in df.iter_rows()]
    return fit(title, [_column(k, False) for k in keys], [_column(v, True) for v in values], rows)


def to_records(df: pl.DataFrame) -> list[dict[str, object]]:
    """JSON-ready rows: English keys, rates as fractions 0..1, nulls as None."""
    return [dict(row) for row in df.to_dicts()]
