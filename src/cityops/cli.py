"""The `cityops` command."""

from __future__ import annotations

import importlib
import sys
from datetime import datetime, timedelta
from typing import Any

import click

from cityops import __version__
from cityops.clitools import db_exists, db_option, new_db_option, write_db
from cityops.clitools import open_db as _platform
from cityops.errors import CityopsError


class LazyGroup(click.Group):
    """A group whose feature commands are imported only when named: `cityops token` need not
    load the classifier, the sensing stack and the image library before it can answer."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})  # command name -> "module:attribute"

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, attr = self.lazy[cmd_name].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return super().get_command(ctx, cmd_name)


class Main(LazyGroup):
    """Turns domain errors into one clear line and exit status 2, instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CityopsError as exc:
            click.echo(f"error: {exc.message_en} / {exc.message_zh}", err=True)
            sys.exit(2)
        except Exception as exc:
            # Configuration errors of modules this command loaded (none can come from the others).
            known = tuple(getattr(sys.modules[m], n) for m, n in _CONFIG_ERRORS if m in sys.modules)
            if not isinstance(exc, known):
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


_CONFIG_ERRORS = (("cityops.cases.calendar", "CalendarError"), ("cityops.catalog.errors", "CatalogueError"),
                  ("cityops.geo.errors", "CityPackError"))


# Feature packages keep their own commands (package by feature); named here, loaded on use.
FEATURE_COMMANDS = {
    "catalogue": "cityops.catalog.cli:catalogue",
    "city": "cityops.geo.cli:city",
    "import": "cityops.intake.cli:import_cmd",
    "routing": "cityops.intake.cli:routing",
    "apikey": "cityops.intake.open311.cli:apikey",
    "open311": "cityops.intake.open311.cli:open311",
    "notify": "cityops.notify.cli:notify",
    "warnings": "cityops.warning.cli:warnings",
    "sensing": "cityops.sensing.cli:sensing",
    "field": "cityops.field.cli:field",
    "intel": "cityops.intel.cli:intel",
    "eval": "cityops.intel.cli:eval_group",
    "security": "cityops.security.cli:security",
    "store": "cityops.store.cli:store",
    "data": "cityops.data.cli:data",
    "stream": "cityops.stream.cli:stream",
    "jobs": "cityops.jobs.cli:jobs",
}


@click.group(cls=Main, lazy=FEATURE_COMMANDS)
@click.version_option(__version__)
def main() -> None:
    """cityops — 城市运行一网统管: sense, identify, warn, dispatch, track, evaluate."""




@main.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--city", default=None, help="city pack folder (remembered in the database)")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="server processes sharing the port, each with its own write process")
def serve(db: str, host: str, port: int, city: str | None, workers: int) -> None:
    """启动服务 / Serve the HTTP API (docs at /docs, schema at /openapi.json). /healthz answers at
    once (alive); /readyz answers 200 once writes can succeed (docs/operations.md)."""
    from cityops.api.boot import serve as serve_fast

    click.echo(f"cityops {__version__}: database {db}, {workers} process(es); starting / 正在启动")
    click.echo(f"dashboard http://{host}:{port}/  API http://{host}:{port}/api/v1  docs http://{host}:{port}/docs")
    serve_fast(db, city, host, port, workers)


@main.command("write-process", hidden=True)
@db_option
@click.argument("fd", type=int)
def write_process(db: str, fd: int) -> None:
    """The server's write process (started by `cityops serve`, not by hand)."""
    from cityops.core import write_process_main

    write_process_main(db, fd)


@main.command()
@new_db_option
@click.option("--no-serve", is_flag=True, help="play the day, print the indicators and exit")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--reports", default=1500, show_default=True, help="reports from 08:00 of the last working day until now")
@click.option("--seed", default=20261127, show_default=True)
@click.option("--storm", is_flag=True, help="also play a rainstorm: warnings ahead of the water, gauge cases")
def demo(db: str, no_serve: bool, host: str, port: int, reports: int, seed: int, storm: bool) -> None:
    """演示 / Build the Wuhan demo city and play its day up to now (from 08:00 of the last working
    day) at accelerated speed; the database is demo.db unless --db says otherwise."""
    from cityops.sim.demo import run_demo

    run_demo(db, reports=reports, seed=seed, serve=not no_serve, host=host, port=port, storm=storm)


