"""The citizen indicators as a terminal table (zh over en headings, rates as percentages)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
from rich.console import RenderableType

from cityops.clitable import Column, fit
from cityops.notify.indicators import HOUR_COLUMNS, LABELS, RATES, TOTAL_KEY

if TYPE_CHECKING:
    from cityops.core import Platform

_KEYS = ("district", "department", "matter", "channel", "city")
# Table headings short enough for a 100-column terminal (Chinese first).
_SHORT = {
    "revisit_due": ("应回访数", "visits due"), "revisit_rate": ("回访率", "visit rate"),
    "satisfaction_rate": ("满意率", "satisfied"), "avg_response_hours": ("平均响应时长", "response h"),
}


def _names(platform: Platform) -> dict[str, str]:
    from cityops.cases.names import SOURCE_LABELS

    names = {code: f"{zh} {en}" for code, (zh, en) in SOURCE_LABELS.items()}  # channels, by name
    names.update({d.code: f"{d.name} {d.code}" for d in platform.city.districts})
    names.update({d.code: f"{d.name} {d.code}" for d in platform.city.departments})
    return names


def _cell(column: str, value: object, names: dict[str, str]) -> str:
    if value is None:
        from cityops.evaluate.report import UNASSIGNED

        return " ".join(UNASSIGNED[column]) if column in UNASSIGNED else "—"
    if column in RATES and isinstance(value, float):
        return f"{value * 100:.2f} %"
    if column in HOUR_COLUMNS and isinstance(value, float):
        return f"{value:.2f}"
    if column in _KEYS:
        return "全市 city" if value == TOTAL_KEY else names.get(str(value), str(value))
    return str(value)


def citizen_table(frame: pl.DataFrame, platform: Platform, title: str) -> RenderableType:
    """The table(s), each within 100 columns (split when the columns do not fit)."""
    names = _names(platform)
    keys = [c for c in frame.columns if c in _KEYS]
    values = [c for c in frame.columns if c not in _KEYS]
    frame = frame.select(*keys, *values)
    rows = [[_cell(c, v, names) for c, v in zip(frame.columns, row, strict=True)]
            for row in frame.iter_rows()]  # one per group, a few dozen at most

    def column(c: str, numeric: bool) -> Column:
        return Column(*(_SHORT.get(c) or LABELS.get(c, (c, c))), numeric=numeric)

    return fit(title, [column(k, False) for k in keys], [column(v, True) for v in values], rows)
