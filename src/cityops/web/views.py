"""HTTP for the dashboard: the page itself, its static files, the map layers, the trend,
the history replay and the Server-Sent Events stream of case changes.

Everything with case data answers only with a bearer token and is scoped like the case API:
a department operator gets only its department's cases. The base map (the city pack's
geography) and the page's files are public, so the big screen paints before anyone logs in.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from cityops.api.deps import ActorDep, PlatformDep
from cityops.api.routing import feature_router
from cityops.cases import names
from cityops.cases.models import Actor, Role
from cityops.core import Platform, utcnow
from cityops.errors import CityopsError, InvalidInput
from cityops.geo.models import CityPack
from cityops.timefmt import iso
from cityops.web import layers as layer_defs
from cityops.web import queries, sensorlayers
from cityops.web.feed import ChangeFeed, LayerSource

STATIC = Path(__file__).parent / "static"
# A stream ends after this and the page reconnects at once with Last-Event-ID, missing
# nothing. Short, because a server stopping (Ctrl-C) waits for open responses to finish.
STREAM_LIFETIME_S = 20.0
KEEPALIVE_S = 15.0

router = feature_router("", "dashboard")


class NotYet(CityopsError):
    """A replay of a moment that has not come: 400, the request itself is wrong whatever its form."""

    code = "not_yet"
router.mount("/static", StaticFiles(directory=STATIC), name="static")


def _department(actor: Actor) -> str | None:
    if actor.role is Role.DEPARTMENT:
        return actor.department or "\x00none"
    return None


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})


@router.get("/api/v1/dashboard/layers", summary="The map layers the dashboard draws (the layer hook)")
def get_layers() -> dict[str, Any]:
    return {"layers": layer_defs.layers()}


@router.get("/api/v1/dashboard/basemap", summary="The city pack's geography: districts, grid rasters, patrols, points")
def basemap(request: Request, platform: PlatformDep) -> Response:
    body, packed = _basemap_bytes(platform.city)
    headers = {"cache-control": "max-age=300", "vary": "accept-encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(packed, media_type="application/json", headers={**headers, "content-encoding": "gzip"})
    return Response(body, media_type="application/json", headers=headers)


@lru_cache(maxsize=4)
def _basemap_bytes(city: CityPack) -> tuple[bytes, bytes]:
    """The base map as JSON and gzipped (the rasters are mostly empty cells: ~1.2 MB → a tenth)."""
    body = orjson.dumps(layer_defs.basemap(city))
    return body, gzip.compress(body, 6)


@router.get("/api/v1/dashboard/cases", summary="Open cases as columns (the live map layer)")
def open_cases(platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    now = utcnow()
    with platform.store.read() as repo:
        out = queries.open_cases(repo.conn, now, _department(actor))
    return {"now": iso(now, platform.calendar.zone), **out}


@router.get("/api/v1/dashboard/snapshot", summary="Open cases as they stood at a past time (history replay)")
def snapshot(platform: PlatformDep, actor: ActorDep, at: datetime) -> dict[str, Any]:
    _aware(at)
    now = utcnow()
    if at > now:
        # The history cannot say how a later hour will stand; the page offers only hours begun.
        raise NotYet(f"replay time {iso(at, platform.calendar.zone)} is after now "
                           f"({iso(now, platform.calendar.zone)}): only times that have passed can be replayed",
                           "回放时间晚于当前时间：只能回放已经过去的时刻")
    with platform.store.read() as repo:
        return queries.snapshot(repo.conn, at, _department(actor))


@router.get("/api/v1/dashboard/trend", summary="受理/立案/结案 per hour or day")
def trend(
    platform: PlatformDep, actor: ActorDep,
    start: Annotated[datetime, Query(alias="from")],
    end: Annotated[datetime, Query(alias="to")],
    bucket: Annotated[str, Query(pattern="^(hour|day)$")] = "hour",
) -> dict[str, Any]:
    _aware(start)
    _aware(end)
    size = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
    if end <= start or (end - start) / size > 24 * 93:
        raise InvalidInput("from must be before to, and at most 2,232 buckets apart", "时间范围有误")
    with platform.store.read() as repo:
        return queries.trend(repo.conn, start, end, size, _department(actor), utcnow())


@router.get("/api/v1/names", summary="Names (zh, en) of every list of values: statuses, actions, roles, channels, levels")
def vocabularies() -> dict[str, Any]:
    return {kind: {code: list(pair) for code, pair in table.items()} for kind, table in names.vocabularies().items()}


@router.get("/api/v1/channels", summary="The channels the cases you may see came in by, with their counts")
def channels(platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    with platform.store.read() as repo:
        rows = queries.channels(repo.conn, _department(actor))
    return {"channels": [{"code": code, "label": list(names.source_names(code)), "count": n} for code, n in rows]}


@router.get("/api/v1/dashboard/gauges", summary="Water gauges: latest depth, thresholds, level (map layer)")
def gauge_layer(platform: PlatformDep) -> dict[str, Any]:
    with platform.store.read() as repo:
        return sensorlayers.gauges(repo.conn)


@router.get("/api/v1/dashboard/detectors", summary="Traffic detectors: latest speed and level (map layer)")
def detector_layer(platform: PlatformDep) -> dict[str, Any]:
    with platform.store.read() as repo:
        return sensorlayers.detectors(repo.conn)


@router.get("/api/v1/dashboard/warnings", summary="Active warnings with their CAP areas (map layer)")
def warning_layer(platform: PlatformDep) -> dict[str, Any]:
    with platform.store.read() as repo:
        return sensorlayers.warnings(repo.conn, platform.city, utcnow())


def _feed(platform: Platform, request: Request) -> ChangeFeed:
    feed: ChangeFeed | None = getattr(request.app.state, "dashboard_feed", None)
    if feed is None:
        pushed = {k: _now(source, platform.city) for k, source in layer_defs.sources().items()}
        feed = request.app.state.dashboard_feed = ChangeFeed(platform.store.connect, layers=pushed)
    return feed


def _now(source: layer_defs.Source, city: CityPack) -> LayerSource:
    """A layer's source for the feed: the city bound, the time read at each rebuild."""
    return lambda conn: source(conn, city, utcnow())


