"""The legacy migrations: SQLite's schema as it grew before Alembic (0001-0021, frozen).

Only an old SQLite database still needs them: store/migrate.py runs what it lacks, then stamps
it with Alembic's baseline, whose schema is theirs. Nothing is added here any more.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from importlib import resources


def migrations() -> list[tuple[int, str]]:
    folder = resources.files("cityops.store.legacy")
    scripts = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(int(name.split("_", 1)[0]), (folder / name).read_text("utf-8")) for name in scripts]


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def applied_migrations(conn: sqlite3.Connection) -> set[int]:
    """The migrations this database has had, each recorded as it was applied. A database from
    before that record (only `user_version`, the highest applied) is taken to have had every
    migration up to its version."""
    try:
        done = {int(v) for (v,) in conn.execute("SELECT version FROM schema_migration")}
    except sqlite3.OperationalError:  # no record yet
        done = set()
    return done or {v for v, _ in migrations() if v <= schema_version(conn)}


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply every migration not yet applied, in order, each atomically with its record. By
    the record, not by the highest number: a migration merged after a higher-numbered one
    (two branches) still runs. `user_version` keeps the highest, for tools that read it."""
    applied = []
    for version, script in migrations():
        if version in applied_migrations(conn):
            continue  # read-only databases that are up to date get here without a write
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = applied_migrations(conn)  # again, under the lock: another process may have run it
            if version not in done:
                _record(conn, done)
                for statement in _statements(script):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migration (version, applied_at) VALUES (?, strftime('%s', 'now'))",
                             (version,))
                conn.execute(f"PRAGMA user_version = {max(version, schema_version(conn))}")
                applied.append(version)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return applied


def _record(conn: sqlite3.Connection, done: set[int]) -> None:
    """Create the record of applied migrations, seeded with what a database from before it had."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migration (version INTEGER PRIMARY KEY, applied_at INTEGER)")
    conn.executemany("INSERT OR IGNORE INTO schema_migration (version) VALUES (?)", [(v,) for v in done])


def _statements(script: str) -> Iterator[str]:
    buf = ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--") and not buf:
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            yield buf.strip()
            buf = ""
