"""`cityops store …`: move a city's database between SQLite and PostgreSQL."""

from __future__ import annotations

import click

from cityops.clitools import db_exists


@click.group("store")
def store() -> None:
    """数据库 / The city's database: copy it between SQLite and PostgreSQL."""


@store.command("copy")
@click.option("--from", "source", required=True, help="the database to copy: a SQLite file or postgresql://…")
@click.option("--to", "target", required=True, help="where to: postgresql://user@host:5432/name (made if missing) or a new file")
@click.option("--replace", is_flag=True, help="replace what the target holds even if it is not a copy of this source")
def copy_cmd(source: str, target: str, replace: bool) -> None:
    """Copy a city's database whole, verified (row counts, every history chain); safe to re-run.

    Stop the servers on the source first: what they write during the copy is not in it."""
    from rich.progress import Progress

    from cityops.store.copy import copy_store
    from cityops.store.sqlite import SqliteStore

    if not db_exists(source):
        raise click.ClickException(f"no database at {source} / 源数据库不存在")
    src, dst = SqliteStore(source), SqliteStore(target)
    try:
        with Progress(transient=True) as bar:
            task = bar.add_task("copying / 复制中", total=None)
            report = copy_store(src, dst, lambda name, n: bar.update(task, advance=n, description=f"{name}"),
                                replace=replace)
    finally:
        src.close()
        dst.close()
    total = sum(report.rows.values())
    click.echo(f"copied {total} rows in {len(report.rows)} tables, {report.histories} case histories / "
               f"已复制 {len(report.rows)} 张表共 {total} 行，{report.histories} 条案卷历史链")
    if not report.ok:
        for problem in report.broken:
            click.echo(f"MISMATCH / 不一致: {problem}", err=True)
        raise SystemExit(1)
    click.echo("verified: row counts equal, every history chain intact / 校验通过：行数一致，历史链完整")
