"""The stream's jobs in a serving process: the outbox publisher (NATS JetStream, and Kafka when
configured) and the readings consumer (a JetStream durable pull consumer).

Delivery is at least once, made exactly once by ids: a row is marked published only after its
PubAck, so a crash between the two publishes it again; JetStream drops the second copy within
its duplicate window (header Nats-Msg-Id = the event id) and a consumer drops any later one by
the payload's `event_id`. Rows go out in outbox id order on one connection, so events of one
case or one datastream keep their order (see `publish_pending` for the one exception).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from cityops.store.codec import to_us
from cityops.stream import outbox
from cityops.stream.models import (
    DEFAULT_KAFKA_TOPIC,
    DEFAULT_ROOT,
    DEFAULT_STREAM,
    KAFKA_CURSOR_SETTING,
    KAFKA_SETTING,
    KAFKA_TOPIC_SETTING,
    NATS_SETTING,
    READINGS_DURABLE,
    ROOT_SETTING,
    STREAM_SETTING,
    envelope,
    inbound_readings,
    iso_utc,
)

if TYPE_CHECKING:
    from cityops.core import Platform
    from cityops.detect.columns import Columns
    from cityops.sensing.ingest import Rejects

log = logging.getLogger("cityops.stream")
BATCH = 500  # outbox rows read (and marked) at a time
IDLE_SECONDS = 0.2  # the wait when the outbox is empty
RETRY_SECONDS = 1.0
ACK_SECONDS = 5.0  # a PubAck later than this: the row goes again in the next round
MARKS_IN_FLIGHT = 4  # rounds sent whose marks the write process has not committed yet
SNAPSHOT_EVERY = timedelta(hours=1)  # an indicator snapshot on the stream this often
SNAPSHOT_SETTING = "stream.snapshot_at"


def is_publisher(platform: Platform) -> bool:
    """Whether this server runs the once-only jobs (publishing, snapshots). Every server may
    consume readings (they share one durable consumer); only one should publish. A single server
    always does; with several, leader election gates them here (cityops.leader)."""
    leadership = platform.leadership
    return leadership is None or bool(leadership.is_leader)


@dataclass(frozen=True)
class StreamConfig:
    nats: str | None
    stream: str
    root: str
    kafka: str | None
    kafka_topic: str


def load_config(platform: Platform) -> StreamConfig:
    with platform.store.read() as repo:
        get = repo.get_setting
        return StreamConfig(get(NATS_SETTING) or None, get(STREAM_SETTING) or DEFAULT_STREAM,
                            get(ROOT_SETTING) or DEFAULT_ROOT, get(KAFKA_SETTING) or None,
                            get(KAFKA_TOPIC_SETTING) or DEFAULT_KAFKA_TOPIC)


# Write ops (module level: they run in the write process) ----------------------------------

def record_event(repo: Any, platform: Any, kind: str, key: str, data: dict[str, Any]) -> None:
    from cityops import hooks

    hooks.event(repo, kind, key, data)


def record_snapshot(repo: Any, platform: Any, data: dict[str, Any], now: datetime) -> None:
    record_event(repo, platform, "indicators.snapshot", "indicators", data)
    repo.set_setting(SNAPSHOT_SETTING, str(to_us(now)))


def set_kafka_cursor(repo: Any, platform: Any, cursor: int) -> None:
    repo.set_setting(KAFKA_CURSOR_SETTING, str(cursor))


# Indicator snapshots -----------------------------------------------------------------------

def indicator_snapshot(platform: Platform, now: datetime) -> dict[str, Any]:
    """The national indicators per district as of `now` (computed on a read snapshot)."""
    from cityops.evaluate.service import indicators

    with platform.store.read() as repo:
        frame = indicators(repo, "district", now, total=True)
    return {"by": "district", "as_of": iso_utc(now), "rows": frame.to_dicts()}


async def snapshot_if_due(platform: Platform) -> bool:
    from cityops.core import utcnow

    now = utcnow()
    last = int(await platform.aread(lambda repo: repo.get_setting(SNAPSHOT_SETTING)) or 0)
    if last and to_us(now) - last < SNAPSHOT_EVERY.total_seconds() * 1e6:  # type: ignore[operator]
        return False
    data = await asyncio.to_thread(indicator_snapshot, platform, now)
    await platform.awrite(record_snapshot, data, now)
    return True


# NATS JetStream: publishing ----------------------------------------------------------------

async def connect(url: str) -> Any:
    import nats

    return await nats.connect(url, connect_timeout=2, reconnect_time_wait=1, max_reconnect_attempts=-1,
                              allow_reconnect=True)


async def ensure_stream(js: Any, cfg: StreamConfig) -> None:
    """The stream on `<root>.>`: events (<root>.v1.>) and readings in (<root>.in.>)."""
    from nats.js.errors import NotFoundError

    try:
        await js.stream_info(cfg.stream)
    except NotFoundError:
        await js.add_stream(name=cfg.stream, subjects=[f"{cfg.root}.>"])


def _pending(platform: Platform, limit: int, skip: Collection[int] = ()) -> list[outbox.Row]:
    with platform.store.read() as repo:
        return outbox.unpublished(repo.conn, limit, skip)


class Marks:
    """Marking acknowledged rows published without waiting for it: the next round is read and
    sent while the write process commits the marks (a busy writer's queue held each round of
    the publisher a batch long: 1,900 events/s of a megacity's day, behind its steps at the end).
    Rows acknowledged but not yet marked are left out of the next reads; a mark that fails
    leaves its rows unpublished, to go again (JetStream drops the copy by its Nats-Msg-Id)."""

    def __init__(self, platform: Platform, in_flight: int = MARKS_IN_FLIGHT) -> None:
        self.platform, self.in_flight = platform, in_flight
        self.acked: set[int] = set()
        self._tasks: list[asyncio.Task[Any]] = []

    async def mark(self, ids: list[int], at_us: int | None) -> None:
        self.acked.update(ids)
        task = asyncio.create_task(self.platform.awrite(outbox.mark_published, ids, at_us))
        task.add_done_callback(lambda t: self._settled(t, ids))
        self._tasks.append(task)
        while len(self._tasks) > self.in_flight:
            await asyncio.wait([self._tasks[0]])  # the oldest mark: no more than a few waiting

    def _settled(self, task: asyncio.Task[Any], ids: list[int]) -> None:
        self.acked.difference_update(ids)
        self._tasks.remove(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("marking %d published events failed (they go again): %s", len(ids), task.exception())

    async def drain(self) -> None:
        """Wait for every mark sent (on stopping: what was published is recorded as such)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks))


