"""The citizen indicators as a terminal table (zh over en headings, rates as percentages)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
from rich.table import Table

from cityops.notify.indicators import HOUR_COLUMNS, LABELS, RATES, TOTAL_KEY

if TYPE_CHECKING:
    from cityops.core import Platform

_KEYS = ("district", "department", "matter", "channel", "city")


def _names(platform: Platform) -> dict[str, str]:
    names = {d.code: f"{d.name} {d.code}" for d in platform.city.districts}
    names.update({d.code: f"{d.name} {d.code}" for d in platform.city.departments})
    return names


def _cell(column: str, value: object, names: dict[str, str]) -> str:
    if value is None:
        return "—"
    if column in RATES and isinstance(value, float):
        return f"{value * 100:.2f} %"
    if column in HOUR_COLUMNS and isinstance(value, float):
        return f"{value:.2f}"
    if column in _KEYS:
        return "全市 city" if value == TOTAL_KEY else names.get(str(value), str(value))
    return str(value)


def citizen_table(frame: pl.DataFrame, platform: Platform, title: str) -> Table:
    names = _names(platform)
    table = Table(title=title)
    for column in frame.columns:
        zh, en = LABELS.get(column, (column, column))
        table.add_column(f"{zh}\n{en}", justify="left" if column in _KEYS else "right")
    for row in frame.iter_rows():  # one per group, a few dozen at most
        table.add_row(*(_cell(c, v, names) for c, v in zip(frame.columns, row, strict=True)))
    return table
