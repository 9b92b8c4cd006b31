"""The migration runner applies what a database has not had, by its record, not by the highest
number: a migration merged after a higher-numbered one (two branches) still runs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cityops.store import sqlite as store


def scripts(monkeypatch: pytest.MonkeyPatch, *versions: int) -> None:
    monkeypatch.setattr(store, "migrations", lambda: [(v, f"CREATE TABLE t{v} (x);") for v in versions])


def tables(conn: sqlite3.Connection) -> set[str]:
    return {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 't%'")}


def test_a_migration_merged_after_a_higher_one_still_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    scripts(monkeypatch, 1, 3)
    assert store.migrate(conn) == [1, 3]
    scripts(monkeypatch, 1, 2, 3)  # 2 lands later, from another branch
    assert store.migrate(conn) == [2]
    assert store.migrate(conn) == []
    assert tables(conn) == {"t1", "t2", "t3"} and store.schema_version(conn) == 3


def test_a_database_from_before_the_record_keeps_its_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.execute("CREATE TABLE t1 (x)")
    conn.execute("CREATE TABLE t2 (x)")
    conn.execute("PRAGMA user_version = 2")  # what the runner left before it kept a record
    scripts(monkeypatch, 1, 2)
    assert store.migrate(conn) == []
    scripts(monkeypatch, 1, 2, 4)
    assert store.migrate(conn) == [4]
    assert {v for (v,) in conn.execute("SELECT version FROM schema_migration")} == {1, 2, 4}


def test_the_real_migrations_are_all_recorded(tmp_path: Path) -> None:
    from cityops.core import open_platform

    platform = open_platform(tmp_path / "real.db")
    platform.close()
    conn = sqlite3.connect(tmp_path / "real.db")
    recorded = {v for (v,) in conn.execute("SELECT version FROM schema_migration")}
    assert recorded == {v for v, _ in store.migrations()}


def test_every_migration_has_its_own_number() -> None:
    """Two branches that each took the next free number must not both land: the runner keys on it."""
    from cityops.store.sqlite import migrations

    numbers = [n for n, _ in migrations()]
    assert len(numbers) == len(set(numbers)), numbers
