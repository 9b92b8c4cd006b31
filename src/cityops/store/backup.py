"""`cityops backup`: a consistent online copy of a SQLite database, verified before it is kept.

While the server runs (WAL: readers never block the writer), one read transaction pins a
snapshot: every table's rows are counted in it and SQLite's backup API copies exactly that
snapshot, page by page, into `<to>.partial`. The copy is then checked on its own: `PRAGMA
integrity_check`, the same row count in every table, every case's hash-chained history
intact (as `cityops history verify`). Only then is it renamed to `<to>` (fsynced; a crash
leaves either no file or a whole verified one). An existing `<to>` is kept unless `force`.

Restoring (docs/operations.md): stop every server on the database, remove `<db>-wal` and
`<db>-shm`, copy the backup over `<db>`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from cityops.errors import CityopsError, Conflict, InvalidInput
from cityops.store.dialect import is_postgres


class BackupFailed(CityopsError):
    status = 500
    code = "backup_failed"


@dataclass(frozen=True)
class BackupReport:
    source: str
    target: str
    tables: int
    rows: int
    cases: int
    size: int
    seconds: float


def _tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                        "ORDER BY name")
    return [r[0] for r in rows]


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {t: int(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in _tables(conn)}


def backup(db: str | Path, to: str | Path, force: bool = False) -> BackupReport:
    """Copy `db` to `to` while it may be written; verify the copy; raise if anything is off."""
    started = time.monotonic()
    db, to = str(db), str(to)
    if is_postgres(db):
        raise InvalidInput("cityops backup copies a SQLite file; back PostgreSQL up with pg_dump or its own tools",
                           "cityops backup 仅用于 SQLite 数据库；PostgreSQL 请使用 pg_dump 等工具备份")
    if not Path(db).is_file():
        raise InvalidInput(f"no database at {db}", f"数据库文件 {db} 不存在")
    if Path(to).exists() and Path(to).resolve() == Path(db).resolve():
        raise InvalidInput("the backup cannot be the database itself", "备份文件不能是数据库本身")
    if Path(to).exists() and not force:
        raise Conflict(f"{to} exists; pass --force to replace it", f"{to} 已存在；如需覆盖请加 --force")
    partial = f"{to}.partial"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(partial)
    counts = _copy(db, partial)
    try:
        cases = _verify(partial, counts)
        _sync(partial)
        os.replace(partial, to)
        _sync_dir(to)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise
    return BackupReport(db, to, len(counts), sum(counts.values()), cases, Path(to).stat().st_size,
                        time.monotonic() - started)


def _copy(db: str, partial: str) -> dict[str, int]:
    """Copy one snapshot of `db`; its row counts, read in the same snapshot."""
    src = sqlite3.connect(db, isolation_level=None, timeout=30)
    old = os.umask(0o077)  # a city's data: private, like the database itself
    try:
        src.execute("PRAGMA busy_timeout = 30000")
        src.execute("PRAGMA query_only = ON")
        src.execute("BEGIN")  # the snapshot starts with the first read below
        counts = _counts(src)
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # all pages in one step, from the snapshot this transaction holds
        finally:
            dst.close()
        src.execute("COMMIT")
    finally:
        os.umask(old)
        src.close()
    return counts


def _verify(path: str, expected: dict[str, int]) -> int:
    """Integrity, counts, history chains of the copy; the number of case histories checked."""
    from cityops.cases.service import verify_all
    from cityops.store.sqlite import SqliteRepo

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        check = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if check != ["ok"]:
            raise BackupFailed(f"the copy fails integrity_check: {'; '.join(check[:5])}", "备份文件完整性校验失败")
        got = _counts(conn)
        if got != expected:
            diff = {t: (expected.get(t), got.get(t)) for t in set(got) | set(expected) if got.get(t) != expected.get(t)}
            raise BackupFailed(f"row counts differ from the source's snapshot: {diff}", "备份文件行数与源数据库不一致")
        repo = SqliteRepo(conn)
        problems = verify_all(repo)
        if problems:
            broken = sorted({p.case_id for p in problems})
            raise BackupFailed(f"case histories broken in the copy: {broken[:20]}", "备份文件中的案卷历史校验失败")
        return len(repo.history_heads())
    finally:
        conn.close()


def _sync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_dir(path: str) -> None:
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
