"""`cityops data …`: the catalogue (一本账), grants (授权运营), the access log, exchange."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

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


@data.group("user")
def user() -> None:
    """数据使用方账户 / Data-user accounts (companies, other cities)."""


@user.command("create")
@db_option
@click.argument("name")
@click.option("--org", "org_name", required=True, help="单位名称 organisation name")
@click.option("--org-code", default="", help="统一社会信用代码")
@click.option("--kind", type=click.Choice(["company", "city"]), default="company", show_default=True)
def user_create(db: str, name: str, org_name: str, org_code: str, kind: str) -> None:
    """开设账户 / Open a data-user account; prints its key (shown once)."""
    from cityops.core import utcnow
    from cityops.data import grants

    platform = open_db(db)
    try:
        key = platform.store.write(lambda repo: grants.create_user(repo.conn, name, org_name, org_code, kind,
                                                                   utcnow(), "cli"))
    finally:
        platform.close()
    click.echo(key)


@user.command("disable")
@db_option
@click.argument("name")
@click.option("--enable", is_flag=True, help="enable again instead")
def user_disable(db: str, name: str, enable: bool) -> None:
    """停用账户 / Disable a data user: every grant of theirs is refused at once (--enable undoes it)."""
    from cityops.core import utcnow
    from cityops.data import grants

    platform = open_db(db)
    try:
        platform.store.write(lambda repo: grants.set_user_active(repo.conn, name, enable, "cli", utcnow()))
    finally:
        platform.close()
    click.echo(f"{name}: {'已启用 / enabled' if enable else '已停用 / disabled'}")


@data.command("apply")
@db_option
@click.option("--key", required=True, help="the data user's key (cdu_…)")
@click.option("--product", required=True)
@click.option("--domain", required=True, help="health, finance, transport, education, governance")
@click.option("--purpose", required=True)
@click.option("--for", "user_product", required=True, help="the product or scenario the data is for")
def apply_cmd(db: str, key: str, product: str, domain: str, purpose: str, user_product: str) -> None:
    """申请数据产品 / Apply for a product as a data user; prints the application's id."""
    from cityops.core import utcnow
    from cityops.data import grants

    platform = open_db(db)
    try:
        app_id = platform.store.write(lambda repo: grants.apply(
            repo.conn, grants.user_for_key(repo.conn, key), product, domain, purpose, user_product, utcnow()))
    finally:
        platform.close()
    click.echo(app_id)


@data.command("grant")
@db_option
@click.argument("application", type=int)
@click.option("--fields", required=True, help="comma-separated fields that may leave")
@click.option("--districts", default="", help="comma-separated district codes (default: all)")
@click.option("--days", type=int, default=30, show_default=True)
@click.option("--mode", type=click.Choice(["rows", "inside"]), default="rows", show_default=True,
              help="rows: de-identified rows; inside: 可用不可见, aggregate queries only")
@click.option("--min-cell", type=int, default=10, show_default=True)
@click.option("--epsilon", type=float, default=None, help="differential privacy: ε per query")
@click.option("--budget", type=float, default=None, help="differential privacy: ε in all")
@click.option("--by", default="cli", show_default=True, help="the owner granting")
def grant_cmd(db: str, application: int, fields: str, districts: str, days: int, mode: str, min_cell: int,
              epsilon: float | None, budget: float | None, by: str) -> None:
    """批准授权 / Grant an application; prints the grant id and its credential (shown once)."""
    from cityops.core import utcnow
    from cityops.data import grants

    terms = grants.Terms(tuple(f for f in fields.split(",") if f), tuple(d for d in districts.split(",") if d),
                         None, None, days, mode, min_cell, epsilon, budget)
    platform = open_db(db)
    try:
        known = {d.code for d in platform.city.districts}
        grant_id, credential, expires = platform.store.write(
            lambda repo: grants.grant(repo.conn, application, terms, by, known, utcnow()))
    finally:
        platform.close()
    click.echo(f"{grant_id}\t{credential}\t{expires.isoformat()}")