def message(row: outbox.Row) -> tuple[str, bytes, str]:
    """(subject below the root, body, event id) of an outbox row."""
    row_id, subject, _key, payload = row
    body = envelope(row_id, orjson.loads(payload))
    return subject, orjson.dumps(body), str(body["event_id"])


async def publish_pending(platform: Platform, js: Any, cfg: StreamConfig, limit: int = BATCH,
                          marks: Marks | None = None) -> int:
    """Publish up to `limit` unpublished rows, then mark those acknowledged. They are sent in id
    order without waiting for each PubAck (pipelined, as JetStream's async publish does); only
    the acknowledged prefix is marked: a row after a failed one goes again in the next round,
    where JetStream drops it as a duplicate. The one break of per-key order: JetStream refusing
    (or never answering) one row while storing a later row of the same case in the same round;
    the refused row then lands after it (consumers can sort one case's steps by `seq`). With
    `marks`, the marking is left to it (not awaited)."""
    from cityops.core import utcnow

    rows = await asyncio.to_thread(_pending, platform, limit, sorted(marks.acked) if marks else ())
    done: list[int] = []
    try:
        futures = []
        for row in rows:
            subject, body, event_id = message(row)
            futures.append(await js.publish_async(f"{cfg.root}.{subject}", body, stream=cfg.stream,
                                                  headers={"Nats-Msg-Id": event_id, "Cityops-Key": row[2]}))
        for row, future in zip(rows, futures, strict=True):
            await asyncio.wait_for(future, ACK_SECONDS)
            done.append(row[0])
    finally:  # what was acknowledged is marked even when a later publish failed
        if done and marks is not None:
            await marks.mark(done, to_us(utcnow()))
        elif done:
            await platform.awrite(outbox.mark_published, done, to_us(utcnow()))
    return len(done)


