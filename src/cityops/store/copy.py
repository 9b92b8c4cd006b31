"""Move a city's database whole: SQLite → PostgreSQL (or back), verified, safe to re-run.

Every table of the schema is copied in key order inside ONE transaction on the target, so a
copy that dies half-way leaves nothing behind and a re-run starts clean. A target that already
holds a city is refused, unless it is an earlier copy of the same source (then it is replaced).
Afterwards the row counts of every table, and every case's history chain, are checked on the
target; ids carry on above the highest the source ever gave (SQLite's AUTOINCREMENT record
included), so no id is given twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cityops.errors import CityopsError
from cityops.store.dialect import copy_rows

CHUNK = 5_000
MARK = "store.copied_from"
# Hand-made by the baseline migration, not SQLAlchemy tables: copied by their columns.
EXTRA_TABLES = {"data_resource_fts": ("rowid", "terms")}


class CopyRefused(CityopsError):
    status = 409
    code = "copy_refused"


@dataclass
class CopyReport:
    rows: dict[str, int] = field(default_factory=dict)
    histories: int = 0
    broken: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.broken


def tables() -> list[tuple[str, tuple[str, ...]]]:
    from cityops.store.schema import load

    ordered = [(t.name, tuple(c.name for c in t.columns)) for t in load().sorted_tables]
    return ordered + list(EXTRA_TABLES.items())


def copy_store(source: Any, target: Any, progress: Callable[[str, int], None] | None = None,
               replace: bool = False) -> CopyReport:
    """Copy every row of `source` (a store) into `target` (a store, migrated), then verify."""
    src = source.connect(read_only=True)
    dst = target.connect()
    try:
        if not replace:
            _refuse_foreign(dst, source.path)
        src.execute("BEGIN")  # one snapshot of the source
        dst.execute("BEGIN")
        if target.dialect.postgres:  # an earlier copy of the same source goes, all of it or nothing
            dst.execute(f"TRUNCATE {', '.join(name for name, _ in tables())}")
        elif _holds_cases(dst):
            raise CopyRefused("a SQLite target must be a new, empty database", "SQLite 目标库须为新建的空库")
        report = CopyReport()
        for name, cols in tables():
            report.rows[name] = copy_rows(dst, name, cols, _chunks(src, name, cols, progress))
        _carry_on_ids(src, dst, source.dialect.postgres, target.dialect.postgres)
        # The catalogue's search terms are made again in the target's own form (an older
        # database's terms search on SQLite but miss words with punctuation on PostgreSQL).
        from cityops.data.catalogue import reindex

        reindex(dst)
        dst.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (MARK, str(source.path)))
        dst.execute("COMMIT")
        src.execute("COMMIT")
    except BaseException:
        if dst.in_transaction:
            dst.execute("ROLLBACK")
        raise
    finally:
        src.close()
        dst.close()
    return verify_copy(source, target, report)


def verify_copy(source: Any, target: Any, report: CopyReport) -> CopyReport:
    """Row counts of every table equal on both sides; every history chain intact on the target."""
    from cityops.cases.service import verify_all

    with source.read() as a, target.read() as b:
        for name, _ in tables():
            n_src = a.conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
            n_dst = b.conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
            if name == "settings":  # the copy's own mark of where it came from
                n_dst -= b.conn.execute("SELECT count(*) FROM settings WHERE key = ?", (MARK,)).fetchone()[0]
            if n_src != n_dst or (name in report.rows and report.rows[name] != n_src):
                report.broken.append(f"{name}: {n_src} rows in the source, {n_dst} in the copy")
        report.broken += [f"history of case {p}" for p in verify_all(b)]
        heads_src, heads_dst = a.history_heads(), b.history_heads()
        if heads_src != heads_dst:
            report.broken.append("case history heads differ between source and copy")
        report.histories = len(heads_dst)
    return report


def _chunks(conn: Any, name: str, cols: tuple[str, ...], progress: Callable[[str, int], None] | None) -> Iterator[Any]:
    order = "rowid" if name in EXTRA_TABLES else ", ".join(_key(name))
    cur = conn.execute(f"SELECT {', '.join(cols)} FROM {name} ORDER BY {order}")
    while True:
        rows = cur.fetchmany(CHUNK)
        if not rows:
            return
        if progress is not None:
            progress(name, len(rows))
        yield from rows


def _key(name: str) -> list[str]:
    from cityops.store.schema import load

    return [c.name for c in load().tables[name].primary_key.columns]


def _refuse_foreign(dst: Any, source: str) -> None:
    cases = dst.execute("SELECT count(*) FROM cases").fetchone()[0]
    mark = dst.execute("SELECT value FROM settings WHERE key = ?", (MARK,)).fetchone()
    if cases and (mark is None or mark[0] != source):
        raise CopyRefused(
            f"the target already holds a city ({cases} cases) that is not a copy of {source}; copy into a new database",
            f"目标库已有 {cases} 件案卷，且不是 {source} 的副本：请复制到新建的数据库")


def _holds_cases(conn: Any) -> bool:
    return bool(conn.execute("SELECT count(*) FROM cases").fetchone()[0])


def _carry_on_ids(src: Any, dst: Any, from_pg: bool, to_pg: bool) -> None:
    """The next id of every table with its own id is above the highest the source ever gave."""
    from cityops.store.dialect import serial_key

    used: dict[str, int] = {}
    if not from_pg:
        used = dict(src.execute("SELECT name, seq FROM sqlite_sequence").fetchall()) if _has_sequence(src) else {}
    for name, _ in tables():
        key = serial_key(name) if name not in EXTRA_TABLES else None
        if key is None:
            continue
        source_seq = _pg_seq(src, name, key) if from_pg else None
        if source_seq:
            used[name] = int(src.execute(f"SELECT last_value FROM {source_seq}").fetchone()[0])
        top = dst.execute(f"SELECT coalesce(max({key}), 0) FROM {name}").fetchone()[0]
        high = max(int(top), int(used.get(name, 0)))
        if to_pg and high:
            seq_name = _pg_seq(dst, name, key)
            if seq_name:
                dst.execute(f"SELECT setval('{seq_name}', ?)", (high,))
        elif not to_pg and high and _has_sequence(dst):
            dst.execute("DELETE FROM sqlite_sequence WHERE name = ?", (name,))
            dst.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (name, high))


def _pg_seq(conn: Any, name: str, key: str) -> str | None:
    row = conn.execute("SELECT pg_get_serial_sequence(?, ?)", (name, key)).fetchone()
    return str(row[0]) if row and row[0] else None


def _has_sequence(conn: Any) -> bool:
    try:
        conn.execute("SELECT 1 FROM sqlite_sequence LIMIT 1")
    except sqlite3.Error:
        return False
    return True