@main.command()
@new_db_option
@click.option("--city", default=None, help="city pack folder (default: the Wuhan demo pack); see docs/city-pack.md")
def init(db: str, city: str | None) -> None:
    """新建数据库 / Create a city's database (empty: no users, no cases); the only command besides
    `demo` that makes a new file."""
    existed = db_exists(db)
    if existed and city:
        raise click.UsageError(f"{db} already exists; init does not change its city (serve --city does) / "
                               f"{db} 已存在，init 不更改其城市包")
    platform = _platform(db, city)
    try:
        name = f"{platform.city.name} / {platform.city.name_en}"
    finally:
        platform.close()
    click.echo(f"{db}: {'already there' if existed else 'created'}, city {name} / "
               f"{'数据库已存在' if existed else '已新建数据库'}")
    if not existed:
        click.echo(f"next: .venv/bin/cityops user create admin --role admin --db {db}")


@main.group()
def user() -> None:
    """用户与角色 / Users and roles."""


@user.command("create")
@click.argument("name")
@click.option("--role", required=True, help="collector, acceptor, dispatcher, department, verifier, supervisor, admin, sensor")
@click.option("--department", default=None, help="department code (department operators only)")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@db_option
def user_create(name: str, role: str, department: str | None, password_stdin: bool, db: str) -> None:
    """Create a user."""
    from cityops.auth.service import new_user
    from cityops.core import utcnow

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    platform = _platform(db)
    try:
        known = {d.code for d in platform.city.departments}
        u = new_user(name, role, department, password, known)
        platform.store.write(lambda repo: repo.add_user(u, utcnow()))
    finally:
        platform.close()
    click.echo(f"created user {u.name} ({role}{', ' + department if department else ''})")


@user.command("list")
@db_option
def user_list(db: str) -> None:
    """List users."""
    platform = _platform(db)
    with platform.store.read() as repo:
        for u in repo.list_users():
            click.echo(f"{u.name}\t{u.role}\t{u.department or '-'}\t{'active' if u.active else 'disabled'}")
    platform.close()


def _user_write(db: str, op: Any, *args: Any) -> Any:
    return write_db(db, lambda repo: op(repo, *args))


@user.command("disable")
@click.argument("name")
@db_option
def user_disable(name: str, db: str) -> None:
    """停用 / Disable a user: every token of theirs stops working at once."""
    from cityops.auth.service import set_active

    gone = _user_write(db, set_active, name, False)
    click.echo(f"disabled {name}; revoked {gone} token(s) / 已停用，吊销令牌 {gone} 个")


@user.command("enable")
@click.argument("name")
@db_option
def user_enable(name: str, db: str) -> None:
    """启用 / Enable a disabled user again (they log in anew)."""
    from cityops.auth.service import set_active

    _user_write(db, set_active, name, True)
    click.echo(f"enabled {name} / 已启用")


@user.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@db_option
def user_passwd(name: str, password_stdin: bool, db: str) -> None:
    """重置密码 / Set a new password; every token of the user is revoked."""
    from cityops.auth.service import set_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("new password", hide_input=True, confirmation_prompt=True)
    gone = _user_write(db, set_password, name, password)
    click.echo(f"password of {name} changed; revoked {gone} token(s) / 密码已重置，吊销令牌 {gone} 个")


@user.command("remove")
@click.argument("name")
@db_option
def user_remove(name: str, db: str) -> None:
    """删除 / Remove a user and every token of theirs (history keeps their name)."""
    from cityops.auth.service import remove_user

    gone = _user_write(db, remove_user, name)
    click.echo(f"removed {name}; revoked {gone} token(s) / 已删除，吊销令牌 {gone} 个")


@main.command()
@click.argument("name")
@db_option
@click.option("--days", default=30, show_default=True, help="lifetime in days (0: never expires)")
@click.option("--revoke-all", is_flag=True, help="revoke every token of this user instead")
def token(name: str, db: str, days: int, revoke_all: bool) -> None:
    """令牌 / Print a new bearer token for a user (or revoke all of theirs)."""
    from cityops.auth.service import issue_token
    from cityops.core import utcnow

    platform = _platform(db)
    if revoke_all:
        from cityops.auth.service import normalize_name

        try:
            gone = platform.store.write(lambda repo: repo.revoke_tokens(user_name=normalize_name(name)))
        finally:
            platform.close()
        click.echo(f"revoked {gone} token(s) of {name}")
        return
    try:
        life = timedelta(days=days) if days > 0 else None
        click.echo(platform.store.write(lambda repo: issue_token(repo, name, utcnow(), life)))
    finally:
        platform.close()


