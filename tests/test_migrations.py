"""One schema, one migration history: the SQLAlchemy tables, Alembic's revisions, and the legacy
SQLite migrations an old city's file still has to go through all describe the same database."""

from __future__ import annotations

import sqlite3
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from cityops.store import legacy
from stores import new_db


def scripts(monkeypatch: pytest.MonkeyPatch, *versions: int) -> None:
    monkeypatch.setattr(legacy, "migrations", lambda: [(v, f"CREATE TABLE t{v} (x);") for v in versions])


def tables(conn: sqlite3.Connection) -> set[str]:
    return {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 't%'")}


def test_a_legacy_migration_merged_after_a_higher_one_still_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    scripts(monkeypatch, 1, 3)
    assert legacy.migrate(conn) == [1, 3]
    scripts(monkeypatch, 1, 2, 3)  # 2 lands later, from another branch
    assert legacy.migrate(conn) == [2]
    assert legacy.migrate(conn) == []
    assert tables(conn) == {"t1", "t2", "t3"} and legacy.schema_version(conn) == 3


def test_a_database_from_before_the_legacy_record_keeps_its_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.execute("CREATE TABLE t1 (x)")
    conn.execute("CREATE TABLE t2 (x)")
    conn.execute("PRAGMA user_version = 2")  # what the runner left before it kept a record
    scripts(monkeypatch, 1, 2)
    assert legacy.migrate(conn) == []
    scripts(monkeypatch, 1, 2, 4)
    assert legacy.migrate(conn) == [4]
    assert {v for (v,) in conn.execute("SELECT version FROM schema_migration")} == {1, 2, 4}


def affinity(declared: str) -> str:
    """SQLite's column affinity (its rules, section 3.1 of its datatype page): what a type means there."""
    t = declared.upper()
    if "INT" in t:
        return "INTEGER"
    if any(w in t for w in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if not t or "BLOB" in t:
        return "BLOB"
    return "REAL" if any(w in t for w in ("REAL", "FLOA", "DOUB")) else "NUMERIC"


def shape(db: Path) -> dict[str, Any]:
    """Every table's columns (name, type, not null, key) and every index's columns."""
    conn = sqlite3.connect(db)
    out: dict[str, Any] = {}
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                                "AND name NOT IN ('schema_migration', 'alembic_version') AND name NOT LIKE 'sqlite_%'"):
        # A key column is NOT NULL in the new schema; SQLite's legacy keys let NULL in (its quirk).
        cols = [(r[1], affinity(r[2]), bool(r[3] or r[5]), r[5]) for r in conn.execute(f"PRAGMA table_info('{name}')")]
        idx = sorted(tuple(str(c[2]) for c in conn.execute(f"PRAGMA index_info('{i[1]}')"))
                     for i in conn.execute(f"PRAGMA index_list('{name}')"))
        out[name] = (cols, idx)
    return out


def test_an_old_sqlite_database_carries_on_with_the_same_schema(tmp_path: Path) -> None:
    """A file made by the legacy migrations is stamped and upgraded, and ends up exactly as a
    new database made by Alembic does."""
    from cityops.core import open_platform
    from cityops.store.migrate import head

    old = tmp_path / "old.db"
    conn = sqlite3.connect(old, isolation_level=None)
    legacy.migrate(conn)
    conn.execute("INSERT INTO settings (key, value) VALUES ('kept', 'yes')")
    conn.close()
    open_platform(old).close()
    open_platform(tmp_path / "new.db").close()
    check = sqlite3.connect(old)
    assert check.execute("SELECT version_num FROM alembic_version").fetchone()[0] == head()
    assert check.execute("SELECT value FROM settings WHERE key = 'kept'").fetchone()[0] == "yes"
    assert shape(old) == shape(tmp_path / "new.db")


def test_the_migrations_make_exactly_the_declared_tables(tmp_path: Path) -> None:
    """Alembic's head and the SQLAlchemy tables agree (a column added to a tables.py without a
    revision, or the other way round, fails here), on this run's store."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from cityops.core import open_platform
    from cityops.store.dialect import sqlalchemy_url
    from cityops.store.schema import hand_made, load

    db = new_db(tmp_path, "m.db")
    open_platform(db).close()
    engine = create_engine(sqlalchemy_url(db))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), load())
    engine.dispose()
    # The hand-made objects of the baseline (full-text index, views) are not SQLAlchemy tables.
    diff = [d for d in diff if not (d[0] in ("remove_table", "remove_index") and hand_made(d[1].name))
            and not (d[0] == "remove_column" and hand_made(d[3].name))]
    assert diff == []


def test_one_head_and_unique_revisions() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(resources.files("cityops.store") / "alembic"))
    script = ScriptDirectory.from_config(config)
    assert len(script.get_heads()) == 1, "two branches each added a revision: merge them (alembic merge)"
    numbers = [p.name.split("_", 1)[0] for p in (resources.files("cityops.store") / "alembic" / "versions").iterdir()
               if p.name.endswith(".py")]
    assert len(numbers) == len(set(numbers)), numbers


def test_every_revision_goes_down_to_an_empty_database_and_up_again(tmp_path: Path) -> None:
    """`alembic downgrade base` undoes every revision, the baseline's hand-made objects too, on
    this run's store; upgrading again gives a database the application opens and writes."""
    from cityops.core import open_platform
    from cityops.store.migrate import _alembic, head

    db = new_db(tmp_path, "down.db")
    open_platform(db).close()
    _alembic(db, "downgrade", "base")
    from stores import connect

    conn = connect(db)
    try:
        left = conn.execute("SELECT count(*) FROM alembic_version").fetchone()[0]
        if hasattr(conn, "raw"):
            tables = {r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'spatial_ref_sys'")}
        else:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    finally:
        conn.close()
    assert left == 0 and tables <= {"alembic_version", "sqlite_sequence"}, tables
    platform = open_platform(db)
    try:
        platform.store.write(lambda repo: repo.set_setting("back", "up"))
        with platform.store.read() as repo:
            assert repo.conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == head()
    finally:
        platform.close()
