"""The store: SQLite (WAL, synchronous=FULL) or PostgreSQL, migrated by Alembic (store/migrate.py),
group-committed writes, per-thread readers. The SQL here is the portable subset; what differs
between the two databases is asked of `store.dialect` (store/dialect.py)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
import polars as pl

from cityops.cases.history import next_entry
from cityops.cases.models import Case, Change, HistoryEntry, evolve
from cityops.errors import Conflict, NotFound
from cityops.store import txmemo
from cityops.store.base import ApiKey, CaseQuery, User
from cityops.store.codec import CASE_COLUMNS, case_to_row, case_values, from_us, row_to_case, to_us
from cityops.store.dialect import POSTGRES, SQLITE, Dialect, PgConnection, dialect_of
from cityops.store.writer import LoopWriter, Writer

T = TypeVar("T")
LOCK_STRIPES = 256  # advisory locks one transaction takes at most per space (SqliteRepo.lock)
LOCK_BLOCK = 64  # consecutive keys that share a stripe


def stripe(key: int) -> int:
    """The lock stripe a key is held through (SqliteRepo.lock's SQL computes the same)."""
    return (int(key) // LOCK_BLOCK) % LOCK_STRIPES


def stripe_sql(column: str, stripes: list[int] | None) -> str:
    """A condition on `column` (a key): its stripe is one of these (None: any)."""
    if stripes is None:
        return "1 = 1"
    return f"CAST(({column} / {LOCK_BLOCK}) % {LOCK_STRIPES} AS INTEGER) IN ({', '.join(map(str, stripes)) or 'NULL'})"


def in_stripes(keys: list[int], stripes: list[int] | None) -> list[int]:
    """The keys whose stripe is one of these (None: all of them)."""
    if stripes is None:
        return keys
    held = set(stripes)
    return [k for k in keys if stripe(k) in held]


_INSERT_SQL = f"INSERT INTO cases ({', '.join(CASE_COLUMNS)}) VALUES ({', '.join('?' * len(CASE_COLUMNS))})"
_UPDATE_COLS = [c for c in CASE_COLUMNS if c not in ("id", "version")]


@functools.lru_cache(maxsize=256)
def _update_of(columns: tuple[str, ...]) -> str:
    """A case's UPDATE setting these columns, guarded by its version (optimistic concurrency)."""
    sets = "".join(f"{c} = :{c}, " for c in columns)
    return f"UPDATE cases SET {sets}version = version + 1 WHERE id = :id AND version = :version"


_UPDATE_SQL = _update_of(tuple(_UPDATE_COLS))

_HISTORY_COLS = ("case_id", "seq", "at", "actor", "role", "action", "from_status", "to_status", "reason", "data",
                  "prev_hash", "hash")
_HISTORY_INTO = f"INSERT INTO case_history ({', '.join(_HISTORY_COLS)})"
_HISTORY_SQL = f"{_HISTORY_INTO} VALUES ({', '.join('?' * len(_HISTORY_COLS))})"  # positional: SQLite binds them faster
_HISTORY_KEYS = tuple(f"h_{c}" for c in _HISTORY_COLS)  # named beside a case row's own names (PostgreSQL)


def _history_values(entry: HistoryEntry) -> tuple[Any, ...]:
    """The history row in _HISTORY_COLS order."""
    c = entry.change
    return (c.case_id, entry.seq, to_us(c.at), c.actor, c.role, c.action, c.from_status, c.to_status, c.reason,
            orjson.dumps(c.data).decode(), entry.prev_hash, entry.hash)


@functools.lru_cache(maxsize=256)
def _with_history(write: str) -> str:
    """PostgreSQL: a case's INSERT or guarded UPDATE and its history entry in one statement (one
    round trip, not two); the entry is written only when the case row was, so the statement's
    row count says whether the guard held, as the UPDATE's own would."""
    return f"WITH w AS ({write} RETURNING id) {_HISTORY_INTO} SELECT {', '.join(':' + k for k in _HISTORY_KEYS)} FROM w"


def _with_history_params(values: dict[str, Any], entry: HistoryEntry) -> dict[str, Any]:
    return {**values, **dict(zip(_HISTORY_KEYS, _history_values(entry), strict=True))}


# PostgreSQL intake: named, beside the history entry's names in one statement.
_INSERT_NAMED = f"INSERT INTO cases ({', '.join(CASE_COLUMNS)}) VALUES ({', '.join(':' + c for c in CASE_COLUMNS)})"


class SqliteRepo:
    """The Repo over one connection. Writes only happen on the writer's connection."""

    def __init__(self, conn: sqlite3.Connection, dialect: Dialect = SQLITE) -> None:
        self.conn = conn
        self.dialect = POSTGRES if isinstance(conn, PgConnection) else dialect

    # cases -----------------------------------------------------------------
    def next_case_id(self) -> int:
        """The id the next new case gets. Taken inside the write transaction (one writer at a
        time), so a case's first history entry can cover its id."""
        return self.dialect.next_id(self.conn, "cases")

    def insert_case(self, case: Case, change: Change) -> Case:
        """Insert a new case (any id) with its first history entry."""
        case_id = self.next_case_id()
        entry = next_entry("", 0, Change(**{**change.__dict__, "case_id": case_id}))
        stored = evolve(case, id=case_id, history_count=1, history_head=entry.hash, version=1)
        self.insert_first(stored, entry)
        return stored

    def insert_first(self, case: Case, entry: HistoryEntry) -> None:
        """Insert a case built with its id and first entry already (the intake hot path)."""
        if self.dialect.postgres:  # the entry in the same statement
            row = dict(zip(CASE_COLUMNS, case_values(case), strict=True))
            self.conn.execute(_with_history(_INSERT_NAMED), _with_history_params(row, entry))
        else:
            self.conn.execute(_INSERT_SQL, case_values(case))
            self._append(entry)

    def read_ahead(self, case_ids: list[int]) -> None:
        """Read these cases in one query for the steps about to run on them (a batch of steps,
        inside a write batch): `get_case` takes each from here once, and a case saved meanwhile
        is read afresh. PostgreSQL locks them, in id order, so that no other server changes one
        between this read and its step (as the step's own UPDATE would hold it from then on).
        An empty list drops what is left."""
        ahead = txmemo.rows(self.conn, "cases.ahead")
        if ahead is None:
            return
        ahead.clear()
        if case_ids:
            lock = " ORDER BY id FOR UPDATE" if self.dialect.postgres else ""
            for row in self.conn.execute(f"SELECT * FROM cases WHERE id IN (SELECT value FROM json_each(?)){lock}",  # noqa: S608
                                         (orjson.dumps(case_ids).decode(),)):
                ahead[int(row["id"])] = row

    def get_case(self, case_id: int) -> Case | None:
        ahead = txmemo.rows(self.conn, "cases.ahead")
        row = ahead.pop(case_id, None) if ahead else None
        if row is None:
            row = self.conn.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone()
        if row is None:
            return None
        read = txmemo.rows(self.conn, "cases.read")
        if read is not None:
            read[case_id] = row  # save_case then writes only the columns that change
        return row_to_case(row)

    def save_case(self, case: Case, change: Change) -> Case:
        """Store the new case state and append its history entry, in the caller's transaction."""
        entry = next_entry(case.history_head, case.history_count, change)
        new = evolve(case, history_count=entry.seq, history_head=entry.hash, version=case.version + 1)
        values = case_to_row(new)
        values["version"] = case.version  # the UPDATE's guard: the version this step read
        ahead = txmemo.rows(self.conn, "cases.ahead")
        if ahead:
            ahead.pop(case.id, None)  # a later step on it reads what this one wrote
        update = self._update_sql(case, values)
        if self.dialect.postgres:  # the entry in the same statement, written only if the row was
            written = self.conn.execute(_with_history(update), _with_history_params(values, entry)).rowcount
        else:
            written = self.conn.execute(update, values).rowcount
            if written == 1:
                self._append(entry)
        if written != 1:
            raise Conflict(
                f"case {case.id} was changed by someone else; reload it and try again",
                f"案卷 {case.id} 已被他人修改，请刷新后重试",
            )
        return new

    def _update_sql(self, case: Case, values: dict[str, Any]) -> str:
        """An UPDATE of the columns that differ from the row this batch read at the same version
        (an index is rewritten only when its column is set), else of every column. A read is
        used once: a later save of the case without a fresh read sets everything."""
        read = txmemo.rows(self.conn, "cases.read")
        row = read.pop(case.id, None) if read is not None else None
        if row is None or row["version"] != case.version:
            return _UPDATE_SQL
        return _update_of(tuple(c for c in _UPDATE_COLS if values[c] != row[c]))

    def _append(self, entry: HistoryEntry) -> None:
        self.conn.execute(_HISTORY_SQL, _history_values(entry))

    def history(self, case_id: int) -> list[HistoryEntry]:
        rows = self.conn.execute(
            "SELECT * FROM case_history WHERE case_id = ? ORDER BY seq", (case_id,)
        ).fetchall()
        return [
            HistoryEntry(
                seq=r["seq"],
                change=Change(
                    case_id=r["case_id"], at=from_us(r["at"]),  # type: ignore[arg-type]
                    actor=r["actor"], role=r["role"], action=r["action"],
                    from_status=r["from_status"], to_status=r["to_status"],
                    reason=r["reason"], data=orjson.loads(r["data"]),
                ),
                prev_hash=r["prev_hash"],
                hash=r["hash"],
            )
            for r in rows
        ]

    def history_heads(self) -> list[tuple[int, str, int]]:
        rows = self.conn.execute("SELECT id, history_head, history_count FROM cases ORDER BY id")
        return [(r[0], r[1], r[2]) for r in rows]

    def search_cases(self, query: CaseQuery) -> tuple[list[Case], int]:
        where, params = _where(query)
        total = self.conn.execute(f"SELECT count(*) FROM cases{where}", params).fetchone()[0]
        order = _ORDERS.get(query.order, "id")
        rows = self.conn.execute(
            f"SELECT * FROM cases{where} ORDER BY {order} LIMIT ? OFFSET ?",
            [*params, query.limit, query.offset],
        ).fetchall()
        return [row_to_case(r) for r in rows], int(total)

    def case_frame(self) -> pl.DataFrame:
        """All cases as columns, for the vectorised indicators."""
        cols = ("id", "district", "grid", "department", "status", "reported_at", "registered_at",
                "dispatched_at", "accepted_at", "due_at", "disposed_at", "closed_at",
                "rework_count", "overdue_disposed", "matter_code")
        cur = self.conn.execute(f"SELECT {', '.join(cols)} FROM cases")
        rows = cur.fetchall()
        data = {c: [r[i] for r in rows] for i, c in enumerate(cols)} if rows else {c: [] for c in cols}
        frame = pl.DataFrame(data, schema=_FRAME_SCHEMA, orient="col")
        times = [c for c in cols if c.endswith("_at")]
        return frame.with_columns(
            [pl.from_epoch(pl.col(c), time_unit="us").dt.replace_time_zone("UTC") for c in times]
        ).rename({"id": "case_id"}).with_columns(pl.col("overdue_disposed").cast(pl.Boolean))

    # users and tokens ------------------------------------------------------
    def add_user(self, user: User, at: datetime) -> None:
        try:
            self.conn.execute(
                "INSERT INTO users (name, role, department, password_hash, created_at, active)"
                " VALUES (?,?,?,?,?,?)",
                (user.name, user.role, user.department, user.password_hash, to_us(at), int(user.active)),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"user '{user.name}' already exists", f"用户 {user.name} 已存在") from exc

    def get_user(self, name: str) -> User | None:
        row = self.conn.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        return _user(row) if row else None

    def list_users(self) -> list[User]:
        return [_user(r) for r in self.conn.execute("SELECT * FROM users ORDER BY name")]

    def set_password(self, name: str, password_hash: str) -> None:
        cur = self.conn.execute("UPDATE users SET password_hash = ? WHERE name = ?", (password_hash, name))
        if cur.rowcount != 1:
            raise NotFound(f"no user '{name}'", f"用户 {name} 不存在")

    def set_user_active(self, name: str, active: bool) -> None:
        cur = self.conn.execute("UPDATE users SET active = ? WHERE name = ?", (int(active), name))
        if cur.rowcount != 1:
            raise NotFound(f"no user '{name}'", f"用户 {name} 不存在")

    def remove_user(self, name: str) -> None:
        self.conn.execute("DELETE FROM tokens WHERE user_name = ?", (name,))
        if self.conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount != 1:
            raise NotFound(f"no user '{name}'", f"用户 {name} 不存在")

    def add_token(self, token_hash: str, user_name: str, at: datetime, expires_at: datetime | None) -> None:
        self.conn.execute(
            "INSERT INTO tokens (token_hash, user_name, created_at, expires_at) VALUES (?,?,?,?)",
            (token_hash, user_name, to_us(at), to_us(expires_at)),
        )

    def user_for_token(self, token_hash: str, now: datetime) -> User | None:
        found = self.token_grant(token_hash, now)
        return found[0] if found else None

    def token_grant(self, token_hash: str, now: datetime) -> tuple[User, datetime | None] | None:
        """The active user a live token belongs to, and when the token expires."""
        row = self.conn.execute(
            "SELECT u.*, t.expires_at AS token_expires_at FROM tokens t JOIN users u ON u.name = t.user_name "
            "WHERE t.token_hash = ? AND u.active = 1 AND (t.expires_at IS NULL OR t.expires_at > ?)",
            (token_hash, to_us(now)),
        ).fetchone()
        return (_user(row), from_us(row["token_expires_at"])) if row else None

    def revoke_tokens(self, user_name: str | None = None, token_hash: str | None = None) -> int:
        """Delete one token, or every token of a user; returns how many went."""
        if token_hash is not None:
            cur = self.conn.execute("DELETE FROM tokens WHERE token_hash = ?", (token_hash,))
        else:
            cur = self.conn.execute("DELETE FROM tokens WHERE user_name = ?", (user_name,))
        return int(cur.rowcount)

    def purge_expired_tokens(self, now: datetime) -> int:
        cur = self.conn.execute("DELETE FROM tokens WHERE expires_at <= ?", (to_us(now),))
        return int(cur.rowcount)

    # idempotency and settings ---------------------------------------------
    def idempotent_case(self, key: str) -> int | None:
        row = self.conn.execute("SELECT case_id FROM idempotency WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else None

    def remember_idempotent(self, key: str, case_id: int, at: datetime) -> None:
        try:
            self.conn.execute(
                "INSERT INTO idempotency (key, case_id, created_at) VALUES (?,?,?)", (key, case_id, to_us(at))
            )
        except sqlite3.IntegrityError:
            # Another server stored the same request a moment ago (PostgreSQL's several writers):
            # this one's case is rolled back with its transaction, and the retry gets that case.
            raise Conflict(f"a request with idempotency key {key!r} is being stored by another server; "
                           "retry it to get its case", f"相同幂等键 {key!r} 的请求正由另一台服务器保存，请重试以取回该案卷") from None

    def idempotent_cases(self, keys: Sequence[str]) -> dict[str, int]:
        """The keys already taken, each with its case id (bulk form of idempotent_case)."""
        found: dict[str, int] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start:start + 500])
            rows = self.conn.execute(
                f"SELECT key, case_id FROM idempotency WHERE key IN ({', '.join('?' * len(chunk))})", chunk
            )
            found.update((r[0], int(r[1])) for r in rows)
        return found

    def imported_frame(self, source: str | None = None) -> pl.DataFrame:
        """Imported cases with where they were really sent, for the routing report."""
        sql = (
            "SELECT id, source, matter_code, department,"
            " json_extract(attributes, '$.import.source') AS import_source,"
            " json_extract(attributes, '$.import.category') AS category,"
            " json_extract(attributes, '$.import.agency') AS agency,"
            " json_extract(attributes, '$.import.department_type') AS actual_type"
            " FROM cases WHERE source LIKE 'import:%'"
        )
        params: list[Any] = []
        if source is not None:
            sql += " AND source = ?"
            params.append(f"import:{source}")
        rows = self.conn.execute(sql, params).fetchall()
        cols = ("case_id", "source", "matter_code", "department", "import_source", "category", "agency",
                "actual_type")
        schema = {c: (pl.Int64 if c == "case_id" else pl.Utf8) for c in cols}
        return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")

    def lock(self, space: str, keys: Sequence[int]) -> None:
        """Hold `keys` of `space` (say the datastreams a batch writes) until this transaction
        ends, so two servers' writers never decide on the same ones at once (PostgreSQL's
        transaction advisory locks, taken in order). SQLite's one writer needs none.

        A key is held through its stripe ((key div LOCK_BLOCK) mod LOCK_STRIPES): a city's batch
        of 14,000 datastreams takes at most LOCK_STRIPES locks, not one each, which would
        overflow the server's lock table (max_locks_per_transaction × max_connections, 6,400 by
        default); and keys registered together (a gateway's datastreams) share stripes, so two
        gateways' batches on two servers do not wait for each other."""
        if self.dialect.postgres and len(keys):
            self.conn.execute("SELECT count(pg_advisory_xact_lock(hashtext(?), k)) FROM "
                              "(SELECT DISTINCT CAST((k / ?) % ? AS INTEGER) AS k FROM unnest(CAST(? AS BIGINT[])) AS k"
                              " ORDER BY 1) AS ks", (space, LOCK_BLOCK, LOCK_STRIPES, [int(k) for k in keys]))

    def lock_free_stripes(self, space: str, keys: Sequence[int] | None = None) -> list[int] | None:
        """Hold, without waiting, every stripe of `space` (of these keys, or all) that no other
        transaction holds, until this transaction ends; the stripes now held (None: all of
        them, always in SQLite).
        Waiting for all of them would deadlock with another server's writer that holds some and
        waits for a row this transaction has written (the readings counters)."""
        if not self.dialect.postgres:
            return None
        wanted = sorted({stripe(k) for k in keys}) if keys is not None else list(range(LOCK_STRIPES))
        held = [int(r[0]) for r in self.conn.execute(
            "SELECT k FROM unnest(CAST(? AS INTEGER[])) AS k WHERE pg_try_advisory_xact_lock(hashtext(?), k)",
            (wanted, space))]
        return None if len(held) == LOCK_STRIPES else held

    def get_setting(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_setting(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
        txmemo.forget(self.conn)


    # Open311: API keys, request tokens, history by time ---------------------
    def add_api_key(self, key: ApiKey) -> None:
        try:
            self.conn.execute(
                "INSERT INTO api_keys (name, key_hash, scope, created_at, revoked_at) VALUES (?,?,?,?,?)",
                (key.name, key.key_hash, key.scope, to_us(key.created_at), to_us(key.revoked_at)),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"API key '{key.name}' already exists", f"API 密钥 {key.name} 已存在") from exc

    def api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        row = self.conn.execute("SELECT * FROM api_keys WHERE key_hash = ?", (key_hash,)).fetchone()
        return _api_key(row) if row else None

    def list_api_keys(self) -> list[ApiKey]:
        return [_api_key(r) for r in self.conn.execute("SELECT * FROM api_keys ORDER BY name")]

    def revoke_api_key(self, name: str, at: datetime) -> bool:
        cur = self.conn.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (to_us(at), name)
        )
        return cur.rowcount == 1

    def add_open311_token(self, token: str, case_id: int) -> None:
        self.conn.execute("INSERT OR IGNORE INTO open311_tokens (token, case_id) VALUES (?, ?)", (token, case_id))

    def case_for_open311_token(self, token: str) -> int | None:
        row = self.conn.execute("SELECT case_id FROM open311_tokens WHERE token = ?", (token,)).fetchone()
        return int(row[0]) if row else None

    def history_between(self, start: datetime, end: datetime, limit: int) -> list[HistoryEntry]:
        rows = self.conn.execute(
            "SELECT * FROM case_history WHERE at >= ? AND at < ? ORDER BY at, case_id, seq LIMIT ?",
            (to_us(start), to_us(end), limit),
        ).fetchall()
        return [_entry(r) for r in rows]

    def histories(self, case_ids: Sequence[int]) -> dict[int, list[HistoryEntry]]:
        out: dict[int, list[HistoryEntry]] = {i: [] for i in case_ids}
        if case_ids:
            marks = ", ".join("?" * len(case_ids))
            rows = self.conn.execute(
                f"SELECT * FROM case_history WHERE case_id IN ({marks}) ORDER BY case_id, seq", list(case_ids)
            )
            for r in rows:
                out[r["case_id"]].append(_entry(r))
        return out


_FRAME_SCHEMA = {
    "id": pl.Int64, "district": pl.Utf8, "grid": pl.Utf8, "department": pl.Utf8, "status": pl.Utf8,
    "reported_at": pl.Int64, "registered_at": pl.Int64, "dispatched_at": pl.Int64,
    "accepted_at": pl.Int64, "due_at": pl.Int64, "disposed_at": pl.Int64, "closed_at": pl.Int64,
    "rework_count": pl.Int64, "overdue_disposed": pl.Int64, "matter_code": pl.Utf8,
}
_ORDERS = {
    "id": "id", "-id": "id DESC", "due_at": "due_at IS NULL, due_at, id",
    "reported_at": "reported_at, id", "-reported_at": "reported_at DESC, id DESC",
}


# A case's channel: its source up to a colon (drone:UAV-3 → drone).
_CHANNEL = "CASE WHEN instr(source, ':') > 0 THEN substr(source, 1, instr(source, ':') - 1) ELSE source END"


def _where(q: CaseQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []

    def any_of(column: str, values: Any) -> None:
        clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
        params.extend(values)

    if q.status:
        any_of("status", q.status)
    if q.matter_code:
        any_of("matter_code", q.matter_code)
    if q.ids:
        any_of("id", q.ids)
    for column, value in (("district", q.district), ("grid", q.grid), ("department", q.department)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if q.reported_from is not None:
        clauses.append("reported_at >= ?")
        params.append(to_us(q.reported_from))
    if q.reported_to is not None:
        clauses.append("reported_at < ?")
        params.append(to_us(q.reported_to))
    if q.overdue_at is not None:
        clauses.append("status IN ('dispatched', 'disposing') AND due_at < ?")
        params.append(to_us(q.overdue_at))
    if q.due_before is not None:
        clauses.append("status IN ('dispatched', 'disposing') AND due_at < ?")
        params.append(to_us(q.due_before))
    if q.escalated is not None:
        clauses.append("escalated = ?")
        params.append(int(q.escalated))
    if q.source:
        any_of(_CHANNEL, q.source)
    if q.text:
        clauses.append("(description LIKE ? ESCAPE '\\' OR address LIKE ? ESCAPE '\\')")
        pattern = "%" + q.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params.extend([pattern, pattern])
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _user(row: sqlite3.Row) -> User:
    return User(row["name"], row["role"], row["department"], row["password_hash"], bool(row["active"]))


def _api_key(row: sqlite3.Row) -> ApiKey:
    return ApiKey(row["name"], row["key_hash"], row["scope"], from_us(row["created_at"]),  # type: ignore[arg-type]
                  from_us(row["revoked_at"]))


def _entry(r: sqlite3.Row) -> HistoryEntry:
    change = Change(
        case_id=r["case_id"], at=from_us(r["at"]),  # type: ignore[arg-type]
        actor=r["actor"], role=r["role"], action=r["action"], from_status=r["from_status"],
        to_status=r["to_status"], reason=r["reason"], data=orjson.loads(r["data"]),
    )
    return HistoryEntry(seq=r["seq"], change=change, prev_hash=r["prev_hash"], hash=r["hash"])

def _create_private(path: str) -> None:
    """Create the database file readable and writable by this user only (0600). SQLite gives
    the WAL and shared-memory files the database file's permissions, so they follow."""
    if path == ":memory:" or path.startswith("file:") or os.path.exists(path):
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass  # another process created it meanwhile
    except OSError:
        pass  # say the folder is missing or read-only: sqlite3 says so in its own words


class SqliteStore:
    """Opens (and migrates) a database file; hands out readers and the group-commit writer."""

    def __init__(self, path: str | Path) -> None:
        from cityops.store.migrate import upgrade

        self.path = str(path)
        self.dialect = dialect_of(self.path)
        if not self.dialect.postgres:
            _create_private(self.path)
        else:
            _create_database(self.path)
        conn = self.connect()
        upgrade(self.path, conn)
        conn.close()
        self._local = threading.local()
        self._writer = Writer(self.connect, SqliteRepo)
        self._loop_writers: dict[int, LoopWriter] = {}

    def connect(self, read_only: bool = False) -> sqlite3.Connection:
        if self.dialect.postgres:
            return PgConnection(self.path, read_only)  # type: ignore[return-value]
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")  # a COMMIT returns only once it is on disk
        # The committing connection copies the WAL into the database once it holds this many
        # pages (SQLite's default: 1,000, 4 MB). A city's reading batch touches a leaf page of
        # the (datastream, t1) index per datastream, about 16 MB of pages a batch at 14,000
        # datastreams: at the default every COMMIT also checkpointed them all; at 64 MB a page
        # touched by four batches is copied once (COMMIT time of a full-scale feed 3.0 → 1.3 s
        # per 60 batches, docs/operations.md). Readers and durability are unchanged.
        conn.execute("PRAGMA wal_autocheckpoint = 16000")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 30000")
        if read_only:
            conn.execute("PRAGMA query_only = ON")
        return conn

    def reader(self) -> SqliteRepo:
        """This thread's read-only repo, outside any transaction: for one-statement lookups."""
        repo: SqliteRepo | None = getattr(self._local, "repo", None)
        if repo is None:
            repo = SqliteRepo(self.connect(read_only=True))
            self._local.repo = repo
        return repo

    @contextmanager
    def read(self) -> Iterator[SqliteRepo]:
        """A reader for this thread; everything read inside sees one committed state."""
        repo = self.reader()
        # One snapshot for everything read inside: SQLite's read transaction is one already.
        repo.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ" if self.dialect.postgres else "BEGIN")
        try:
            yield repo
        finally:
            repo.conn.execute("COMMIT")

    def write(self, fn: Callable[[SqliteRepo], T]) -> T:
        return self._writer.run(fn)

    async def awrite(self, fn: Callable[[SqliteRepo], T]) -> T:
        """Write from an event loop: group-committed on the loop itself (see writer.py)."""
        loop_id = id(asyncio.get_running_loop())
        writer = self._loop_writers.get(loop_id)
        if writer is None:
            writer = self._loop_writers[loop_id] = LoopWriter(self.connect, SqliteRepo)
        return await writer.arun(fn)

    def close(self) -> None:
        self._writer.close()
        for writer in self._loop_writers.values():
            writer.close()
        self._loop_writers.clear()
        repo = getattr(self._local, "repo", None)
        if repo is not None:
            repo.conn.close()
            self._local.repo = None
        if self.dialect.postgres:
            return
        # Leave the file whole on its own: the WAL's pages copied back and the WAL emptied.
        try:
            conn = sqlite3.connect(self.path, timeout=5)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()
        except sqlite3.Error:
            pass  # another process still writes (it checkpoints when it closes), or read-only


def database_exists(db: str | Path) -> bool:
    """Whether `db` names a city's database already: a file, or a PostgreSQL database with a schema."""
    if not dialect_of(db).postgres:
        return Path(db).exists()
    try:
        conn = PgConnection(str(db))
    except sqlite3.Error:
        return False
    try:
        return conn.execute("SELECT to_regclass('alembic_version')").fetchone()[0] is not None
    finally:
        conn.close()


def _create_database(url: str) -> None:
    """Create the PostgreSQL database the URL names if it is not there yet (as `init` makes a file)."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from cityops.store.dialect import libpq_url

    params = conninfo_to_dict(libpq_url(url))
    name = params.get("dbname")
    if not name:
        return
    try:
        psycopg.connect(libpq_url(url)).close()
        return
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise sqlite3.OperationalError(f"unable to open database: {exc}") from None
    # Another process may have made it meanwhile.
    with (psycopg.connect(make_conninfo(libpq_url(url), dbname="postgres"), autocommit=True) as admin,
          contextlib.suppress(psycopg.errors.DuplicateDatabase)):
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(name))))  # the URL's name, quoted


def open_store(path: str | Path) -> SqliteStore:
    if not str(path).strip():
        raise NotFound("no database path given", "未指定数据库路径")
    return SqliteStore(path)