@router.get("/api/v1/dashboard/events", summary="Server-Sent Events: case changes as they are committed, and live layers")
async def events(request: Request, platform: PlatformDep, actor: ActorDep) -> StreamingResponse:
    return _stream(request, _feed(platform, request), _department(actor), cases=True)


@router.get("/api/v1/dashboard/layer-events", summary="Server-Sent Events: the public live layers (gauges, detectors, warnings)")
async def layer_events(request: Request, platform: PlatformDep) -> StreamingResponse:
    return _stream(request, _feed(platform, request), None, cases=False)


def _stream(request: Request, feed: ChangeFeed, department: str | None, cases: bool) -> StreamingResponse:
    last = request.headers.get("last-event-id", "")
    resumed = feed.subscribe(department, int(last) if last.isdigit() else None, cases)
    # None: what it missed is no longer kept; a fresh stream, and the page reloads the layer.
    sub = resumed if resumed is not None else feed.subscribe(department, None, cases)
    assert sub is not None  # without last_seq a subscription always starts
    hello = b'{"reload": %s, "seq": %d}' % (b"false" if resumed is not None else b"true", feed.seq)

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield b"retry: 2000\nevent: hello\ndata: " + hello + b"\n\n"
            ends = time.monotonic() + STREAM_LIFETIME_S
            while time.monotonic() < ends:
                try:
                    item = await asyncio.wait_for(sub.queue.get(), max(0.0, min(KEEPALIVE_S, ends - time.monotonic())))
                except TimeoutError:
                    if time.monotonic() >= ends or await request.is_disconnected():
                        return
                    yield b": keepalive\n\n"
                    continue
                kind = b"layer" if "layer" in item else b"cases"
                yield b"id: %d\nevent: %s\ndata: %s\n\n" % (item["seq"], kind, orjson.dumps(item))
        finally:
            feed.unsubscribe(sub)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


def _aware(dt: datetime) -> None:
    if dt.tzinfo is None:
        raise InvalidInput("times need a zone, e.g. 2026-11-27T09:00:00+08:00", "时间必须带时区")
