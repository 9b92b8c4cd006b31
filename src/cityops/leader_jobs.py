"""The server's once-only background jobs, run by the leader alone (see leader.py).

- the sweep, every `every` seconds: escalation (督办) of overdue cases and removal of expired
  tokens, in one write transaction that also records the period it ran for, so that a new
  leader taking over does not sweep a second time in the same period (at most one sweep per
  period across all servers, even around a failover);
- the notification sender (its claims already keep two senders from sending one message twice);
- segment compaction (sensing/compact.py), one chunk of LEADER_CHUNK datastreams in one write
  transaction a round (tens of milliseconds of the write process), the next chunk on the next
  round: a second after a chunk that merged something, so compaction keeps up with a feed of
  any size, `every` seconds after one that found nothing. A leader's restart or a failover goes
  on where the last chunk ended (re-running one is harmless).

Retraining is a command (`cityops intel retrain`), not a server job; the dashboard's live feed
and the MQTT bridge run on every server.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

log = logging.getLogger("cityops")
SWEPT_KEY = "jobs.sweep.period"  # settings row: the last period swept (now // every)
RUNS_KEY = "jobs.sweep.runs"  # settings row: how many sweeps ran, for operators and tests


def minute_sweep(repo: Any, platform: Any, now: datetime, every: float) -> list[int] | None:
    """Sweep once for the period `now` falls in; None when that period was swept already."""
    from cityops.auth.service import purge_expired_tokens
    from cityops.cases.service import sweep_overdue

    period = int(now.timestamp() // every)
    last = repo.get_setting(SWEPT_KEY)
    if last is not None and int(last) >= period:
        return None
    repo.set_setting(SWEPT_KEY, str(period))
    repo.set_setting(RUNS_KEY, str(int(repo.get_setting(RUNS_KEY) or 0) + 1))
    escalated = sweep_overdue(repo, platform, now)
    purge_expired_tokens(repo, platform, now)
    return escalated


async def sweep_loop(platform: Any, every: float) -> None:
    from cityops.core import utcnow

    while True:
        try:
            await platform.awrite(minute_sweep, utcnow(), every)
        except asyncio.CancelledError:
            raise
        except Exception:  # say a write process restarting: try again next round
            log.exception("the minute's sweep failed")
        await asyncio.sleep(every)


LEADER_CHUNK = 100  # datastreams a round: a small transaction, so writes behind it wait little
BUSY_PAUSE = 1.0  # seconds between rounds while there is merging to do


async def compact_loop(platform: Any, every: float) -> None:
    from cityops.sensing.compact import compact_op

    while True:
        pause = every
        try:  # each chunk starts where the last one (of this leader or the one before) ended
            done = await platform.awrite(compact_op, None, LEADER_CHUNK)
            if done.merged:
                log.debug("compaction: %d segments merged away, %d readings rewritten", done.merged, done.readings)
                pause = min(every, BUSY_PAUSE)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("segment compaction failed")
        await asyncio.sleep(pause)


def once_only_jobs(platform: Any, every: float) -> list[asyncio.Task[Any]]:
    """Start the leader's jobs; `lead()` cancels them when leadership is lost."""
    from cityops.notify.sender import worker as notify_worker

    return [asyncio.create_task(sweep_loop(platform, every)), asyncio.create_task(notify_worker(platform)),
            asyncio.create_task(compact_loop(platform, every))]
