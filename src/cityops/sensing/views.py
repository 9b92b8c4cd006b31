"""POST /api/v1/observations: a batch of readings as NDJSON or an Arrow IPC stream."""

from __future__ import annotations

import asyncio

from fastapi import Request

from cityops import timebounds
from cityops.api.deps import ActorDep, PlatformDep, require
from cityops.api.responses import JSON
from cityops.api.routing import feature_router
from cityops.cases.models import Role
from cityops.core import utcnow
from cityops.errors import CityopsError
from cityops.sensing.ingest import ARROW, NDJSON, ingest_client, parse_arrow, parse_ndjson
from cityops.sensing.mqtt import publish_detections

router = feature_router("/api/v1", "sensing")


class UnsupportedMediaType(CityopsError):
    status = 415
    code = "unsupported_media_type"


@router.post("/observations")
async def post_observations(request: Request, platform: PlatformDep, actor: ActorDep) -> JSON:
    """观测数据批量写入 / A batch of readings: `application/x-ndjson` (one
    `{"datastream", "phenomenonTime", "result"}` per line) or `application/vnd.apache.arrow.stream`
    (the same three columns). Needs a `sensor` or `admin` token. Answers `accepted`, `stored`,
    `duplicates`, `rejected` and the reasons; the batch is on disk when the answer comes.
    Refused per reading (and counted in `cityops sensing stats`): times outside the city's window
    (5 min ahead, `sensing.past_days` back), results outside their kind's plausible range,
    datastreams another sensor user owns."""
    require(actor, Role.SENSOR)
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    body = await request.body()
    now = utcnow()
    now_ms = int(now.timestamp() * 1000)
    window = await platform.aread(timebounds.window, True)
    if kind == ARROW:
        cols, rejects = parse_arrow(body, now_ms, window)
    elif kind in (NDJSON, "application/jsonl", "application/json-seq"):
        # A big NDJSON batch parses line by line: off the event loop.
        parse = parse_ndjson if len(body) < 1_000_000 else None
        cols, rejects = parse(body, now_ms, window) if parse else await asyncio.to_thread(
            parse_ndjson, body, now_ms, window)
    else:
        raise UnsupportedMediaType(
            f"Content-Type must be {NDJSON} or {ARROW}, not '{kind or 'none'}'",
            f"Content-Type 须为 {NDJSON} 或 {ARROW}",
        )
    # Sorted here, beside the parse: the write process (one for every write) gets ordered columns.
    # A sensor token writes its own datastreams and unowned ones; an admin's, any.
    writer = actor.name if actor.role is Role.SENSOR else None
    result = await platform.awrite(ingest_client, cols.sorted(), rejects, now, writer, False, actor.name)
    publish_detections(request.app.state, result.detections)
    return JSON(result.to_dict())


@router.get("/sensing/stats")
def sensing_stats(platform: PlatformDep, actor: ActorDep) -> JSON:
    """感知计数 / Readings accepted, stored, duplicate, and refused by reason (`rejected:implausible`,
    `rejected:not_owner`, `rejected:time_out_of_range`, …) on every write path since the
    database began: the figures `cityops sensing stats` prints. Supervisor or admin."""
    from cityops.sensing.store import counters

    require(actor, Role.SUPERVISOR)
    with platform.store.read() as repo:
        found = counters(repo.conn)
    return JSON({k: v for k, v in found.items() if not k.endswith("_version")})
