"""What every feature's commands share: the --db option and opening the platform it names."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

DB_HELP = "SQLite database file (created if missing). Default: $CITYOPS_DB or ./cityops.db"


def db_option(f: Any) -> Any:
    import click

    return click.option("--db", default=lambda: os.environ.get("CITYOPS_DB", "cityops.db"),
                        show_default="cityops.db", help=DB_HELP)(f)


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
