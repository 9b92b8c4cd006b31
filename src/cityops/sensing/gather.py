"""Single readings (a SensorThings `POST …/Observations` each) gathered into one ingest.

Most gateways post one Observation at a time. Each on its own would run the whole ingest
(datastream table, duplicate check, segment merge, detectors) once per reading; gathered,
the readings that arrive while one write is in flight go to the write process together as
one `ingest_each`, which stores and checks them as one batch, in the group commit every
write shares. Each caller is still answered only after that COMMIT, with its own reading's
outcome: stored, duplicate or an unknown datastream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from cityops.detect.columns import Columns, Detection, Groups
from cityops.sensing.ingest import Rejects, _screen, ingest
from cityops.sensing.store import (
    _already_stored,
    _stored_in_ranges,
    bump,
    datastream_meta,
    set_features,
    set_result_times,
)

if TYPE_CHECKING:
    from cityops.core import Platform

STORED, DUPLICATE, UNKNOWN = "stored", "duplicate", "unknown_datastream"
NO_FEATURE = "no_feature_of_interest"
MAX_GATHER = 4096  # readings in one ingest


@dataclass(frozen=True)
class Gathered:
    outcomes: list[str]  # per reading, in the order given
    detections: list[Detection]


def ingest_each(repo: Any, platform: Platform, ds: list[int], t: list[int], r: list[float], now: datetime,
                writers: list[str | None] | None = None, senders: list[str | None] | None = None,
                result_times: list[int | None] | None = None, features: list[int | None] | None = None
                ) -> Gathered:
    """Write op: store these readings as one batch (detectors and cases as `ingest`) and say
    what became of each: the first of equal keys wins, in the order given. Each reading is
    held to the time window, plausibility and its writer's ownership as a batch's are; a
    refused one's outcome is the reason (`implausible`, `not_owner`, …), counted here.
    `result_times` and `features`: each reading's SensorThings resultTime (µs) and its own
    FeatureOfInterest, kept for those stored; with `features`, a reading without one needs its
    Datastream's (made from its Thing's Location), else it is refused (`no_feature_of_interest`)."""
    from cityops.timebounds import window

    cols = Columns(np.array(ds, np.int64), np.array(t, np.int64), np.array(r, np.float64), False)
    writers = writers or [None] * len(ds)
    senders = senders or writers
    meta = datastream_meta(repo.conn)
    known = meta.known(cols.datastream)
    outcome = np.where(known, STORED, UNKNOWN).astype(object)
    rejects = Rejects()
    span = window(repo, readings=True)
    by_writer: dict[str | None, list[int]] = {}
    for k, w in enumerate(writers):
        by_writer.setdefault(w, []).append(k)
    for w, rows in by_writer.items():  # usually one gateway: one pass
        idx = np.array(rows, np.int64)
        group = np.zeros(len(ds), bool)
        group[idx] = True
        why = np.full(len(idx), "", object)
        _screen(repo, meta, cols.take(group), rejects, now, span, w, False, why)  # unknown ones too
        refused = why != ""
        outcome[idx[refused]] = why[refused]
    if features is not None:
        _need_features(repo.conn, ds, features, outcome, rejects)
    order = np.lexsort((np.arange(len(ds)), cols.t, cols.datastream))  # stable: the first given wins
    d_sorted, t_sorted = cols.datastream[order], cols.t[order]
    repeat = np.r_[False, (d_sorted[1:] == d_sorted[:-1]) & (t_sorted[1:] == t_sorted[:-1])]
    outcome[order[repeat & known[order]]] = DUPLICATE
    fresh = np.flatnonzero(outcome == STORED)
    if len(fresh):  # keys stored before: found in the segments that reach into their times
        mine = cols.take(outcome == STORED)
        sorted_mine = mine.sorted()
        g = Groups.of(sorted_mine)
        stored = _stored_in_ranges(repo.conn, g.ids, sorted_mine.t[g.starts], sorted_mine.t[g.ends - 1])
        if len(stored):
            outcome[fresh[_already_stored(mine, stored)]] = DUPLICATE
    keep = (outcome == STORED) | (outcome == DUPLICATE)
    detections: list[Detection] = []
    senders_arr = np.array(senders, object)
    if rejects.total:  # the refusals, counted once whatever is stored
        bump(repo.conn, {f"rejected:{k}": v for k, v in rejects.counts.items()})
    for sender in dict.fromkeys(senders_arr[keep].tolist()):  # cases name whoever sent the reading
        mask = keep & (senders_arr == sender)
        detections += ingest(repo, platform, cols.take(mask), Rejects(), now, sent_by=sender).detections
    kept = [k for k in fresh.tolist() if outcome[k] == STORED]
    if result_times is not None:
        set_result_times(repo.conn, [(ds[k], t[k], result_times[k]) for k in kept if result_times[k] is not None])
    if features is not None:
        set_features(repo.conn, [(ds[k], t[k], features[k]) for k in kept if features[k] is not None])
    return Gathered(outcome.tolist(), detections)


def _need_features(conn: Any, ds: list[int], features: list[int | None], outcome: Any, rejects: Rejects) -> None:
    """OGC 18-088 §8.2.8: an Observation given no FeatureOfInterest has its Datastream's, made
    from its Thing's Location; where there is none to make, it is refused. One query a batch."""
    from cityops.sensing.sta import feature_from_location

    bare = sorted({ds[k] for k in range(len(ds)) if features[k] is None and outcome[k] == STORED})
    if not bare:
        return
    query = "SELECT id FROM sta_datastream WHERE feature_id IS NULL AND id IN (SELECT value FROM json_each(?))"
    lacking = [int(r[0]) for r in conn.execute(query, (orjson.dumps(bare).decode(),))]
    if lacking:
        feature_from_location(conn, lacking)
        lacking = [int(r[0]) for r in conn.execute(query, (orjson.dumps(lacking).decode(),))]
    for k in range(len(ds)):
        if ds[k] in lacking and features[k] is None and outcome[k] == STORED:
            outcome[k] = NO_FEATURE
            rejects.counts[NO_FEATURE] += 1


