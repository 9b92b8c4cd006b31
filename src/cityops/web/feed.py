"""The change feed behind the dashboard's Server-Sent Events.

Case changes are written by the server's write process (another process), so listeners of
`cityops.hooks.on_case_changed` never run where the browsers are connected. Instead one task
per server tails the database: every half second it asks whether the database changed
(SQLite's `PRAGMA data_version`, a few microseconds; PostgreSQL's change notifications, so a
case another server wrote shows here too), and only then reads the history entries
since its cursor and the current state of the cases they touch. One poll serves every client.

The cursor is the history's `at` with a look-back window: two requests may commit in the
other order than their clocks, so entries up to LOOKBACK_US before the newest are read again
and de-duplicated by (case, seq).

Live public layers (gauges, detectors, warnings: `layers.register_layer(..., source)`) ride on
the same poll: after a change (at most once a LAYER_MIN_S, and every LAYER_REFRESH_S since
warnings also expire with time) each layer's columns are rebuilt and pushed, as `layer` items,
only when their bytes differ from the last ones sent. A new subscriber first gets every
layer's current columns; a resuming one gets the items it missed, like case changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from cityops.core import utcnow
from cityops.store.dialect import data_version
from cityops.web import queries

POLL_S = 0.5
LOOKBACK_US = 10_000_000
REPLAY = 512  # recent deltas kept, so a client that reconnects with Last-Event-ID misses none
LAYER_MIN_S = 1.0  # layers are rebuilt at most this often while data keeps changing
LAYER_REFRESH_S = 30.0  # and at least this often (warnings expire without a write)

LayerSource = Callable[[sqlite3.Connection], dict[str, Any]]
Item = dict[str, Any]  # {"seq", "cases"} or {"seq", "layer", "data"}


@dataclass(eq=False)  # compared and hashed by identity: each is one connection
class Subscriber:
    department: str | None  # None: sees every case
    cases: bool = True  # False: the public stream, layers only
    queue: asyncio.Queue[Item] = field(default_factory=lambda: asyncio.Queue(maxsize=256))


class ChangeFeed:
    def __init__(self, connect: Callable[[], sqlite3.Connection], poll_s: float = POLL_S,
                 layers: dict[str, LayerSource] | None = None) -> None:
        self._connect = connect
        self.poll_s = poll_s
        self.layers = layers or {}
        self.layer_bytes: dict[str, bytes] = {}
        self.layer_items: dict[str, Item] = {}  # the latest item of every layer
        self.subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self.seq = 0
        self.polls = 0
        self.recent: deque[Item] = deque(maxlen=REPLAY)

    def subscribe(self, department: str | None, last_seq: int | None = None, cases: bool = True) -> Subscriber | None:
        """A new subscriber; with `last_seq` (the Last-Event-ID of a reconnecting client) the
        items it missed are queued first, or None when they are no longer kept (the client
        reloads instead). Without, it gets every live layer's current columns first."""
        sub = Subscriber(department, cases)
        if self._task is None or self._task.done():
            # Nobody watched for a while, so changes went unread: items kept from before
            # cannot bring a client up to date. A new seq tells a resuming client to reload.
            self.recent.clear()
            self.layer_bytes.clear()
            self.layer_items.clear()
            self.seq += 1
            self._task = asyncio.create_task(self._run())
        if last_seq is None:
            for item in self.layer_items.values():
                self._offer(sub, item)
        elif last_seq != self.seq:
            if last_seq > self.seq or not self.recent or self.recent[0]["seq"] > last_seq + 1:
                return None
            for item in self.recent:
                if item["seq"] > last_seq:
                    self._offer(sub, item)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    async def _run(self) -> None:
        conn = await asyncio.to_thread(self._open)
        try:
            version, cursor, seen = await asyncio.to_thread(self._start, conn)
            await self._refresh_layers(conn)
            layers_at, dirty = time.monotonic(), False
            while self.subscribers:
                await asyncio.sleep(self.poll_s)
                self.polls += 1
                now_version = await asyncio.to_thread(data_version, conn)
                if now_version != version:
                    version, dirty = now_version, True
                    cases, cursor, seen = await asyncio.to_thread(self._read, conn, cursor, seen)
                    if cases:
                        self._publish({"cases": cases})
                since = time.monotonic() - layers_at
                if self.layers and (dirty and since >= LAYER_MIN_S or since >= LAYER_REFRESH_S):
                    await self._refresh_layers(conn)
                    layers_at, dirty = time.monotonic(), False
        finally:
            conn.close()

    def _open(self) -> sqlite3.Connection:
        return self._connect(read_only=True)  # type: ignore[call-arg]

    async def _refresh_layers(self, conn: sqlite3.Connection) -> None:
        for layer_id, data in (await asyncio.to_thread(self._layers, conn)).items():
            self._publish({"layer": layer_id, "data": data})

    def _layers(self, conn: sqlite3.Connection) -> dict[str, Any]:
        """The layers whose columns changed since last sent, as raw JSON (sent as it is)."""
        out: dict[str, Any] = {}
        for layer_id, source in self.layers.items():
            body = orjson.dumps(source(conn))
            if self.layer_bytes.get(layer_id) != body:
                self.layer_bytes[layer_id] = body
                out[layer_id] = orjson.Fragment(body)
        return out

    @staticmethod
    def _start(conn: sqlite3.Connection) -> tuple[int, int, set[tuple[int, int]]]:
        version = data_version(conn)
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

    def _publish(self, body: dict[str, Any]) -> None:
        self.seq += 1
        item = {"seq": self.seq, **body}
        self.recent.append(item)
        if "layer" in item:
            self.layer_items[item["layer"]] = item
        for sub in list(self.subscribers):
            self._offer(sub, item)

    @staticmethod
    def _offer(sub: Subscriber, item: Item) -> None:
        if "layer" not in item:
            cases = item["cases"] if sub.department is None else [c for c in item["cases"] if c["department"] == sub.department]
            if not sub.cases or not cases:
                return
            item = {"seq": item["seq"], "cases": cases}
        with contextlib.suppress(asyncio.QueueFull):  # a stuck client misses items, then reloads
            sub.queue.put_nowait(item)
