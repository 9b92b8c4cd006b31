"""Group commit: queued writes run in one transaction and are answered after its COMMIT.

SQLite allows one writer at a time, and with synchronous=FULL every commit waits for the
disk. Batching concurrent work into one transaction (each item in its own savepoint, so one
failure does not undo the others) pays that wait once per batch. A caller is answered only
after its batch's COMMIT returned, so an acknowledged write is durable.

Two ways in, one commit routine:
- `Writer.run(fn)` from any thread: a dedicated thread owns a connection (CLI, demo, tests);
- `LoopWriter.arun(fn)` from an asyncio event loop (the server): the batch is flushed on the
  loop itself at the end of the current loop iteration, so a request never waits for a
  thread hand-off under the GIL, which costs far more than the work itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from cityops.errors import StorageUnavailable
from cityops.store import txmemo
from cityops.store.dialect import Savepoints

T = TypeVar("T")
MAX_BATCH = 256
Outcome = tuple[bool, Any]  # (succeeded, result or exception)


# SQLite's words for "the storage refuses writes now" (SQLITE_READONLY, _FULL, _IOERR,
# _CANTOPEN): the caller is told 503, not a 500. _BUSY/_LOCKED past the timeout (and a
# PostgreSQL deadlock, dialect._error) are told apart first, as another writer's doing.
_STORAGE = ("readonly", "read-only", "disk", "full", "i/o", "unable to open")


def storage_error(exc: BaseException) -> BaseException:
    """`exc` as StorageUnavailable when it is the storage's fault, else unchanged."""
    if isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError):
        text = str(exc).lower()
        if "locked" in text or "busy" in text:  # another writer holds the rows (or the file)
            return StorageUnavailable(
                f"another write holds the same data ({exc}); nothing was stored, retry shortly",
                "数据正被其他写入占用，本次未保存，请稍后重试")
        if any(word in text for word in _STORAGE):
            return StorageUnavailable(
                f"the database cannot be written now ({exc}); nothing was stored, retry shortly",
                "数据库暂时无法写入（磁盘已满、只读或读写错误），本次未保存，请稍后重试")
    return exc


def is_storage_fault(outcomes: Sequence[Outcome]) -> bool:
    return any(not ok and isinstance(value, StorageUnavailable) for ok, value in outcomes)


def run_batch(conn: sqlite3.Connection, repo: Any, work: Sequence[Callable[[Any], Any]]) -> list[Outcome]:
    """BEGIN, then each function in its own savepoint; the caller COMMITs (or rolls back).

    If the batch cannot even start, the returned outcomes all carry that error and no
    transaction is open.
    """
    outcomes: list[Outcome] = []
    try:
        conn.execute("BEGIN IMMEDIATE")
        txmemo.begin(conn)
        single = len(work) == 1  # alone in its transaction: no savepoint needed
        items = Savepoints(conn, "item")  # the last one is released by the COMMIT
        for fn in work:
            if not single:
                items.next()
            try:
                outcomes.append((True, fn(repo)))
            except Exception as exc:  # noqa: BLE001 - handed to its caller
                if not conn.in_transaction:
                    # SQLite rolled the whole transaction back itself (disk full, I/O error):
                    # nothing of this batch stands, not even the items that went before.
                    txmemo.end(conn)
                    return [(False, storage_error(exc))] * len(work)
                if single:
                    conn.execute("ROLLBACK")
                else:
                    items.undo()
                outcomes.append((False, storage_error(exc)))
    except Exception as exc:  # noqa: BLE001 - the whole batch failed; tell everyone
        txmemo.end(conn)
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        return [(False, storage_error(exc))] * len(work)
    return outcomes


def finish(conn: sqlite3.Connection, outcomes: list[Outcome]) -> list[Outcome]:
    """COMMIT what run_batch left open; a failed COMMIT fails every item."""
    txmemo.end(conn)
    if not conn.in_transaction:
        return outcomes
    try:
        conn.execute("COMMIT")
    except Exception as exc:  # noqa: BLE001
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        return [(False, storage_error(exc))] * len(outcomes)
    return outcomes


def commit_batch(conn: sqlite3.Connection, repo: Any, work: Sequence[Callable[[Any], Any]]) -> list[Outcome]:
    """Run each function in one transaction, then COMMIT; one outcome per function."""
    return finish(conn, run_batch(conn, repo, work))


class Writer:
    """A writer thread for callers outside an event loop."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], wrap: Callable[[sqlite3.Connection], Any]):
        self._connect = connect
        self._wrap = wrap
        self._queue: queue.SimpleQueue[tuple[Callable[[Any], Any], Future[Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="cityops-writer", daemon=True)
        self._thread.start()

    def run(self, fn: Callable[[Any], T]) -> T:
        return self.submit(fn).result()

    def submit(self, fn: Callable[[Any], T]) -> Future[T]:
        fut: Future[T] = Future()
        self._queue.put((fn, fut))
        return fut

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        conn = self._connect()
        repo = self._wrap(conn)
        while True:
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
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(item)
            outcomes = commit_batch(conn, repo, [fn for fn, _ in batch])
            for (ok, value), (_, fut) in zip(outcomes, batch, strict=True):
                fut.set_result(value) if ok else fut.set_exception(value)
        conn.close()


class LoopWriter:
    """Group commit on an event loop.

    The work runs on the loop (no thread hand-off per request); only the COMMIT, which waits
    for the disk and releases the GIL, runs in a helper thread, so the loop keeps reading
    requests meanwhile. Writes that arrive during a COMMIT form the next batch.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], wrap: Callable[[sqlite3.Connection], Any]):
        self._connect = connect
        self._wrap = wrap
        self._conn: sqlite3.Connection | None = None
        self._repo: Any = None
        self._pending: list[tuple[Callable[[Any], Any], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="cityops-commit")

    async def arun(self, fn: Callable[[Any], T]) -> T:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._pending.append((fn, fut))
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return await fut

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        batch: list[tuple[Callable[[Any], Any], asyncio.Future[Any]]] = []
        try:
            while self._pending:
                if self._conn is None:
                    self._conn = self._connect()
                    self._repo = self._wrap(self._conn)
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                outcomes = run_batch(self._conn, self._repo, [fn for fn, _ in batch])
                outcomes = await loop.run_in_executor(self._committer, finish, self._conn, outcomes)
                if is_storage_fault(outcomes):  # a fresh connection next time (see process.py)
                    with contextlib.suppress(Exception):
                        self._conn.close()
                    self._conn = None
                for (ok, value), (_, fut) in zip(outcomes, batch, strict=True):
                    if fut.cancelled():
                        continue  # the client went away; the write stands all the same
                    fut.set_result(value) if ok else fut.set_exception(value)
        except BaseException as exc:
            # Never leave a caller waiting forever: neither the batch in hand (say the task was
            # cancelled during its COMMIT, whose outcome is then unknown) nor those queued.
            told = storage_error(exc) if isinstance(exc, Exception) else exc
            for _, fut in batch + self._pending:
                if not fut.done():
                    fut.set_exception(told)
            self._pending = []
            raise
        finally:
            self._flusher = None

    def close(self) -> None:
        self._committer.shutdown(wait=True)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
