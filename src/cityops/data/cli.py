"""`cityops data …`: the catalogue (一本账), grants (授权运营), the access log, exchange."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cityops.clitools import db_option, open_db


@click.group("data")
def data() -> None:
    """数据资源 / The city's data: catalogue, authorised use, access log, exchange."""


@data.command("sample-sheet")
@click.option("--rows", type=click.IntRange(1, 1_000_000), default=100, show_default=True)
@click.option("--seed", default=7, show_default=True)
def sample_sheet(rows: int, seed: int) -> None:
    """示例目录表 / Print a synthetic catalogue sheet (CSV, Chinese headers) to import."""
    from cityops.data.sample import sheet

    sys.stdout.write(sheet(rows, seed))


@data.command("import")
@db_option
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--by", default="cli", show_default=True, help="who registers (kept as the entries' source)")
def import_cmd(db: str, csv_file: Path, by: str) -> None:
    """导入目录 / Register other departments' resources from a catalogue sheet (CSV)."""
    import time

    from cityops.data import service

    platform = open_db(db)
    try:
        start = time.perf_counter()
        stored = service.import_file(platform, csv_file, by)
        click.echo(f"导入 {stored} 条 / imported {stored} resources in {time.perf_counter() - start:.1f} s")
    finally:
        platform.close()


@data.command("describe")
@db_option
def describe(db: str) -> None:
    """自有资源编目 / Describe what cityops holds (cases, datastreams, warnings, …) in the catalogue."""
    from cityops.core import utcnow
    from cityops.data import service

    platform = open_db(db)
    try:
        stored = platform.store.write(lambda repo: service.sync_own(repo, platform, utcnow()))
        click.echo(f"自有数据资源 {stored} 项 / {stored} own resources described")
    finally:
        platform.close()


@data.command("search")
@db_option
@click.argument("words", nargs=-1, required=True)
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
def search(db: str, words: tuple[str, ...], limit: int) -> None:
    """检索目录 / Search the catalogue (Chinese full text)."""
    from cityops.data import catalogue

    platform = open_db(db)
    try:
        with platform.store.read() as repo:
            found, total = catalogue.search(repo.conn, catalogue.Query(" ".join(words), limit=limit))
    finally:
        platform.close()
    click.echo(f"共 {total} 条 / {total} found")
    for r in found:
        click.echo(f"{r.code}\t{r.name}\t{r.provider}\t{r.sharing}\t{r.openness}")


@data.command("dcat")
@db_option
@click.option("--format", "fmt", type=click.Choice(["ttl", "jsonld"]), default="ttl", show_default=True)
@click.option("--base", default="http://127.0.0.1:8000/", show_default=True, help="the server's address, for IRIs")
def dcat_cmd(db: str, fmt: str, base: str) -> None:
    """DCAT-AP 3 输出 / Print the catalogue as DCAT-AP 3 (what GET /dcat/catalog.ttl serves)."""
    from cityops.core import utcnow
    from cityops.data import catalogue, dcat, own, service

    platform = open_db(db)
    try:
        if not service.own_is_current(platform, utcnow()):
            platform.store.write(lambda repo: service.sync_own(repo, platform, utcnow()))
        with platform.store.read() as repo:
            resources = catalogue.all_resources(repo.conn)
        sys.stdout.buffer.write(dcat.serialise(dcat.graph(resources, base, platform.city.name, own.OWNER), fmt))
    finally:
        platform.close()
