"""Readiness: can a write succeed on this server now? (`GET /readyz`; `/healthz` only says alive.)

Ready means: the start-up warming is done, the write process answers, and the database takes a
write transaction with a write statement in it (a no-op UPDATE: it fails on a read-only
database, a connection in `query_only`, a lock held past the busy timeout), within
`PROBE_SECONDS`; and, for SQLite,
the disk holding the database has at least `MIN_FREE_BYTES` free (a full disk refuses the
next COMMIT, which no rolled-back probe would show). Each reason not to be ready is named.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from typing import Any

PROBE_SECONDS = 3.0
MIN_FREE_BYTES = 16 * 1024 * 1024


def probe_write(repo: Any, platform: Any) -> bool:
    """A write operation that changes nothing (portable SQL; runs in the write process)."""
    repo.conn.execute("UPDATE settings SET value = value WHERE key = ?", ("readyz.probe",))
    return True


def _free_bytes(db: str) -> int | None:
    from cityops.store.dialect import is_postgres

    if is_postgres(db):
        return None  # the database server's disk is its own to watch
    try:
        return shutil.disk_usage(os.path.dirname(os.path.abspath(db))).free
    except OSError:
        return None


async def readiness(platform: Any, leadership: Any = None, warming: Any = None) -> tuple[bool, dict[str, Any]]:
    """(ready, the body to answer with). `warming`: the start-up task loading the classifier;
    until it is done a load balancer should not send traffic here, since loading its word
    list holds the interpreter for a second or two (every request meanwhile would wait)."""
    body: dict[str, Any] = {"status": "ready"}
    if leadership is not None:
        body["leader"] = bool(leadership.is_leader)
    if warming is not None and not warming.done():
        return False, {**body, "status": "not_ready", "error": "warming",
                       "message": "the server is still loading its classifier (a few seconds after start)",
                       "message_zh": "服务正在加载分类模型（启动后数秒），请稍候"}
    free = await asyncio.to_thread(_free_bytes, str(platform.store.path))
    if free is not None and free < MIN_FREE_BYTES:
        return False, {**body, "status": "not_ready", "error": "disk_full",
                       "message": f"the database's disk has only {free} bytes free",
                       "message_zh": "数据库所在磁盘空间不足，写入将失败"}
    try:
        await asyncio.wait_for(platform.awrite(probe_write), PROBE_SECONDS)
    except TimeoutError:
        return False, {**body, "status": "not_ready", "error": "write_timeout",
                       "message": f"a trivial write did not finish within {PROBE_SECONDS:.0f} s",
                       "message_zh": "写入探测超时，暂时无法写入"}
    except Exception as exc:  # noqa: BLE001 - every reason is an answer, never a 500
        return False, {**body, "status": "not_ready", "error": getattr(exc, "code", "write_failed"),
                       "message": f"a trivial write failed: {getattr(exc, 'message_en', None) or exc}",
                       "message_zh": getattr(exc, "message_zh", "") or "暂时无法写入"}
    return True, body
