"""The outbox table's SQL (plain, portable: SQLite and PostgreSQL alike), on the caller's
connection: appends run inside the change's own write transaction."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson

from cityops.store import txmemo
from cityops.store.codec import to_us
from cityops.stream.models import SINK_SETTINGS, Event

_DUMP = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def sinks_on(conn: Any) -> bool:
    """Whether a sink (NATS, Kafka) is configured: events are recorded only then. Read once
    per write batch (store/txmemo.py), not once per step."""
    marks = ",".join("?" * len(SINK_SETTINGS))
    return txmemo.memo(conn, "stream.sinks_on", lambda: conn.execute(
        f"SELECT 1 FROM settings WHERE key IN ({marks}) AND value <> '' LIMIT 1", SINK_SETTINGS).fetchone() is not None)


def append(conn: Any, event: Event) -> None:
    from cityops.core import utcnow

    conn.execute("INSERT INTO event_outbox (subject, key, payload, created_at) VALUES (?, ?, ?, ?)",
                 (event.subject, event.key, orjson.dumps(event.payload, option=_DUMP).decode(), to_us(utcnow())))


Row = tuple[int, str, str, str]  # id, subject, key, payload


def unpublished(conn: Any, limit: int, skip: Collection[int] = ()) -> list[Row]:
    """Rows not yet published (to NATS), oldest first; none of `skip` (published, their marks
    not yet committed)."""
    rows = conn.execute("SELECT id, subject, key, payload FROM event_outbox WHERE published_at IS NULL"
                        " AND id NOT IN (SELECT value FROM json_each(?)) ORDER BY id LIMIT ?",
                        (orjson.dumps(list(skip)).decode(), limit)).fetchall()
    return [(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]


def after(conn: Any, cursor: int, limit: int) -> list[Row]:
    """Rows after outbox id `cursor` (the Kafka sink's own position), oldest first."""
    rows = conn.execute("SELECT id, subject, key, payload FROM event_outbox WHERE id > ? ORDER BY id LIMIT ?",
                        (cursor, limit)).fetchall()
    return [(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]


def mark_published(repo: Any, platform: Any, ids: list[int], at_us: int) -> int:
    """Write op: these rows reached the stream (after their PubAcks)."""
    marks = ",".join("?" * len(ids))
    cur = repo.conn.execute(f"UPDATE event_outbox SET published_at = ? WHERE id IN ({marks})"
                            " AND published_at IS NULL", (at_us, *ids))
    return int(cur.rowcount)


def counts(conn: Any) -> tuple[int, int]:
    """(all rows, unpublished rows)."""
    row = conn.execute("SELECT count(*), count(*) - count(published_at) FROM event_outbox").fetchone()
    return int(row[0]), int(row[1])
