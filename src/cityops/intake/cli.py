"""`cityops import` and `cityops routing report`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cityops.clitools import data_file
from cityops.clitools import db_option as _db
from cityops.intake.prepare import REASONS


@click.command("import")
@click.argument("path", type=data_file(path_type=Path))
@click.option("--mapping", "mapping_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML mapping file (see docs/import.md and examples/mappings/)")
@_db
@click.option("--dry-run", is_flag=True, help="validate and report, write nothing")
@click.option("--strict", is_flag=True, help="import nothing if any row would be skipped")
def import_cmd(path: Path, mapping_path: Path, db: str, dry_run: bool, strict: bool) -> None:
    """导入历史诉求记录 / Import legacy service-request records (CSV or Open311 JSON)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from cityops.core import open_platform, utcnow
    from cityops.intake.importer import import_file
    from cityops.intake.mapping import load_mapping

    console = Console(stderr=True)
    platform = open_platform(db)
    try:
        mapping = load_mapping(mapping_path, {e.code for e in platform.catalogue.matters()})
        with Progress(TextColumn("导入 / importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("import", total=None)
            result = import_file(
                platform, path, mapping, utcnow(), dry_run=dry_run, strict=strict,
                on_start=lambda n: bar.update(task, total=n),
                progress=lambda n: bar.advance(task, n),
            )
    finally:
        platform.close()
    verb = "would import / 将导入" if dry_run else "imported / 已导入"
    click.echo(f"{result.file}: read / 读取 {result.read}, {verb} {result.imported}, "
               f"skipped / 跳过 {result.skipped.height}")
    for r in result.summary().iter_rows(named=True):
        zh, en = REASONS.get(r["reason"], (r["reason"], r["reason"]))
        rows = ", ".join(str(n) for n in r["first_rows"])
        click.echo(f"  {r['count']:>6}  {zh} / {en} ({r['reason']}): rows {rows}{' …' if r['count'] > 5 else ''}")


@click.group()
def routing() -> None:
    """派遣规则 / Routing: compare the catalogue's routing with imported history."""


@routing.command("report")
@_db
@click.option("--source", default=None, help="only records imported from this mapping source (e.g. nyc311)")
@click.option("--suggest-override", "override", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write the learned routing as a catalogue override YAML")
@click.option("--min-support", default=5, show_default=True, help="cases a suggestion needs at least")
@click.option("--min-share", default=0.5, show_default=True, help="share of its matter's cases a suggestion needs")
@click.option("--top", default=10, show_default=True, help="disagreements to list")
def routing_report_cmd(db: str, source: str | None, override: Path | None, min_support: int,
                       min_share: float, top: int) -> None:
    """Agreement of default routing (matter → department type) with where cases really went."""
    from rich.console import Console
    from rich.table import Table

    from cityops.core import open_platform
    from cityops.intake.routing_report import defaults_frame, override_yaml, routing_report
    from cityops.store.sqlite import database_exists

    if not database_exists(db):
        raise click.ClickException(f"no database at {db}")
    platform = open_platform(db)
    try:
        with platform.store.read() as repo:
            imported = repo.imported_frame(source)
        report = routing_report(imported, defaults_frame(platform.catalogue.matters()),
                                min_support=min_support, min_share=min_share, top=top)
    finally:
        platform.close()
    if report.agreement is None:
        click.echo("no imported cases with a known department / 没有可比较的导入案卷", err=True)
        sys.exit(1)
    console = Console()
    console.print(f"一致率 / agreement: {report.agreement:.1%} ({report.agreeing} of {report.cases} cases; "
                  f"{report.unknown} without a known department)")
    table = Table(title="按事项 / per matter")
    for name in ("matter", "name", "default", "cases", "agree", "learned", "share"):
        table.add_column(name)
    for r in report.per_matter.iter_rows(named=True):
        table.add_row(r["matter_code"], r["name"] or "?", r["default_type"] or "?", str(r["cases"]),
                      f"{r['agreement']:.0%}", r["learned_type"], f"{r['learned_share']:.0%}")
    console.print(table)
    confusion = Table(title="最大分歧 / biggest disagreements")
    for name in ("matter", "name", "catalogue", "actual", "cases"):
        confusion.add_column(name)
    for r in report.confusion.iter_rows(named=True):
        confusion.add_row(r["matter_code"], r["name"] or "?", r["default_type"] or "?", r["actual_type"],
                          str(r["cases"]))
    console.print(confusion)
    if override is not None:
        override.write_text(override_yaml(report, source or "all imports"), encoding="utf-8")
        console.print(f"{report.suggestions.height} suggestions written to {override}")
