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
from stores import new_db


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
    db = new_db(tmp_path, "t.db")
    runner = CliRunner()
    assert runner.invoke(main, ["init", "--db", db]).exit_code == 0
    for args in (["indicators", "--by", "department"], ["indicators", "--by", "district", "--all-columns"],
                 ["notify", "indicators", "--by", "channel"]):
        result = runner.invoke(main, [*args, "--db", db])
        assert result.exit_code == 0, result.output
        _fits(result.output.splitlines())


def test_csv_from_the_cli_is_the_apis(api: Any) -> None:
    """One spreadsheet, whichever way it is fetched: BOM, "中文 key" headers, names beside codes,
    and the cases no department holds yet labelled 未派遣 / not dispatched (never a bare row)."""
    api.report("acceptor")  # reported, not dispatched: no department
    db = str(api.platform.store.path)
    runner = CliRunner()
    for by, code, name in (("district", "420102", "江岸区"), ("department", "", "未派遣")):
        cli = runner.invoke(main, ["indicators", "--by", by, "--format", "csv", "--db", db]).output
        http = api.get("admin", f"/api/v1/indicators?by={by}&format=csv").text
        assert cli == http, by
        assert cli.startswith("\ufeff"), "UTF-8 BOM for Excel on Chinese Windows"
        head, *rows = cli.removeprefix("\ufeff").splitlines()
        assert head.startswith(f"{LABELS[by][0]} {by},") and f"{by}_name_en" in head
        assert any(row.startswith(f"{code},{name},") for row in rows), (by, rows)
    table = runner.invoke(main, ["indicators", "--by", "department", "--db", db]).output
    assert "未派遣 not dispatched" in table
    assert not [line for line in table.splitlines() if line.strip().startswith("—")], "no unlabelled row"
    body = api.get("admin", "/api/v1/indicators?by=department").json()
    assert {"department_name": "未派遣", "department_name_en": "not dispatched"}.items() <= next(
        r for r in body["rows"] if r["department"] is None).items()


def test_citizen_csv_headers_are_bilingual(tmp_path: Path) -> None:
    db = new_db(tmp_path, "n.db")
    runner = CliRunner()
    runner.invoke(main, ["init", "--db", db])
    out = runner.invoke(main, ["notify", "indicators", "--by", "district", "--format", "csv", "--db", db]).output
    head = out.removeprefix("\ufeff").splitlines()[0].split(",")
    assert out.startswith("\ufeff") and head[:3] == ["区 district", "区名称 district_name", "区英文名 district_name_en"]
    assert "满意率 satisfaction_rate" in head and all(" " in h for h in head), head


def test_apikey_list_shows_city_time(tmp_path: Path) -> None:
    db = new_db(tmp_path, "k.db")
    runner = CliRunner()
    runner.invoke(main, ["init", "--db", db])
    runner.invoke(main, ["apikey", "create", "app1", "--db", db])
    runner.invoke(main, ["apikey", "revoke", "app1", "--db", db])
    [line] = runner.invoke(main, ["apikey", "list", "--db", db]).output.splitlines()
    created, revoked = line.split("\t")[2:]
    assert created.endswith("+08:00") and revoked.endswith("+08:00"), line
