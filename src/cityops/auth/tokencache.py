"""Who holds a credential (a bearer token, an Open311 API key), remembered between requests
while the database says nothing changed.

Why: on PostgreSQL each request's credential check is a round trip to the database server.
Made on the event loop it stalls every other request meanwhile; made in a thread it costs a
thread hop and a query per request. So each server keeps the answers it looked up, and forgets
them all the moment any row that grants them changes: migration 0009's triggers send
`NOTIFY cityops_auth` at the COMMIT of every UPDATE or DELETE on `users`, `tokens` or
`api_keys` (revoking, disabling, a new password or role, removal), and each server LISTENs on a
connection of its own.

The cache is used only while that LISTEN connection is up (`live`); when it drops, every
lookup goes to the database again until it is back. An answer is kept for at most `TTL`
seconds, and never past the credential's own expiry. A lookup that was in flight when a change
arrived is not kept (the generation moved). A refusal is never kept. SQLite needs none of
this: its lookup is a local read of a few microseconds, made on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cityops.auth.service import invalid_token, to_actor, token_digest
from cityops.cases.models import Actor

CHANNEL = "cityops_auth"
TTL = 30.0  # seconds; a bound even if a notification were lost, not the means of revocation
MAX_ENTRIES = 100_000
log = logging.getLogger("cityops")


@dataclass
class CredentialCache:
    live: bool = False  # the LISTEN connection is up: the cache may answer
    generation: int = 0  # moves on every change heard (and on every reconnect)
    _entries: dict[str, tuple[Any, float]] = field(default_factory=dict)

    def get(self, key: str) -> Any:
        if not self.live:
            return None
        hit = self._entries.get(key)
        if hit is None:
            return None
        if hit[1] <= time.monotonic():
            self._entries.pop(key, None)
            return None
        return hit[0]

    def put(self, key: str, value: Any, generation: int, expires_at: datetime | None, now: datetime) -> None:
        """Keep a looked-up answer, unless a change was heard since the lookup began."""
        if not self.live or generation != self.generation:
            return
        keep = TTL if expires_at is None else min(TTL, (expires_at - now).total_seconds())
        if keep <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (value, time.monotonic() + keep)

    def forget_all(self) -> None:
        self.generation += 1
        self._entries.clear()


async def listen(cache: CredentialCache, url: str, retry_s: float = 1.0) -> None:
    """Keep `cache` live while a LISTEN connection to `url` is up; forget everything on each
    notification and whenever the connection is lost or made again. Runs until cancelled."""
    import psycopg

    from cityops.store.dialect import libpq_url

    while True:
        try:
            async with await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                cache.forget_all()
                cache.live = True
                async for _ in conn.notifies():
                    cache.forget_all()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the database went away: look up every time till it is back
            log.warning("token cache off: %s", exc)
        finally:
            cache.live = False
            cache.forget_all()
        await asyncio.sleep(retry_s)


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def remembered(cache: CredentialCache, key: str, look: Callable[[], Awaitable[tuple[Any, datetime | None] | None]],
                     now: datetime) -> Any:
    """The value under `key`: remembered, or `look()`ed up (it answers the value and when it
    stops being valid, or None for a refusal, which is not kept)."""
    hit = cache.get(key)
    if hit is not None:
        return hit
    generation = cache.generation
    found = await look()
    if found is None:
        return None
    cache.put(key, found[0], generation, found[1], now)
    return found[0]


async def cached_actor(cache: CredentialCache, reader: Callable[[], Any], token: str, now: datetime) -> Actor:
    """The token's actor: remembered, or looked up in a thread (`reader()` is that thread's repo)."""
    digest = token_digest(token)

    async def look() -> tuple[Actor, datetime | None] | None:
        found = await asyncio.to_thread(lambda: reader().token_grant(digest, now))
        return None if found is None else (to_actor(found[0]), found[1])

    who = await remembered(cache, "token:" + digest, look, now)
    if who is None:
        raise invalid_token()
    return who  # type: ignore[no-any-return]
