"""What every feature's commands share: the --db option and opening the platform it names."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Final, TypeVar

T = TypeVar("T")

DEFAULT_DB: Final = "demo.db"  # what `cityops demo` builds, so the README's commands all find it
DB_HELP = "SQLite database file; it must exist (`cityops demo` or `cityops init` make one). Default: $CITYOPS_DB or ./demo.db"
NEW_DB_HELP = "SQLite database file (created if missing). Default: $CITYOPS_DB or ./demo.db"


def default_db() -> str:
    return os.environ.get("CITYOPS_DB", DEFAULT_DB)


def missing_db_message(db: str) -> str:
    return (f"no database at {db} (a new empty one is not made by this command): build the demo city with "
            f"`cityops demo --db {db}`, start a new city with `cityops init --db {db}`, or name an existing file "
            f"with --db or $CITYOPS_DB / 数据库文件 {db} 不存在：请先运行 cityops demo 或 cityops init，或用 --db 指定已有的数据库")


def existing_db(ctx: Any, param: Any, value: str | None) -> str | None:
    """A click callback: commands that read or change a city refuse a database file that does
    not exist, instead of quietly creating an empty city (a user made there could never log in
    to the server that runs on the real one). Exit status 2, as for any bad option."""
    import click

    if value is not None and not db_exists(value):
        raise click.BadParameter(missing_db_message(value), ctx=ctx, param=param)
    return value


def db_exists(db: str) -> bool:
    from cityops.store.dialect import is_postgres

    if not is_postgres(db):  # a file: no need to import the store (0.4 s; `serve` answers /healthz sooner)
        return os.path.exists(db)
    from cityops.store.sqlite import database_exists

    return database_exists(db)


def db_option(f: Any) -> Any:
    """`--db`, which must name an existing database."""
    import click

    return click.option("--db", default=default_db, show_default=DEFAULT_DB, help=DB_HELP,
                        callback=existing_db)(f)


def new_db_option(f: Any) -> Any:
    """`--db` for the commands that may create the database (`demo`, `init`)."""
    import click

    return click.option("--db", default=default_db, show_default=DEFAULT_DB, help=NEW_DB_HELP)(f)


def open_db(db: str, city: str | None = None) -> Any:
    """The platform over `db` (imported late: `cityops --help` stays fast)."""
    from cityops.core import open_platform

    return open_platform(db, city=city)


def read_db(db: str, fn: Callable[[Any], T]) -> T:
    """`fn(repo)` in one read transaction over `db`; the platform is closed after."""
    platform = open_db(db)
    try:
        with platform.store.read() as repo:
            return fn(repo)
    finally:
        platform.close()


def write_db(db: str, fn: Callable[[Any], T]) -> T:
    """`fn(repo)` in one durable write transaction over `db`; the platform is closed after."""
    platform = open_db(db)
    try:
        return platform.store.write(fn)  # type: ignore[no-any-return]
    finally:
        platform.close()


def setting_command(group: Any, check: Callable[[str, str], str], doc: str, keys: list[str] | None = None) -> Any:
    """`<group> set KEY VALUE --db …`: one city setting, checked by the feature's `check`
    (which answers the setting's full name or raises), written durably and echoed back."""
    import click

    def set_cmd(key: str, value: str, db: str) -> None:
        full = check(key, value)
        write_db(db, lambda repo: repo.set_setting(full, value))
        click.echo(f"{full} = {value}")

    set_cmd.__doc__ = doc
    key_arg = click.argument("key", type=click.Choice(keys) if keys else click.STRING)
    return group.command("set")(key_arg(click.argument("value")(db_option(set_cmd))))


DATA_HINT = ("the README's examples read real records the repository does not carry, from ../shared/data "
             "beside the clone (development machines); the README's \"Data the repository does not carry\" "
             "says where each comes from / 示例数据不随仓库分发，来源见 README")


def data_file(**kwargs: Any) -> Any:
    """A click.Path for a data file the user brings: a missing one is named, with where such
    data comes from (a bare "does not exist" left new users with nowhere to go)."""
    import click

    class DataFile(click.Path):
        def convert(self, value: Any, param: Any, ctx: Any) -> Any:
            if isinstance(value, str | os.PathLike) and not os.path.exists(value):
                self.fail(f"no file at {os.fspath(value)}: {DATA_HINT}", param, ctx)
            return super().convert(value, param, ctx)

    return DataFile(exists=True, dir_okay=False, **kwargs)
