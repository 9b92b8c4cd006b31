"""The access log: every application, grant, read, refusal and exchange, in one hash chain.

The chain is the case history's (`cases.history`): each entry is a `Change` of the pseudo
case 0, hashed over the previous hash; the head hash and count are kept beside the log (in
settings), so an edited, inserted or deleted entry, the last one included, fails `verify`.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

import orjson

from cityops.cases.history import GENESIS, Problem, next_entry, verify
from cityops.cases.models import Change, HistoryEntry
from cityops.data.catalogue import from_us, to_us
from cityops.store.dialect import PgConnection

CHAIN = 0  # the pseudo case id every log entry carries
HEAD_KEY, COUNT_KEY = "data_log_head", "data_log_count"


def _setting(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return str(row[0]) if row else None


def _set(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                 (key, value))


def hold(conn: sqlite3.Connection) -> None:
    """The log's turn, held until the transaction ends: servers on one PostgreSQL append one
    at a time, each after the other's head (the advisory-lock key space of `repo.lock`).
    Taken first by a decision that reads what another server may change meanwhile (an
    application still pending, a budget not yet spent), so it reads the latest commit.
    SQLite's one writer at a time needs nothing."""
    if isinstance(conn, PgConnection):
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(?), 0)", ("data_access_log",))


def append(conn: sqlite3.Connection, at: datetime, actor: str, role: str, action: str, grant_id: int | None,
           reason: str = "", **data: Any) -> HistoryEntry:
    """Chain one entry onto the log (in the caller's write transaction)."""
    hold(conn)
    head = _setting(conn, HEAD_KEY) or GENESIS
    count = int(_setting(conn, COUNT_KEY) or 0)
    change = Change(case_id=CHAIN, at=at, actor=actor, role=role, action=action, from_status=None,
                    to_status=action, reason=reason, data={"grant": grant_id, **data})
    entry = next_entry(head, count, change)
    conn.execute("INSERT INTO data_access_log (seq, at, actor, role, action, grant_id, reason, data, prev_hash, hash)"
                 " VALUES (?,?,?,?,?,?,?,?,?,?)",
                 (entry.seq, to_us(at), actor, role, action, grant_id, reason, orjson.dumps(change.data).decode(),
                  entry.prev_hash, entry.hash))
    _set(conn, HEAD_KEY, entry.hash)
    _set(conn, COUNT_KEY, str(entry.seq))
    return entry


def _entry(row: sqlite3.Row) -> HistoryEntry:
    change = Change(case_id=CHAIN, at=from_us(row["at"]), actor=row["actor"], role=row["role"], action=row["action"],
                    from_status=None, to_status=row["action"], reason=row["reason"], data=orjson.loads(row["data"]))
    return HistoryEntry(seq=row["seq"], change=change, prev_hash=row["prev_hash"], hash=row["hash"])


def entries(conn: sqlite3.Connection, grant_id: int | None = None, limit: int = 1000,
            offset: int = 0) -> list[HistoryEntry]:
    where, args = ("WHERE grant_id = ?", [grant_id]) if grant_id is not None else ("", [])
    rows = conn.execute(f"SELECT * FROM data_access_log {where} ORDER BY seq LIMIT ? OFFSET ?", [*args, limit, offset])
    return [_entry(r) for r in rows]


def check(conn: sqlite3.Connection) -> list[Problem]:
    """Every problem in the whole chain; empty when intact."""
    every = [_entry(r) for r in conn.execute("SELECT * FROM data_access_log ORDER BY seq")]
    return verify(CHAIN, every, _setting(conn, HEAD_KEY) or "", int(_setting(conn, COUNT_KEY) or 0))


def entry_dict(e: HistoryEntry) -> dict[str, Any]:
    c = e.change
    return {"seq": e.seq, "at": c.at.isoformat(), "actor": c.actor, "role": c.role, "action": c.action,
            "reason": c.reason, **c.data, "hash": e.hash, "prev_hash": e.prev_hash}
