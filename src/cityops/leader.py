"""Leader election: one server of several runs the once-only jobs (the minute's sweep, the
notification sender), and another takes over within seconds when it dies.

The lock is one the operating system or the database server frees by itself when its holder
dies, so there is no lease to time out and no clock to trust:
- SQLite (one host): `fcntl.flock` on `<db>.leader`, freed when the process exits, `kill -9`
  included;
- PostgreSQL (any number of hosts): `pg_try_advisory_lock(KEY)` held by a dedicated
  connection, freed when that session ends (the process died, or the server dropped the
  connection: TCP keepalives bound how long a vanished host keeps it).

`lead()` is the loop a server runs: try to become leader every `RETRY_SECONDS`; while leader,
check the lock still holds and keep the jobs running; stop them the moment it does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import Callable
from typing import Any

from cityops.store.dialect import is_postgres, libpq_url

log = logging.getLogger("cityops")
RETRY_SECONDS = 2.0
# The advisory lock's key: a fixed 64-bit number derived from a name (no other user of the
# database is likely to pick it).
KEY = int.from_bytes(hashlib.sha256(b"cityops.leader").digest()[:8], "big", signed=True)


class Leadership:
    """acquire() tries without waiting; renew() says whether the lock still holds; release()."""

    def __init__(self, db: str) -> None:
        self.db = str(db)
        self.is_leader = False
        self._fd: int | None = None
        self._conn: Any = None

    def acquire(self) -> bool:
        if self.is_leader:
            return self.renew()
        try:
            self.is_leader = self._acquire_pg() if is_postgres(self.db) else self._acquire_file()
        except Exception as exc:  # noqa: BLE001 - say the database is down: follower, try again later
            log.warning("leader election: cannot take the lock now: %s", exc)
            self._drop()
        return self.is_leader

    def renew(self) -> bool:
        if not self.is_leader:
            return False
        if self._conn is not None:
            try:
                self._conn.execute("SELECT 1").fetchone()
            except Exception as exc:  # noqa: BLE001 - the session (and with it the lock) is gone
                log.warning("leader election: lost the lock's connection: %s", exc)
                self._drop()
        return self.is_leader

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (KEY,))
        self._drop()

    def _acquire_file(self) -> bool:
        path = f"{self.db}.leader"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # not inherited by child processes
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # for an operator: who leads
        self._fd = fd
        return True

    def _acquire_pg(self) -> bool:
        import psycopg

        conn = psycopg.connect(libpq_url(self.db), autocommit=True, connect_timeout=5, application_name="cityops-leader",
                               keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=3)
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (KEY,)).fetchone()
        got = bool(row and row[0])
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def _drop(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._fd, self._conn, self.is_leader = None, None, False


async def lead(leadership: Leadership, start_jobs: Callable[[], list[asyncio.Task[Any]]],
               every: float = RETRY_SECONDS) -> None:
    """Run until cancelled: the jobs `start_jobs()` starts run only while this server leads."""
    jobs: list[asyncio.Task[Any]] = []
    try:
        while True:
            held = await asyncio.to_thread(leadership.renew if leadership.is_leader else leadership.acquire)
            if held and not jobs:
                log.info("leader: this server (pid %d) now runs the once-only jobs", os.getpid())
                jobs = start_jobs()
            elif not held and jobs:
                log.warning("leader: lost the lock; the once-only jobs stop here")
                await _stop(jobs)
                jobs = []
            await asyncio.sleep(every)
    finally:
        await _stop(jobs)
        leadership.release()


async def _stop(tasks: list[asyncio.Task[Any]]) -> None:
    for t in tasks:
        t.cancel()
    for t in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await t
