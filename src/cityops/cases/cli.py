"""`cityops cases list|show`: find and read cases from a terminal (fits 100 columns)."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click
import orjson

from cityops.cases import names
from cityops.clitools import db_option as _db_option
from cityops.clitools import open_db as _platform
from cityops.store.base import CaseQuery

WIDTH = 100


def _local(at: datetime | None, tz: Any) -> str:
    return at.astimezone(tz).strftime("%m-%d %H:%M") if at is not None else "-"


def _cut(text: str, width: int) -> str:
    """Cut to `width` terminal columns (a CJK character takes two)."""
    import unicodedata

    out, used = "", 0
    for ch in text.replace("\n", " "):
        w = 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        if used + w > width:
            return out[:-1] + "…" if out else ""
        out += ch
        used += w
    return out


@click.command("list")
@_db_option
@click.option("--status", default=None, help="comma list: code or name (reported, 处置中, closed …)")
@click.option("--district", default=None, help="district code or name (420103, 江汉区, Jianghan)")
@click.option("--matter", default=None, help="comma list of matter codes or names (06010, 暴露垃圾)")
@click.option("--department", default=None, help="department code or name (WH-WATER, 武汉市水务局)")
@click.option("--text", "-q", default=None, help="words in the description or address")
@click.option("--overdue", is_flag=True, help="only cases past their deadline now")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0, None))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def cases_list(db: str, status: str | None, district: str | None, matter: str | None,
               department: str | None, text: str | None, overdue: bool, limit: int, offset: int,
               fmt: str) -> None:
    """查询案卷 / List and search cases, newest first."""
    from cityops.core import utcnow

    platform = _platform(db)
    try:
        now = utcnow()
        query = CaseQuery(
            status=[names.status_code(s) for s in _split(status)] or None,
            matter_code=[names.matter_codes(platform, m) for m in _split(matter)] or None,
            district=names.district_code(platform, district) if district else None,
            department=names.department_code(platform, department) if department else None,
            text=text, overdue_at=now if overdue else None, limit=limit, offset=offset, order="-id",
        )
        with platform.store.read() as repo:
            found, total = repo.search_cases(query)
        if fmt == "json":
            from cityops.cases.views import case_json

            sys.stdout.write(orjson.dumps({"total": total, "cases": [case_json(c, now, platform) for c in found]},
                                          option=orjson.OPT_INDENT_2).decode() + "\n")
            return
        tz = platform.calendar.zone
        # id 7 | status 12 | matter 14 | district 8 | reported 11 | due 11 | description: the rest
        head = (f"{'id':>7}  {_pad('状态 status', 12)}  {_pad('事项 matter', 14)}  {_pad('区 district', 8)}  "
                f"{_pad('上报 at', 11)}  {_pad('时限 due', 11)}  描述 description")
        click.echo(_cut(head, WIDTH))
        for c in found:
            status_zh = names.status_names(c.status)[0] + ("!" if c.is_overdue(now) else "")
            row = (f"{c.id:>7}  {_pad(status_zh, 12)}  {_pad(names.matter_names(platform, c.matter_code)[0], 14)}  "
                   f"{_pad(names.district_names(platform, c.district)[0], 8)}  {_local(c.reported_at, tz):<11}  "
                   f"{_local(c.due_at, tz):<11}  ")
            click.echo(row + _cut(c.description, WIDTH - _width(row)))
        click.echo(f"{len(found)} of {total} cases (共 {total} 件); '!' = overdue 超期")
    finally:
        platform.close()


@click.command("show")
@click.argument("case_id", type=int)
@_db_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def cases_show(case_id: int, db: str, fmt: str) -> None:
    """查看案卷 / One case with its history."""
    from cityops.core import utcnow
    from cityops.errors import NotFound

    platform = _platform(db)
    try:
        with platform.store.read() as repo:
            case = repo.get_case(case_id)
            if case is None:
                raise NotFound(f"no case {case_id}", f"案卷 {case_id} 不存在")
            history = repo.history(case_id)
        now = utcnow()
        if fmt == "json":
            from cityops.cases.views import case_json

            out = case_json(case, now, platform)
            out["history"] = [{"seq": e.seq, "at": e.change.at, "actor": e.change.actor,
                               "action": e.change.action, "to": e.change.to_status,
                               "reason": e.change.reason, "data": e.change.data} for e in history]
            sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
            return
        tz = platform.calendar.zone
        n = names.case_names(platform, case)
        lines = [
            f"案卷 case {case.id}  {n['status_name']} / {n['status_name_en']}"
            + ("  超期 OVERDUE" if case.is_overdue(now) else ""),
            f"事项 matter   {case.matter_code} {n['matter_name']} / {n['matter_name_en']}",
            f"位置 place    {n['district_name']} ({case.district}), grid {case.grid}, {case.address or '-'}",
            f"单位 dept     {case.department or '-'} {n['department_name']}",
            f"上报 reported {_local(case.reported_at, tz)}   时限 due {_local(case.due_at, tz)}   "
            f"来源 source {case.source}",
            f"描述 text     {case.description}",
            "历史 history:",
        ]
        for line in lines:
            click.echo(_cut(line, WIDTH))
        for e in history:
            zh, en = names.action_names(e.change.action)
            line = f"  {e.seq:>3} {_local(e.change.at, tz)}  {zh}/{en}  {e.change.actor}  → {e.change.to_status}"
            passed = e.change.data.get("passed") if e.change.action == "verify" else None
            if isinstance(passed, bool):  # the result itself, not only the verifier's note
                line += "  通过 passed" if passed else "  未通过 failed"
            if e.change.reason:
                line += f"  {e.change.reason}"
            click.echo(_cut(line, WIDTH))
    finally:
        platform.close()


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    text = _cut(text, width)
    return text + " " * (width - _width(text))
