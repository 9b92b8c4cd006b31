"""Every CLI table fits a 100-column terminal (display cells: a CJK character is two), with
Chinese headings first and no cell cut to '…'; what does not fit is split, never cut."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import polars as pl
from click.testing import CliRunner
from rich.cells import cell_len
from rich.console import Console, RenderableType

from cityops.cli import main
from cityops.evaluate.indicators import LABELS, TOTAL_KEY
from cityops.evaluate.report import SHORT, SUMMARY, to_table
from cityops.evaluate.service import group_names
from cityops.notify.indicators import CITIZEN_COLUMNS
from cityops.notify.indicators import LABELS as CITIZEN_LABELS
from cityops.notify.report import citizen_table


def _render(table: RenderableType) -> list[str]:
    out = Console(width=100, record=True, file=io.StringIO(), color_system=None)
    out.print(table)
    return out.export_text().splitlines()


def _fits(lines: list[str]) -> None:
    assert lines
    widest = max(lines, key=cell_len)
    assert cell_len(widest) <= 100, widest
    assert not any("…" in line for line in lines), "no cell is cut"


def _worst(keys: list[str | None], columns: list[str], by: str, count: int = 123456,
           hours: float = 1234.56) -> pl.DataFrame:
    """Wide values: long names, six-digit counts, 100.00 %, 4-digit hours."""
    data: dict[str, list[Any]] = {by: keys}
    for c in columns:
        if "rate" in c:
            data[c] = [1.0] * len(keys)
        elif "hours" in c:
            data[c] = [hours] * len(keys)
        else:
            data[c] = [count] * len(keys)
    return pl.DataFrame(data)


def test_indicator_tables_fit_100_columns(platform: Any) -> None:
    names = group_names(platform)
    values = [c for c in LABELS if c not in ("district", "department", "grid", "city")]
    for by, codes in (("district", [d.code for d in platform.city.districts]),
                      ("department", [d.code for d in platform.city.departments])):
        frame = _worst([*codes, None, TOTAL_KEY], values, by)
        default = _render(to_table(frame, title=f"综合评价 Indicators by {by}", names=names))
        _fits(default)
        text = "\n".join(default)
        for column in SUMMARY:  # every default column is shown, Chinese heading first
            assert (SHORT.get(column) or LABELS[column])[0] in text, column
        assert "结案率" in text and "全市 city" in text and "100.00 %" in text
        # A month of a big city (five-digit counts) by district: one table, not split.
        month = _worst([*codes, TOTAL_KEY], values, by, count=99999, hours=999.99)
        one = _render(to_table(month, title="综合评价", names=names))
        _fits(one)
        assert by == "department" or "(1/" not in "\n".join(one), "the default district table is one table"
        every = _render(to_table(frame, title="综合评价", columns=None, names=names))
        _fits(every)
        assert "超期待处置率" in "\n".join(every) and "平均立案用时" in "\n".join(every)


def test_citizen_table_fits_100_columns(platform: Any) -> None:
    values = [c for c in CITIZEN_COLUMNS if c in CITIZEN_LABELS]
    frame = _worst(["hotline_12345", "citizen_app", TOTAL_KEY], values, "channel")
    lines = _render(citizen_table(frame, platform, "市民评价 Citizen indicators by channel"))
    _fits(lines)
    assert "满意率" in "\n".join(lines) and "重办率" in "\n".join(lines)


def test_cli_indicator_tables_fit(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    runner = CliRunner()
    for args in (["indicators", "--by", "department"], ["indicators", "--by", "district", "--all-columns"],
                 ["notify", "indicators", "--by", "channel"]):
        result = runner.invoke(main, [*args, "--db", db])
        assert result.exit_code == 0, result.output
        _fits(result.output.splitlines())
