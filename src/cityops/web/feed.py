"""The change feed behind the dashboard's Server-Sent Events.

Case changes are written by the server's write process (another process), so listeners of
`cityops.hooks.on_case_changed` never run where the browsers are connected. Instead one task
per server tails the case history: every half second it asks SQLite whether the database
changed (`PRAGMA data_version`, a few microseconds), and only then reads the history entries
since its cursor and the current state of the cases they touch. One poll serves every client.

The cursor is the history's `at` with a look-back window: two requests may commit in the
other order than their clocks, so entries up to LOOKBACK_US before the newest are read again
and de-duplicated by (case, seq).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cityops.core import utcnow
from cityops.web import queries

POLL_S = 0.5
LOOKBACK_US = 10_000_000
REPLAY = 512  # recent deltas kept, so a client that reconnects with Last-Event-ID misses none


@dataclass(eq=False)  # compared and hashed by identity: each is one connection
class Subscriber:
    department: str | None  # None: sees every case
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(maxsize=256))


class ChangeFeed:
    def __init__(self, connect: Callable[[], sqlite3.Connection], poll_s: float = POLL_S) -> None:
        self._connect = connect
        self.poll_s = poll_s
        self.subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self.seq = 0
        self.polls = 0
        self.recent: deque[tuple[int, list[dict[str, Any]]]] = deque(maxlen=REPLAY)

    def subscribe(self, department: str | None, last_seq: int | None = None) -> Subscriber | None:
        """A new subscriber; with `last_seq` (the Last-Event-ID of a reconnecting client) the
        deltas it missed are queued first, or None when they are no longer kept (the client
        reloads instead)."""
        sub = Subscriber(department)
        if self._task is None or self._task.done():
            # Nobody watched for a while, so changes went unread: deltas kept from before
            # cannot bring a client up to date. A new seq tells a resuming client to reload.
            self.recent.clear()
            self.seq += 1
            self._task = asyncio.create_task(self._run())
        if last_seq is not None and last_seq != self.seq:
            if last_seq > self.seq or not self.recent or self.recent[0][0] > last_seq + 1:
                return None
            for seq, cases in self.recent:
                if seq > last_seq:
                    self._offer(sub, seq, cases)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    async def _run(self) -> None:
        conn = await asyncio.to_thread(self._open)
        try:
            version, cursor, seen = await asyncio.to_thread(self._start, conn)
            while self.subscribers:
                await asyncio.sleep(self.poll_s)
                self.polls += 1
                now_version = conn.execute("PRAGMA data_version").fetchone()[0]
                if now_version == version:
                    continue
                version = now_version
                cases, cursor, seen = await asyncio.to_thread(self._read, conn, cursor, seen)
                if cases:
                    self._publish(cases)
        finally:
            conn.close()

    def _open(self) -> sqlite3.Connection:
        conn = self._connect()
        conn.execute("PRAGMA query_only = ON")
        return conn

    @staticmethod
    def _start(conn: sqlite3.Connection) -> tuple[int, int, set[tuple[int, int]]]:
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        cursor = queries.latest_at(conn)
        seen = {(c, s) for c, s, _ in queries.history_since(conn, cursor - LOOKBACK_US)}
        return version, cursor, seen

    @staticmethod
    def _read(conn: sqlite3.Connection, cursor: int, seen: set[tuple[int, int]]
              ) -> tuple[list[dict[str, Any]], int, set[tuple[int, int]]]:
        conn.execute("BEGIN")
        try:
            entries = queries.history_since(conn, cursor - LOOKBACK_US)
            fresh = [(c, s, at) for c, s, at in entries if (c, s) not in seen]
            ids = sorted({c for c, _, _ in fresh})
            cases = queries.cases_by_id(conn, ids, utcnow())
        finally:
            conn.execute("COMMIT")
        if entries:
            cursor = max(cursor, max(at for _, _, at in entries))
        seen = {(c, s) for c, s, at in entries if at >= cursor - LOOKBACK_US}
        return cases, cursor, seen

    def _publish(self, cases: list[dict[str, Any]]) -> None:
        self.seq += 1
        self.recent.append((self.seq, cases))
        for sub in list(self.subscribers):
            self._offer(sub, self.seq, cases)

    @staticmethod
    def _offer(sub: Subscriber, seq: int, cases: list[dict[str, Any]]) -> None:
        mine = cases if sub.department is None else [c for c in cases if c["department"] == sub.department]
        if mine:
            with contextlib.suppress(asyncio.QueueFull):  # a stuck client misses deltas, then reloads
                sub.queue.put_nowait({"seq": seq, "cases": mine})
