"""Render an indicator frame (from compute_indicators) as CSV, a rich table or JSON records.

CSV headers are "结案率 close_rate" (zh label, space, the column key) by default, so a
spreadsheet user reads Chinese and a script can split on the last space to get the key;
lang="en" gives the bare keys, lang="zh" the Chinese labels only. Rates and hours are
written as decimals with 4 places (0.9372, not 93.72 %); empty cells are nulls.
"""

from __future__ import annotations

from typing import Final, Literal, TextIO

import polars as pl
from rich.table import Table

from cityops.evaluate.indicators import HOUR_COLUMNS, LABELS, RATE_COLUMNS, TOTAL_KEY

Lang = Literal["zh+en", "zh", "en"]

_KEY_COLUMNS: Final = ("district", "department", "grid", "city")
_NULL: Final = "—"


def header(column: str, lang: Lang = "zh+en") -> str:
    """Column heading in the chosen language; unknown columns keep their own name."""
    zh = LABELS.get(column, (column, column))[0]
    if lang == "en":
        return column
    if lang == "zh":
        return zh
    return f"{zh} {column}"


def to_csv(df: pl.DataFrame, out: TextIO, lang: Lang = "zh+en") -> None:
    """Write ``df`` as CSV to ``out``: headers per ``lang``, floats with 4 decimals."""
    renamed = df.rename({c: header(c, lang) for c in df.columns})
    out.write(renamed.write_csv(float_precision=4, null_value=""))


def _cell(column: str, value: object) -> str:
    if value is None:
        return _NULL
    if column in RATE_COLUMNS and isinstance(value, float):
        return f"{value * 100:.2f} %"
    if column in HOUR_COLUMNS and isinstance(value, float):
        return f"{value:.2f}"
    if column in _KEY_COLUMNS and value == TOTAL_KEY:
        return "全市 city"
    return str(value)


def to_table(df: pl.DataFrame, title: str | None = None) -> Table:
    """A rich table: two-line zh/en headings, rates as "93.72 %", hours with 2 decimals."""
    table = Table(title=title)
    for column in df.columns:
        zh, en = LABELS.get(column, (column, column))
        numeric = column not in _KEY_COLUMNS
        table.add_column(f"{zh}\n{en}", justify="right" if numeric else "left")
    # One iteration per group (a few dozen rows for display), not per case.
    for row in df.iter_rows():
        table.add_row(*(_cell(c, v) for c, v in zip(df.columns, row, strict=True)))
    return table


def to_records(df: pl.DataFrame) -> list[dict[str, object]]:
    """JSON-ready rows: English keys, rates as fractions 0..1, nulls as None."""
    return [dict(row) for row in df.to_dicts()]