@data.command("revoke")
@db_option
@click.argument("grant_id", type=int)
@click.option("--reason", default="", help="why (kept in the access log)")
@click.option("--by", default="cli", show_default=True)
def revoke_cmd(db: str, grant_id: int, reason: str, by: str) -> None:
    """撤销授权 / Revoke a grant: its credential is refused at once."""
    from cityops.core import utcnow
    from cityops.data import grants

    platform = open_db(db)
    try:
        platform.store.write(lambda repo: grants.revoke(repo.conn, grant_id, by, reason, utcnow()))
    finally:
        platform.close()
    click.echo(f"授权 {grant_id} 已撤销 / grant {grant_id} revoked")


@data.command("log")
@db_option
@click.option("--grant", "grant_id", type=int, default=None, help="only this grant's entries")
@click.option("--verify", is_flag=True, help="check the whole hash chain; exit 1 if broken")
@click.option("--limit", type=int, default=1000, show_default=True)
def log_cmd(db: str, grant_id: int | None, verify: bool, limit: int) -> None:
    """访问日志 / The access log; --verify checks its hash chain."""
    from cityops.data import accesslog

    platform = open_db(db)
    try:
        with platform.store.read() as repo:
            shown = accesslog.entries(repo.conn, grant_id, limit)
            problems = accesslog.check(repo.conn) if verify else []
    finally:
        platform.close()
    for e in shown:
        d = accesslog.entry_dict(e)
        extra = {k: v for k, v in d.items() if k not in ("seq", "at", "actor", "role", "action", "reason", "hash",
                                                          "prev_hash")}
        click.echo(f"{e.seq}\t{d['at']}\t{e.change.actor}\t{e.change.action}\t{e.change.reason}\t{extra}")
    if verify:
        if problems:
            for p in problems:
                click.echo(f"第 {p.seq} 条 / entry {p.seq}: {p.what}", err=True)
            sys.exit(1)
        click.echo("访问日志完整 / access log verified: the chain is intact")


@data.command("exchange-setup")
@db_option
@click.option("--cert", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="this city's certificate (PEM), from its own authority")
@click.option("--key", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--ca", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the authorities (PEM bundle) of the cities and province this one trusts")
def exchange_setup(db: str, cert: Path, key: Path, ca: Path) -> None:
    """交换证书 / Set this instance's exchange certificate, key and trusted authorities."""
    from cityops.data import exchange

    platform = open_db(db)
    try:
        platform.store.write(lambda repo: exchange.configure(repo, cert, key, ca))
    finally:
        platform.close()
    click.echo("交换证书已配置 / exchange identity set")


@data.command("exchange-gateway")
@db_option
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=8443, show_default=True, type=int)
def exchange_gateway(db: str, host: str, port: int) -> None:
    """交换网关 / Serve the API over mutual TLS: only clients with a certificate from a trusted
    authority get through (TLS handshake), then each message's signature is checked."""
    import ssl

    import uvicorn

    from cityops.api.app import create_app
    from cityops.data import exchange

    platform = open_db(db)
    try:
        with platform.store.read() as repo:
            cert, key, trusted = exchange.paths(repo)
            exchange.identity(repo)  # configured, or a clear error
        click.echo(f"exchange gateway https://{host}:{port} (mutual TLS, trusted: {trusted})")
        uvicorn.run(create_app(platform, sweep_every=None, write_process=True), host=host, port=port,
                    log_level="warning", ssl_certfile=cert, ssl_keyfile=key, ssl_ca_certs=trusted,
                    ssl_cert_reqs=ssl.CERT_REQUIRED)
    finally:
        platform.close()