class Gatherer:
    """One per server (event loop). The readings that reach it in one turn of the loop go to
    the write process as one ingest, without waiting for the writes already in flight: the
    write process commits whatever has arrived meanwhile as one transaction (group commit),
    so a reading waits for one round trip, not for the one before it too."""

    def __init__(self, platform: Platform, publish: Callable[[Sequence[Detection]], None] | None) -> None:
        self.platform = platform
        self.publish = publish
        self.pending: list[tuple[int, int, float, str | None, str | None, int | None, int | None, asyncio.Future[str]]] = []
        self.scheduled = False
        self.writes: set[asyncio.Task[None]] = set()  # held: a task nobody holds may be collected

    async def add(self, datastream: int, t: int, result: float, writer: str | None = None,
                  sent_by: str | None = None, result_time: int | None = None, feature: int | None = None) -> str:
        """The reading's outcome: STORED, DUPLICATE or the reason it was refused. `writer`: the
        sensor user whose ownership applies (None: an admin); `sent_by`: named on its cases;
        `result_time`, `feature`: its SensorThings resultTime (µs) and FeatureOfInterest, if given."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[str] = loop.create_future()
        self.pending.append((datastream, t, result, writer, sent_by, result_time, feature, fut))
        if not self.scheduled:
            self.scheduled = True
            loop.call_soon(self._send)  # after every request ready in this turn has added its own
        return await fut

    def _send(self) -> None:
        self.scheduled = False
        batch, self.pending = self.pending, []
        for start in range(0, len(batch), MAX_GATHER):
            task = asyncio.get_running_loop().create_task(self._write(batch[start:start + MAX_GATHER]))
            self.writes.add(task)
            task.add_done_callback(self.writes.discard)

    async def _write(self, batch: list[tuple[int, int, float, str | None, str | None, int | None, int | None,
                                            asyncio.Future[str]]]) -> None:
        from cityops.core import utcnow

        try:
            done = await self.platform.awrite(ingest_each, [b[0] for b in batch], [b[1] for b in batch],
                                              [b[2] for b in batch], utcnow(), [b[3] for b in batch],
                                              [b[4] for b in batch],
                                              [b[5] for b in batch] if any(b[5] is not None for b in batch) else None,
                                              [b[6] for b in batch])
        except BaseException as exc:  # every caller of the batch is told, whatever happened
            for *_, fut in batch:
                if not fut.done():
                    fut.set_exception(exc if isinstance(exc, Exception) else RuntimeError("server stopping"))
            if not isinstance(exc, Exception):
                raise
            return
        for (*_, fut), outcome in zip(batch, done.outcomes, strict=True):
            if not fut.done():
                fut.set_result(outcome)
        if done.detections and self.publish is not None:
            self.publish(done.detections)
