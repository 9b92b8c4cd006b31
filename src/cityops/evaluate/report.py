"""Render an indicator frame (from compute_indicators) as CSV, a rich table or JSON records.

CSV headers are "结案率 close_rate" (zh label, space, the column key) by default, so a
spreadsheet user reads Chinese and a script can split on the last space to get the key;
lang="en" gives the bare keys, lang="zh" the Chinese labels only. Rates and hours are
written as decimals with 4 places (0.9372, not 93.72 %); empty cells are nulls.
"""

from __future__ import annotations

from collections.abc import Mapping
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


# The columns an operator reads first; `to_table(..., columns=None)` shows them all.
SUMMARY: Final = (
    "accepted", "registered", "dispatched", "due_to_close", "closed", "close_rate",
    "on_time_close_rate", "rework_rate", "overdue_pending", "avg_handle_hours",
)


def to_table(
    df: pl.DataFrame,
    title: str | None = None,
    columns: tuple[str, ...] | None = SUMMARY,
    names: Mapping[str, str] | None = None,
) -> Table:
    """A rich table: two-line zh/en headings, rates as "93.72 %", hours with 2 decimals.

    `names` maps group keys (district or department codes) to display names.
    """
    keys = [c for c in df.columns if c in _KEY_COLUMNS]
    if columns is not None:
        df = df.select(*keys, *[c for c in columns if c in df.columns])
    if names:
        df = df.with_columns(
            pl.col(k).replace_strict(names, default=pl.col(k), return_dtype=pl.Utf8) for k in keys
        )
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