@data.command("pull")
@db_option
@click.argument("url")
@click.option("--product", required=True)
@click.option("--credential", required=True, help="the grant's credential the other city gave this one")
@click.option("--group-by", default="", help="comma-separated: an aggregate query instead of rows")
@click.option("--limit", type=int, default=1000, show_default=True)
def pull_cmd(db: str, url: str, product: str, credential: str, group_by: str, limit: int) -> None:
    """拉取他市数据产品 / Pull a product from another city's exchange gateway (prints JSON)."""
    import orjson

    from cityops.core import utcnow
    from cityops.data import exchange

    platform = open_db(db)
    try:
        result = _reaching(url, lambda: exchange.pull(platform.store, url, product, credential, utcnow(), limit=limit,
                                                      group_by=[g for g in group_by.split(",") if g] or None))
    finally:
        platform.close()
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")


@data.command("peer-search")
@db_option
@click.argument("url")
@click.argument("words", nargs=-1)
@click.option("--rows", type=click.IntRange(0, 1000), default=20, show_default=True)
def peer_search(db: str, url: str, words: tuple[str, ...], rows: int) -> None:
    """检索他市目录 / Search another city's catalogue through its exchange gateway (mutual TLS)."""
    from cityops.data import exchange

    platform = open_db(db)
    try:
        found = _reaching(url, lambda: exchange.remote(platform.store, url, "GET", "/api/3/action/package_search",
                                                        params={"q": " ".join(words), "rows": rows}))
    finally:
        platform.close()
    result = found["result"]
    click.echo(f"共 {result['count']} 条 / {result['count']} found")
    for pkg in result["results"]:
        extras = {e["key"]: e["value"] for e in pkg.get("extras", [])}
        click.echo(f"{pkg['id']}\t{pkg['title']}\t{pkg['organization']['title']}\t{extras.get('sharing_type', '')}")


@data.command("peer-apply")
@db_option
@click.argument("url")
@click.option("--key", required=True, help="the data-user key the other city gave this one (cdu_…)")
@click.option("--product", required=True)
@click.option("--domain", required=True)
@click.option("--purpose", required=True)
@click.option("--for", "user_product", required=True)
def peer_apply(db: str, url: str, key: str, product: str, domain: str, purpose: str, user_product: str) -> None:
    """向他市申请数据产品 / Apply for another city's product through its gateway; prints the id."""
    from cityops.data import exchange

    body = {"product": product, "domain": domain, "purpose": purpose, "user_product": user_product}
    platform = open_db(db)
    try:
        made = _reaching(url, lambda: exchange.remote(platform.store, url, "POST", "/api/v1/data/market/applications",
                                                       key=key, json=body))
    finally:
        platform.close()
    click.echo(made["id"])


@data.command("report")
@db_option
@click.option("--to", "url", required=True, help="the province's exchange gateway, https://…")
@click.option("--day", default=None, help="YYYY-MM-DD, local (default: yesterday)")
def report_cmd(db: str, url: str, day: str | None) -> None:
    """向省级平台报送 / Send a day's cases, events and indicators upward (CJ/T 545-2021 mapping).
    Run daily from cron or a systemd timer; on demand any time."""
    from datetime import date, timedelta

    from cityops.core import utcnow
    from cityops.data import report

    try:
        given = date.fromisoformat(day) if day else None
    except ValueError:
        raise click.BadParameter(f"'{day}' is not a date YYYY-MM-DD", param_hint="--day") from None
    platform = open_db(db)
    try:
        when = given or utcnow().astimezone(platform.calendar.zone).date() - timedelta(1)
        sent = _reaching(url, lambda: report.send(platform.store, platform, url, when, utcnow()))
    finally:
        platform.close()
    click.echo(f"已报送 {when}：案件 {sent['cases']} 件，回执 {sent['received']}（{sent['peer']}）/ "
               f"report of {when} sent, receipt {sent['received']} from {sent['peer']}")


def _reaching(url: str, call: Any) -> Any:
    """`call()`, with a refused TLS handshake or an unreachable peer said in one line."""
    import ssl

    import httpx

    try:
        return call()
    except (httpx.HTTPError, ssl.SSLError, OSError) as exc:
        click.echo(f"error: cannot exchange with {url}: {exc} / 无法与对方交换（网络或证书不受信任）", err=True)
        sys.exit(2)
