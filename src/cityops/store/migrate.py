"""Bring a database to the newest schema: one Alembic history for SQLite and PostgreSQL.

A database already at the head is recognised by one query, without loading SQLAlchemy or
Alembic (a server's start stays fast). A SQLite database made before Alembic (by the legacy
.sql migrations, store/legacy/) is first brought to the last of those and stamped as the
baseline revision, so an old city's file carries on. Two processes opening a new database at
once take turns: a lock file beside a SQLite database, an advisory lock in PostgreSQL.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import sqlite3
from collections.abc import Iterator
from importlib import resources
from typing import Any

from cityops.store.dialect import is_postgres, libpq_url, sqlalchemy_url

BASELINE = "0001"
_LOCK_KEY = 0x63697479  # "city": the advisory lock migrations hold in PostgreSQL


@functools.cache
def head() -> str:
    """The newest revision, read from the version files' names (NNNN_name.py)."""
    folder = resources.files("cityops.store") / "alembic" / "versions"
    return max(p.name.split("_", 1)[0] for p in folder.iterdir() if p.name[:4].isdigit())


def current(conn: Any) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        if not isinstance(conn, sqlite3.Connection):
            conn.rollback()
        return None
    return str(row[0]) if row else None


def upgrade(db: str, conn: Any) -> bool:
    """Migrate `db` (whose open connection is `conn`) to the head; True if anything ran."""
    if current(conn) == head():
        return False
    with _lock(db):
        if current(conn) == head():
            return False  # another process did it meanwhile
        if not is_postgres(db) and _legacy(conn):
            from cityops.store import legacy

            legacy.migrate(conn)
            _alembic(db, "stamp", BASELINE)
        _alembic(db, "upgrade", "head")
    return True


def _legacy(conn: sqlite3.Connection) -> bool:
    return bool(conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_migration'").fetchone())


def _alembic(db: str, verb: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, pool

    config = Config()
    config.set_main_option("script_location", str(resources.files("cityops.store") / "alembic"))
    if is_postgres(db):
        engine = create_engine(sqlalchemy_url(db), poolclass=pool.NullPool)
    else:
        engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(db, timeout=30), poolclass=pool.NullPool)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, verb)(config, revision)
    engine.dispose()


@contextlib.contextmanager
def _lock(db: str) -> Iterator[None]:
    if is_postgres(db):
        import psycopg

        with psycopg.connect(libpq_url(db), autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
            yield
        return  # closing the session frees the lock
    if db == ":memory:" or db.startswith("file:"):
        yield
        return
    try:
        fd = os.open(db + ".lock", os.O_CREAT | os.O_RDWR, 0o600)
    except OSError:  # a read-only folder: nobody else can migrate it either
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
