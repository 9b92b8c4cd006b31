"""Which store the suite runs on: SQLite files (the default) or PostgreSQL on 127.0.0.1:5432.

`CITYOPS_TEST_STORE=postgresql python -m pytest` runs the same tests against PostgreSQL: every
database a test makes through `new_db` is then a fresh PostgreSQL database, copied from a
template migrated once per worker, and dropped at the end. Tests of what only SQLite has (its
file, its legacy migrations, its online backup) ask for `sqlite_only`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

STORE = os.environ.get("CITYOPS_TEST_STORE", "sqlite")
PG_SERVER = os.environ.get("CITYOPS_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
POSTGRES = STORE == "postgresql"
_made: list[str] = []
_template: str | None = None

sqlite_only = pytest.mark.skipif(POSTGRES, reason="about SQLite's own file; the PostgreSQL run has its own tests")


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def _template_db() -> str:
    """A database migrated once (per worker), that each test's database is copied from."""
    global _template
    if _template is None:
        name = f"cityops_tpl_{os.getpid()}"
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        from cityops.store.sqlite import SqliteStore

        SqliteStore(f"{PG_SERVER}/{name}").close()
        _template = name
        _made.append(name)
    return _template


def new_db(folder: Path, name: str = "test.db") -> str:
    """A new, empty database for a test: a file in `folder`, or a PostgreSQL database."""
    if not POSTGRES:
        return str(folder / name)
    db = f"cityops_t_{uuid.uuid4().hex[:12]}"
    _admin(f"CREATE DATABASE {db} TEMPLATE {_template_db()}")
    _made.append(db)
    return f"{PG_SERVER}/{db}"


@atexit.register
def _drop() -> None:
    for db in reversed(_made):
        with contextlib.suppress(Exception):  # the server may be gone at exit; nothing to keep
            _admin(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def connect(db: str | Path) -> Any:
    """A plain connection to a test's database, bypassing the application (sqlite3's or its
    PostgreSQL twin from store/dialect.py), autocommitting each statement."""
    from cityops.store.dialect import PgConnection, is_postgres

    if is_postgres(db):
        return PgConnection(str(db))
    import sqlite3

    return sqlite3.connect(db, isolation_level=None)


def drop_history_guards(conn: Any) -> None:
    """What someone with the database could do: remove the append-only triggers."""
    for trigger in ("case_history_no_update", "case_history_no_delete"):
        if hasattr(conn, "raw"):
            conn.execute("DROP TRIGGER IF EXISTS case_history_append_only ON case_history")
        else:
            conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")


def missing_db(folder: Path, name: str = "missing.db") -> str:
    """A database that does not exist: a file never made, or a PostgreSQL database never created."""
    if not POSTGRES:
        return str(folder / name)
    db = f"cityops_missing_{uuid.uuid4().hex[:12]}"
    _made.append(db)  # dropped at the end if a test made it after all
    return f"{PG_SERVER}/{db}"