@main.command()
@db_option
@click.option("--to", "target", required=True, type=click.Path(dir_okay=False), help="the backup file to write")
@click.option("--force", is_flag=True, help="replace the backup file if it exists")
def backup(db: str, target: str, force: bool) -> None:
    """备份 / A consistent copy of a SQLite database, taken while the server runs, verified
    (integrity, row counts, every case history) before it is kept. Restoring: docs/operations.md."""
    from cityops.store.backup import backup as take

    done = take(db, target, force)
    click.echo(f"backup {done.source} -> {done.target}: {done.tables} tables, {done.rows:,} rows, "
               f"{done.cases:,} case histories intact, {done.size:,} bytes, {done.seconds:.1f} s / 备份完成并已校验")


@main.group()
def history() -> None:
    """案卷历史 / Case history."""


@history.command("verify")
@db_option
def history_verify(db: str) -> None:
    """Exit 0 when every case history is intact; otherwise name each broken case."""
    from cityops.cases.service import verify_all

    if not db_exists(db):
        raise click.ClickException(f"no database at {db}")
    platform = _platform(db)
    with platform.store.read() as repo:
        problems = verify_all(repo)
        total = len(repo.history_heads())
    platform.close()
    if not problems:
        click.echo(f"ok: {total} case histories intact")
        return
    for p in problems:
        click.echo(f"case {p.case_id}: entry {p.seq}: {p.what}")
    broken = sorted({p.case_id for p in problems})
    click.echo(f"BROKEN: {len(broken)} of {total} cases: {', '.join(map(str, broken))}", err=True)
    sys.exit(1)


@main.command()
@db_option
@click.option("--by", type=click.Choice(["district", "department", "grid", "city"]), default="district", show_default=True)
@click.option("--from", "start", default=None, help="reported on or after this date (YYYY-MM-DD, city time)")
@click.option("--to", "end", default=None, help="reported before this date")
@click.option("--days", type=click.IntRange(1, 3660), default=None,
              help="reported in the last N days, today included (instead of --from/--to)")
@click.option("--format", "fmt", type=click.Choice(["table", "csv"]), default="table", show_default=True)
@click.option("--all-columns", is_flag=True, help="table: every indicator, not only the summary")
def indicators(db: str, by: str, start: str | None, end: str | None, days: int | None, fmt: str,
               all_columns: bool) -> None:
    """综合评价 / Indicators: 结案率, 按期结案率, 返工率, 处置率 …"""
    from cityops.core import utcnow
    from cityops.evaluate.report import SUMMARY, spreadsheet_csv, to_table
    from cityops.evaluate.service import code_names, group_names
    from cityops.evaluate.service import indicators as compute

    if days is not None and (start or end):
        raise click.UsageError("--days or --from/--to, not both / --days 与 --from/--to 只能选一种")
    platform = _platform(db)
    tz = platform.calendar.tz
    now = utcnow()
    if days is not None:
        today = now.astimezone(platform.calendar.zone).date()
        start = (today - timedelta(days=days - 1)).isoformat()
    with platform.store.read() as repo:
        frame = compute(repo, by, now, _date(start, tz), _date(end, tz), total=by != "city")  # type: ignore[arg-type]
    platform.close()
    if fmt == "csv":
        sys.stdout.write(spreadsheet_csv(frame, code_names(platform)))
    else:
        from cityops.sim.demo import console

        columns = None if all_columns else SUMMARY
        console().print(to_table(frame, title=f"综合评价 Indicators by {by}", columns=columns,
                                 names=group_names(platform)))


def _date(value: str | None, tz: Any) -> datetime | None:
    if value is None:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date like 2026-11-27") from None
    from zoneinfo import ZoneInfo

    return day.replace(tzinfo=ZoneInfo(tz) if isinstance(tz, str) else tz)


@main.group(cls=LazyGroup, lazy={"list": "cityops.cases.cli:cases_list", "show": "cityops.cases.cli:cases_show"})
def cases() -> None:
    """案卷 / Case operations."""


@cases.command("sweep")
@db_option
def cases_sweep(db: str) -> None:
    """Escalate (督办) every overdue case to the supervisor."""
    from cityops.cases.service import sweep_overdue
    from cityops.core import utcnow

    platform = _platform(db)
    try:
        ids = platform.store.write(lambda repo: sweep_overdue(repo, platform, utcnow()))
    finally:
        platform.close()
    click.echo(f"escalated {len(ids)} overdue cases")
