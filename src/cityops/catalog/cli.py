"""`cityops catalogue ...`: export the directory, show one code, search by words."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from cityops.catalog.errors import CatalogueError
from cityops.catalog.export import CSV_COLUMNS, entry_row, export_csv, export_json
from cityops.catalog.models import DEPARTMENT_TYPES, Entry
from cityops.catalog.service import Catalogue, load_catalogue
from cityops.catalog.timelimits import format_time_limit

_OVERRIDE = click.option(
    "--override",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="城市覆盖文件 / a city's override YAML merged over the defaults.",
)


def _load(override: Path | None) -> Catalogue:
    try:
        return load_catalogue(override)
    except CatalogueError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group("catalogue")
def catalogue() -> None:
    """管理部件和事项目录 / the component and matter catalogue (GB/T 47678.5-2026)."""


@catalogue.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "table"]),
    default="csv",
    show_default=True,
    help="输出格式 / output format.",
)
@_OVERRIDE
def export_cmd(fmt: str, override: Path | None) -> None:
    """导出全部部件和事项 / print every component and matter to stdout."""
    cat = _load(override)
    if fmt == "csv":
        export_csv(cat, sys.stdout)
    elif fmt == "json":
        export_json(cat, sys.stdout)
    else:
        table = Table(*CSV_COLUMNS[:-1], "verify", title="GB/T 47678.5-2026")
        for entry in (*cat.components(), *cat.matters()):
            table.add_row(*entry_row(entry).values())
        Console().print(table)


def _describe(entry: Entry, cat: Catalogue) -> str:
    zh, en = DEPARTMENT_TYPES.get(entry.department, ("", ""))
    kind = "管理部件 / component" if entry.kind == "component" else "管理事项 / matter"
    lines = [
        f"{entry.code}  {entry.name} / {entry.name_en}",
        f"  类型 kind:        {kind}",
        f"  大类 major:       {entry.major_code} {entry.major_name}",
        f"  部门 department:  {entry.department} ({zh} / {en})",
    ]
    for area, limit in entry.time_limits.items():
        lines.append(f"  时限 limit {area}:    {format_time_limit(limit)}")
    if entry.kind == "matter":
        lines.append(f"  现场核查 verify:  {'是 yes' if entry.verify_on_site else '否 no'}")
        component = cat.component_of(entry.code)
        if component is not None:
            lines.append(f"  部件 component:   {component.code} {component.name}")
    if entry.keywords:
        lines.append(f"  关键词 keywords:  {' '.join(entry.keywords)}")
    return "\n".join(lines)


@catalogue.command("show")
@click.argument("code")
@click.option(
    "--kind",
    type=click.Choice(["component", "matter"]),
    default=None,
    help="部件或事项（同一代码两者都可能有）/ components and matters share codes.",
)
@_OVERRIDE
def show_cmd(code: str, kind: str | None, override: Path | None) -> None:
    """显示一个代码 / show the component and/or matter with this code."""
    cat = _load(override)
    found = [
        e
        for e in (cat.find("matter", code), cat.find("component", code))
        if e is not None and (kind is None or e.kind == kind)
    ]
    if not found:
        raise click.ClickException(f"未知的代码 '{code}' / unknown code '{code}'")
    click.echo("\n\n".join(_describe(e, cat) for e in found))


@catalogue.command("search")
@click.argument("text")
@click.option("--limit", type=int, default=10, show_default=True)
@_OVERRIDE
def search_cmd(text: str, limit: int, override: Path | None) -> None:
    """按名称或关键词查找 / find entries by name or keyword."""
    cat = _load(override)
    for entry in cat.search(text, limit=limit):
        click.echo(f"{entry.kind:<9} {entry.code}  {entry.name} / {entry.name_en}")
