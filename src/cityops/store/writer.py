"""Group commit: one thread owns the write connection and commits queued work in batches.

SQLite allows one writer at a time, and with synchronous=FULL every commit waits for the
disk. Batching the work of concurrent requests into one transaction (each in its own
savepoint, so one failure does not undo the others) pays that wait once per batch; a caller
is answered only after its batch's COMMIT returned, so an acknowledged write is durable.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
MAX_BATCH = 256


class Writer:
    def __init__(self, connect: Callable[[], sqlite3.Connection], wrap: Callable[[sqlite3.Connection], Any]):
        self._connect = connect
        self._wrap = wrap
        self._queue: queue.SimpleQueue[tuple[Callable[[Any], Any], Future[Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="cityops-writer", daemon=True)
        self._started = threading.Event()
        self._thread.start()
        self._started.wait()

    def submit(self, fn: Callable[[Any], T]) -> Future[T]:
        fut: Future[T] = Future()
        self._queue.put((fn, fut))
        return fut

    def run(self, fn: Callable[[Any], T]) -> T:
        return self.submit(fn).result()

    async def arun(self, fn: Callable[[Any], T]) -> T:
        return await asyncio.wrap_future(self.submit(fn))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        conn = self._connect()
        repo = self._wrap(conn)
        self._started.set()
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._commit(conn, repo, batch)
        conn.close()

    @staticmethod
    def _commit(conn: sqlite3.Connection, repo: Any, batch: list[tuple[Callable[[Any], Any], Future[Any]]]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, _ in batch:
                conn.execute("SAVEPOINT item")
                try:
                    outcomes.append((True, fn(repo)))
                    conn.execute("RELEASE item")
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    conn.execute("ROLLBACK TO item")
                    conn.execute("RELEASE item")
                    outcomes.append((False, exc))
            conn.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001 - the whole batch failed; tell everyone
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for _, fut in batch:
                fut.set_exception(exc)
            return
        for (ok, value), (_, fut) in zip(outcomes, batch, strict=True):
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)