async def _connected(cfg: StreamConfig, what: str, work: Callable[[Any], Awaitable[None]]) -> None:
    """Run `work(js)` on a JetStream connection for as long as the server serves: the broker away
    or the write process restarting is logged and retried shortly on a new connection."""
    assert cfg.nats
    while True:
        nc = None
        try:
            nc = await connect(cfg.nats)
            js = nc.jetstream()
            await ensure_stream(js, cfg)
            await work(js)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; retrying", what)
            await asyncio.sleep(RETRY_SECONDS)
        finally:
            if nc is not None:
                with contextlib.suppress(Exception):
                    await nc.close()


async def publisher(platform: Platform, cfg: StreamConfig) -> None:
    async def publish(js: Any) -> None:
        marks = Marks(platform)
        try:
            while True:
                n = 0
                if is_publisher(platform):
                    await snapshot_if_due(platform)
                    n = await publish_pending(platform, js, cfg, marks=marks)
                if n < BATCH:
                    await asyncio.sleep(IDLE_SECONDS)
        finally:
            await asyncio.shield(marks.drain())

    await _connected(cfg, "publishing the event stream", publish)


# NATS JetStream: readings in ---------------------------------------------------------------

def readings_columns(messages: list[tuple[str, bytes]], rejects: Rejects) -> Columns:
    """(subject, body) messages → readings; malformed ones refused and counted by reason."""
    from cityops.detect.columns import Columns
    from cityops.sensing.ingest import parse_time

    ds: list[int] = []
    ts: list[int] = []
    rs: list[float] = []
    n = 0
    for subject, data in messages:
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError:
            n += 1
            rejects.add(n, "malformed_json", subject)
            continue
        items = inbound_readings(subject.rsplit(".", 1)[-1], body)
        if items is None:
            n += 1
            rejects.add(n, "bad_subject", subject)
            continue
        for d, when, result in items:
            n += 1
            t = parse_time(when)
            if d <= 0:
                rejects.add(n, "bad_datastream", subject)
            elif t is None:
                rejects.add(n, "bad_time", repr(when)[:80])
            elif isinstance(result, bool) or not isinstance(result, int | float) or not math.isfinite(result):
                rejects.add(n, "bad_result", repr(result)[:80])
            else:
                ds.append(d)
                ts.append(t)
                rs.append(float(result))
    return Columns.of(ds, ts, rs)


async def consume_once(platform: Platform, sub: Any, batch: int = 1000, timeout: float = 1.0) -> int:
    """Fetch a batch, store it as one ingest (the HTTP/MQTT rules and detectors), then ack."""
    import nats.errors

    from cityops.core import utcnow
    from cityops.sensing.ingest import Rejects, ingest_client

    try:
        msgs = await sub.fetch(batch=batch, timeout=timeout)
    except (TimeoutError, nats.errors.TimeoutError):  # nats-py raises either when nothing came
        return 0
    rejects = Rejects()
    cols = readings_columns([(m.subject, m.data) for m in msgs], rejects)
    try:
        await platform.awrite(ingest_client, cols, rejects, utcnow())
    except Exception:
        for m in msgs:  # not stored: let JetStream redeliver them (to this server or another)
            with contextlib.suppress(Exception):
                await m.nak(delay=RETRY_SECONDS)
        raise
    for m in msgs:  # acked only after the commit
        await m.ack()
    return len(msgs)


async def readings_consumer(platform: Platform, cfg: StreamConfig) -> None:
    async def consume(js: Any) -> None:
        sub = await js.pull_subscribe(f"{cfg.root}.in.readings.>", durable=READINGS_DURABLE, stream=cfg.stream)
        while True:
            await consume_once(platform, sub)

    await _connected(cfg, "consuming readings from the stream", consume)


# The server's handle -----------------------------------------------------------------------

class Streamer:
    """The stream's background tasks while a server serves."""

    def __init__(self, tasks: list[asyncio.Task[None]]) -> None:
        self.tasks = tasks

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t


async def start_stream(platform: Platform) -> Streamer | None:
    """Start the publisher and the readings consumer when the settings name NATS, and the Kafka
    sink when they name Kafka; None when neither does."""
    from cityops.stream.kafka import kafka_sink

    cfg = load_config(platform)
    tasks: list[asyncio.Task[None]] = []
    if cfg.nats:
        tasks += [asyncio.create_task(publisher(platform, cfg)),
                  asyncio.create_task(readings_consumer(platform, cfg))]
    if cfg.kafka:
        tasks.append(asyncio.create_task(kafka_sink(platform, cfg)))
    return Streamer(tasks) if tasks else None
