"""OGC SensorThings API 1.1 at /sta/v1.1 over the sensing tables: the routes (deviations on purpose:
DEVIATIONS, docs/sensing.md).

Reads (staread.py, in worker threads, with cost bounds): every entity set, one entity, its
navigation properties, a property and its `$value`, `$ref`; `$filter` and `$orderby`
(navigation paths too), `$expand` (nested, with options), `$select`, `$top`, `$skip`,
`$count`, an absolute `@iot.nextLink`. Open by default (public sensor data, as FROST); the
setting `sensing.read_requires_token` = 1 makes them need a bearer token. Writes: POST of every
entity set and on navigation links, deep insert with inline Observations (201 with `Location`;
single Observations gathered, gather.py), the `CreateObservations` dataArray extension, PATCH
(JSON merge or JSON Patch), PUT, DELETE, `$ref` links (SensorThings 1.1 §10), with a `sensor`
or `admin` token, through the write process; HistoricalLocations made as a Thing moves;
detections are published on MQTT as every write path's are. Malformed requests are 400
(api/app.py maps the project's 422 for this prefix).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Any

import anyio
import numpy as np
import orjson
from fastapi import Request, Response

from cityops.api.deps import actor, require
from cityops.api.responses import JSON
from cityops.api.routing import feature_router
from cityops.cases.models import Actor, Role
from cityops.core import Platform, utcnow
from cityops.detect.columns import Columns, Detection
from cityops.errors import Conflict, Forbidden, InvalidInput, NotFound
from cityops.sensing import staread
from cityops.sensing.gather import DUPLICATE, NO_FEATURE, STORED, Gatherer
from cityops.sensing.ingest import (
    ReadingRefused,
    check_plausible,
    count_refused,
    ingest_client,
    parse_time,
)
from cityops.sensing.mqtt import publish_detections
from cityops.sensing.staread import SETS, entity_id, iso, render
from cityops.sensing.store import (
    EPOCH_MS,
    MAX_DATASTREAM,
    SEGMENT_TABLES,
    bump,
    change_reading,
    delete_datastreams,
    insert_columns,
    observation_id,
    read_ranges,
    set_features,
    set_result_times,
    split_observation_id,
)
from cityops.store.codec import to_us
from cityops.timebounds import TimeWindow

router = feature_router("/sta/v1.1", "sensorthings")
PREFIX = "/sta/v1.1"
READ_SETTING = "sensing.read_requires_token"
TABLES = {"Things": "sta_thing", "Locations": "sta_location", "Sensors": "sta_sensor",
          "ObservedProperties": "sta_observed_property", "Datastreams": "sta_datastream",
          "FeaturesOfInterest": "sta_feature", "HistoricalLocations": "sta_historical_location"}
# Reads run in worker threads, this many at once: more would only share the same cores
# (and the GIL) while the event loop, which answers everything else, waits its turn.
READS = anyio.CapacityLimiter(2)
JSON_PATCH = "application/json-patch+json"


_REQ = "http://www.opengis.net/spec/iot_sensing/1.1/req/"
# What is implemented, and only that (no batch requests, no MultiDatastreams, no MQTT
# subscriptions to entity topics; MQTT Observations come on each gateway's own prefixed topic,
# not the standard's, so that class is not claimed: docs/sensing.md).
CONFORMANCE = [_REQ + c for c in (
    "datamodel", "resource-path/resource-path-to-entities", "request-data", "create-update-delete",
    "create-update-delete/create-entity", "create-update-delete/link-to-existing-entities",
    "create-update-delete/deep-insert", "create-update-delete/deep-insert-status-code",
    "create-update-delete/update-entity", "create-update-delete/update-entity-jsonpatch",
    "create-update-delete/delete-entity", "create-update-delete/historical-location-auto-creation",
    "data-array/data-array",
)]
# Where cityops departs from OGC 18-088 on purpose (its storage of readings): also in docs/sensing.md.
DEVIATIONS = [
    "Observation.phenomenonTime is an instant (no intervals) and result a finite number; an Observation's id"
    " follows its (Datastream, phenomenonTime), so its phenomenonTime cannot change",
    "Observation.parameters, resultQuality and validTime are accepted and not stored",
    "an Observation given no FeatureOfInterest has its Datastream's, made from its Thing's Location when the"
    " Datastream's first one came (not made again as the Thing moves)",
    "Observations are held to the city's window for readings: a phenomenonTime at most 5 minutes ahead of the"
    " server's clock, at most sensing.past_days (default 10,000) back and not before 2000-01-01; others are a 400"
    " (time_out_of_range), as are results outside their kind's plausible range (implausible)",
    "Locations and FeaturesOfInterest are GeoJSON Points",
    "a Datastream gives no phenomenonTime, resultTime or observedArea (they would be computed per read)",
    "description may be left out (read as \"\")",
    "a new Location of a Thing replaces its earlier ones (as FROST-Server)",
    "Observations over MQTT are taken on cityops/gw/<user>/v1.1/Datastreams(id)/Observations (the standard's topic"
    " behind each gateway's authenticated prefix), not on v1.1/Datastreams(id)/Observations; that class is not"
    " claimed",
]


# Routes -----------------------------------------------------------------------------------

def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


async def _may_read(request: Request, platform: Platform) -> None:
    if await platform.aread(lambda repo: repo.get_setting(READ_SETTING) == "1"):
        await actor(request)


@router.get("")
@router.get("/")
async def root(request: Request) -> dict[str, Any]:
    """The service root: entity sets and conformance classes."""
    platform: Platform = request.app.state.platform
    await _may_read(request, platform)
    base = _base(request)
    return {
        "value": [{"name": n, "url": f"{base}/{n}"} for n in SETS],
        "serverSettings": {"conformance": CONFORMANCE, "cityops:deviations": DEVIATIONS},
    }


@router.get("/{path:path}")
async def read(path: str, request: Request) -> Response:
    """GET any resource. The query runs in a worker thread (a few at a time: READS), so that
    a costly one never holds up the event loop, and its cost is bounded before it runs."""
    platform: Platform = request.app.state.platform
    await _may_read(request, platform)
    body, media = await anyio.to_thread.run_sync(staread.read, platform, path, dict(request.query_params),
                                                 _base(request), limiter=READS)
    if media == "text/plain":
        return Response(body, media_type=media)
    return await anyio.to_thread.run_sync(JSON, body, limiter=READS)


# Writes -----------------------------------------------------------------------------------

def _text(body: dict[str, Any], key: str, required: bool = True) -> str:
    value = body.get(key, "" if not required else None)
    if not isinstance(value, str):
        raise InvalidInput(f"'{key}' is required (a string)", f"缺少 {key}（字符串）")
    return value


def _lonlat(geo: Any, key: str) -> tuple[float, float]:
    if isinstance(geo, dict) and geo.get("type") == "Feature":
        geo = geo.get("geometry")
    if not (isinstance(geo, dict) and geo.get("type") == "Point" and isinstance(geo.get("coordinates"), list)
            and len(geo["coordinates"]) >= 2 and all(isinstance(c, int | float) for c in geo["coordinates"][:2])):
        raise InvalidInput(f"'{key}' must be a GeoJSON Point", f"{key} 须为 GeoJSON 点")
    return float(geo["coordinates"][0]), float(geo["coordinates"][1])


def _props(body: dict[str, Any]) -> str:
    p = body.get("properties", {})
    if not isinstance(p, dict):
        raise InvalidInput("'properties' must be an object", "properties 须为对象")
    return orjson.dumps(p).decode()


# Each entity's members (OGC 18-088 §8.2): those a create must give, and the others it may.
# A member outside both is a client's mistake (a typo, another standard's field): 400, never
# silently dropped. `@iot.*` annotations (what a client read and sends back) are let through.
# One leniency on purpose: `description` may be left out (""), as clients drop empty strings
# (frost_sta_client sends no member for description="").
REQUIRED: dict[str, frozenset[str]] = {
    "Things": frozenset({"name"}),
    "Locations": frozenset({"name", "encodingType", "location"}),
    "Sensors": frozenset({"name", "encodingType", "metadata"}),
    "ObservedProperties": frozenset({"name", "definition"}),
    "Datastreams": frozenset({"name", "unitOfMeasurement", "observationType", "Thing", "Sensor",
                              "ObservedProperty"}),
    "FeaturesOfInterest": frozenset({"name", "encodingType", "feature"}),
    "Observations": frozenset({"result", "Datastream"}),
    "HistoricalLocations": frozenset({"time", "Thing", "Locations"}),
}
OPTIONAL: dict[str, frozenset[str]] = {
    "Things": frozenset({"description", "properties", "Locations", "Datastreams"}),
    "Locations": frozenset({"description", "properties", "Things"}),
    "Sensors": frozenset({"description", "properties", "Datastreams"}),
    "ObservedProperties": frozenset({"description", "properties", "Datastreams"}),
    "Datastreams": frozenset({"description", "properties", "Observations", "observedArea", "phenomenonTime", "resultTime"}),
    "FeaturesOfInterest": frozenset({"description", "properties", "Observations"}),
    "Observations": frozenset({"phenomenonTime", "resultTime", "resultQuality", "validTime", "parameters",
                               "FeatureOfInterest"}),
    "HistoricalLocations": frozenset(),
}


_GIVEN = {"thing": "Thing", "sensor": "Sensor", "observed_property": "ObservedProperty"}


def check_members(set_name: str, body: dict[str, Any], given: frozenset[str] = frozenset()) -> None:
    """A create's body has every required member (`given`: those its parent supplies, as a
    Datastream's Thing under Things(1)/Datastreams) and no unknown one."""
    unknown = sorted(k for k in body if k not in REQUIRED[set_name] and k not in OPTIONAL[set_name]
                     and not k.startswith("@iot.") and "@iot." not in k)
    if unknown:
        raise InvalidInput(f"{set_name}: unknown member(s) {', '.join(unknown)}",
                           f"{set_name}：未知成员 {', '.join(unknown)}")
    missing = sorted(k for k in REQUIRED[set_name] - given if body.get(k) is None)
    if missing:
        raise InvalidInput(f"{set_name}: missing required member(s) {', '.join(missing)}",
                           f"{set_name}：缺少必填成员 {', '.join(missing)}")


def _ref_or_new(conn: Any, platform: Platform, set_name: str, value: Any, key: str) -> int:
    if not isinstance(value, dict):
        raise InvalidInput(f"'{key}' must be an object", f"{key} 须为对象")
    if "@iot.id" in value:
        ref = value["@iot.id"]
        table = TABLES[set_name]
        if not isinstance(ref, int) or not 0 < ref <= staread.MAX_ID \
                or conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (ref,)).fetchone() is None:  # noqa: S608
            raise InvalidInput(f"{key}: no {set_name} {ref!r}", f"{key}：{set_name} {ref!r} 不存在")
        return ref
    return _create(conn, platform, set_name, value, {})


def _create(conn: Any, platform: Platform, set_name: str, body: dict[str, Any], parent: dict[str, Any]) -> int:
    check_members(set_name, body, frozenset(_GIVEN[k] for k in parent if k in _GIVEN))
    if set_name == "Things":
        tid = int(conn.execute("INSERT INTO sta_thing (name, description, properties) VALUES (?,?,?)",
                               (_text(body, "name"), _text(body, "description", False), _props(body))).lastrowid)
        for loc in _list(body, "Locations"):
            link_location(conn, tid, _ref_or_new(conn, platform, "Locations", loc, "Locations"))
        if "location" in parent:  # POST Locations(id)/Things
            link_location(conn, tid, parent["location"])
        for ds in _list(body, "Datastreams"):
            _create(conn, platform, "Datastreams", ds,
                    {"thing": tid, "_observations": parent.setdefault("_observations", [])})
        return tid
    if set_name in ("Locations", "FeaturesOfInterest"):
        key = "location" if set_name == "Locations" else "feature"
        lon, lat = _lonlat(body.get(key), key)
        table = "sta_location" if set_name == "Locations" else "sta_feature"
        new = int(conn.execute(f"INSERT INTO {table} (name, description, encoding_type, lon, lat, properties)"  # noqa: S608
                               " VALUES (?,?,?,?,?,?)",
                               (_text(body, "name"), _text(body, "description", False),
                                body.get("encodingType", "application/geo+json"), lon, lat, _props(body))).lastrowid)
        if set_name == "Locations":
            for th in _list(body, "Things"):
                link_location(conn, _ref_or_new(conn, platform, "Things", th, "Things"), new)
            if "thing" in parent:
                link_location(conn, parent["thing"], new)
        else:  # a FeatureOfInterest's inline Observations: stored with the rest (`_observations`)
            for ob in _list(body, "Observations"):
                check_members("Observations", ob)
                dref = ob.get("Datastream")
                ds_id = dref.get("@iot.id") if isinstance(dref, dict) else None
                if not isinstance(ds_id, int) or isinstance(ds_id, bool):
                    raise InvalidInput("an inline Observation needs its Datastream {\"@iot.id\": n}",
                                       "内联观测须给出 Datastream {\"@iot.id\": n}")
                parent.setdefault("_observations", []).append((ds_id, {**ob, "FeatureOfInterest": {"@iot.id": new}}))
        return new
    if set_name == "HistoricalLocations":
        when = parse_time(body.get("time"))
        if when is None:
            raise InvalidInput("'time' must be an ISO 8601 time", "time 须为 ISO 8601 时间")
        thing = parent.get("thing") or _ref_or_new(conn, platform, "Things", body.get("Thing"), "Thing")
        locs = body.get("Locations")
        if not isinstance(locs, list) or not locs:
            raise InvalidInput("'Locations' must be a non-empty list", "Locations 须为非空列表")
        return history(conn, thing, [_ref_or_new(conn, platform, "Locations", loc, "Locations") for loc in locs], when)
    if set_name in ("Sensors", "ObservedProperties"):
        if set_name == "Sensors":
            new = int(conn.execute("INSERT INTO sta_sensor (name, description, encoding_type, metadata, properties)"
                                   " VALUES (?,?,?,?,?)", (_text(body, "name"), _text(body, "description", False),
                                                          body.get("encodingType", "text/html"),
                                                          str(body.get("metadata", "")), _props(body))).lastrowid)
        else:
            new = int(conn.execute("INSERT INTO sta_observed_property (name, definition, description, properties)"
                                   " VALUES (?,?,?,?)", (_text(body, "name"), _text(body, "definition", False),
                                                        _text(body, "description", False), _props(body))).lastrowid)
        key = "sensor" if set_name == "Sensors" else "observed_property"
        for ds in _list(body, "Datastreams"):  # deep insert under the new one
            _create(conn, platform, "Datastreams", ds,
                    {key: new, "_observations": parent.setdefault("_observations", [])})
        return new
    if set_name == "Datastreams":
        thing = parent.get("thing") or _ref_or_new(conn, platform, "Things", body.get("Thing"), "Thing")
        sensor = parent.get("sensor") or _ref_or_new(conn, platform, "Sensors", body.get("Sensor"), "Sensor")
        prop = parent.get("observed_property") or _ref_or_new(conn, platform, "ObservedProperties",
                                                              body.get("ObservedProperty"), "ObservedProperty")
        derived = _datastream_columns({"unitOfMeasurement": body.get("unitOfMeasurement", {}),
                                       "properties": body.get("properties", {})})
        loc = conn.execute("SELECT l.lon, l.lat FROM sta_location l JOIN sta_thing_location tl ON tl.location_id = l.id"
                           " WHERE tl.thing_id = ? LIMIT 1", (thing,)).fetchone()
        new = int(conn.execute(
            "INSERT INTO sta_datastream (name, description, thing_id, sensor_id, observed_property_id, unit,"
            " observation_type, kind, point, lon, lat, yellow, red, properties) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (_text(body, "name"), _text(body, "description", False), thing, sensor, prop, derived["unit"],
             body.get("observationType", "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"),
             derived["kind"], derived["point"], loc[0] if loc else None, loc[1] if loc else None,
             derived["yellow"], derived["red"], derived["properties"]),
        ).lastrowid)
        bump(conn, {"datastream_version": 1})
        feature_from_location(conn, [new])
        for ob in _list(body, "Observations"):
            check_members("Observations", ob, frozenset({"Datastream"}))
            parent.setdefault("_observations", []).append((new, ob))
        return new
    raise InvalidInput(f"cannot create {set_name} here", f"不能在此创建 {set_name}")


def _list(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """An inline to-many member: a list of objects (absent: none)."""
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidInput(f"'{key}' must be a list of objects", f"{key} 须为对象列表")
    return value


def link_location(conn: Any, thing: int, location: int) -> None:
    """A Thing is at a Location: linked, recorded as a HistoricalLocation (one per Thing and
    request: the Locations given together share it), and its Datastreams without a
    FeatureOfInterest get one from it."""
    if conn.execute("INSERT OR IGNORE INTO sta_thing_location VALUES (?, ?)", (thing, location)).rowcount:
        hl = history(conn, thing, [location])
        # The new Location replaces the Thing's earlier ones (as FROST-Server does); those given
        # in the same request (one HistoricalLocation) stay together.
        conn.execute("DELETE FROM sta_thing_location WHERE thing_id = ? AND location_id NOT IN"
                     " (SELECT location_id FROM sta_historical_location_location WHERE historical_location_id = ?)",
                     (thing, hl))
    feature_from_location(conn, [int(r[0]) for r in conn.execute(
        "SELECT id FROM sta_datastream WHERE thing_id = ? AND feature_id IS NULL", (thing,))])


def history(conn: Any, thing: int, locations: list[int], when_ms: int | None = None) -> int:
    """Record that a Thing is at these Locations now (or at `when_ms`): a HistoricalLocation,
    the one this transaction already made for it at that time if any."""
    when = when_ms if when_ms is not None else int(utcnow().timestamp() * 1000)
    row = conn.execute("SELECT id FROM sta_historical_location WHERE thing_id = ? AND time = ?", (thing, when)).fetchone()
    hl = int(row[0]) if row else int(conn.execute(
        "INSERT INTO sta_historical_location (thing_id, time) VALUES (?, ?)", (thing, when)).lastrowid)
    conn.executemany("INSERT OR IGNORE INTO sta_historical_location_location VALUES (?, ?)",
                     [(hl, loc) for loc in locations])
    return hl


def feature_from_location(conn: Any, datastreams: list[int]) -> None:
    """OGC 18-088 §8.2.8: an Observation without a FeatureOfInterest gets one made from its
    Thing's Location: each of these Datastreams without one gets its Thing's (first)
    Location's, made once per Location (found again by its name and position), which its
    readings given none then have (a reading given one keeps its own: sta_observation)."""
    rows = conn.execute(
        "SELECT d.id, l.name, l.description, l.encoding_type, l.lon, l.lat FROM sta_datastream d"
        " JOIN sta_thing_location tl ON tl.thing_id = d.thing_id JOIN sta_location l ON l.id = tl.location_id"
        " WHERE d.feature_id IS NULL AND d.id IN (SELECT value FROM json_each(?))"
        " AND tl.location_id = (SELECT min(location_id) FROM sta_thing_location WHERE thing_id = d.thing_id)",
        (orjson.dumps(datastreams).decode(),)).fetchall()
    for ds, name, description, encoding, lon, lat in rows:
        found = conn.execute("SELECT id FROM sta_feature WHERE name = ? AND lon IS NOT DISTINCT FROM ? AND lat IS NOT DISTINCT FROM ?",
                             (name, lon, lat)).fetchone()
        fid = found[0] if found else conn.execute(
            "INSERT INTO sta_feature (name, description, encoding_type, lon, lat) VALUES (?,?,?,?,?)",
            (name, description, encoding, lon, lat)).lastrowid
        conn.execute("UPDATE sta_datastream SET feature_id = ? WHERE id = ?", (fid, ds))


def link_feature(repo: Any, platform: Platform, datastream: int, feature: Any, writer: str | None = None) -> int:
    """Write op: the FeatureOfInterest an Observation names (a reference, or inline: made), for
    the reading to keep as its own. A sensor user (`writer`) may do so only on its own or
    unowned Datastreams, as it writes."""
    conn = repo.conn
    row = conn.execute("SELECT owner FROM sta_datastream WHERE id = ?", (datastream,)).fetchone()
    if row is None:
        raise InvalidInput(f"no Datastreams {datastream}", f"数据流 {datastream} 不存在")
    if writer is not None and row[0] is not None and row[0] != writer:
        raise ReadingRefused("not_owner", f"observation refused (not_owner): datastream {datastream}",
                             f"观测数据被拒绝（无权写入他人的数据流）：数据流 {datastream}")
    return _ref_or_new(conn, platform, "FeaturesOfInterest", feature, "FeatureOfInterest")


def _no_feature(datastream: int) -> ReadingRefused:
    return ReadingRefused(NO_FEATURE, f"observation refused ({NO_FEATURE}): datastream {datastream}'s Thing has no"
                          " Location to make one from: give the Observation a FeatureOfInterest",
                          f"观测数据被拒绝（缺少观测对象 FeatureOfInterest）：数据流 {datastream} 的 Thing 没有位置，"
                          "请为观测给出 FeatureOfInterest")


def _observations(repo: Any, platform: Platform, pending: list[tuple[int, dict[str, Any]]], who: Actor | None
                  ) -> list[Detection]:
    """A deep insert's inline Observations, stored through the same ingest (and screening) as
    any reading; one refused refuses the whole request (it is one transaction)."""
    from cityops.sensing.ingest import Rejects

    now_ms = int(utcnow().timestamp() * 1000)
    ds_all, t_all, r_all = [], [], []
    times: list[tuple[int, int, int | None]] = []
    features: list[tuple[int, int, int | None]] = []
    writer, sent_by = (_owner(who), who.name) if who is not None else (None, None)
    for ds, ob in pending:
        fid = None
        if ob.get("FeatureOfInterest") is not None:
            fid = link_feature(repo, platform, ds, ob["FeatureOfInterest"], writer)
        d, t, r = _reading(ob, {"datastream": ds}, now_ms)
        ds_all.append(d)
        t_all.append(t)
        r_all.append(r)
        times.append((d, t, result_time_us(ob.get("resultTime"))))
        features.append((d, t, fid))
    lacking = _featureless(repo.conn, sorted({d for d, _, fid in features if fid is None}))
    if lacking:
        raise _no_feature(lacking[0])
    rejects = Rejects()
    result = ingest_client(repo, platform, Columns.of(ds_all, t_all, r_all), rejects, writer=writer, sent_by=sent_by)
    if rejects.total:
        raise ReadingRefused.of(rejects)
    set_result_times(repo.conn, [x for x in times if x[2] is not None])
    set_features(repo.conn, [x for x in features if x[2] is not None])
    return result.detections


def _featureless(conn: Any, datastreams: list[int]) -> list[int]:
    """Those of these Datastreams with no FeatureOfInterest for a reading given none, after
    making one from their Thing's Location where it has one (§8.2.8)."""
    if not datastreams:
        return []
    query = "SELECT id FROM sta_datastream WHERE feature_id IS NULL AND id IN (SELECT value FROM json_each(?))"
    lacking = [int(r[0]) for r in conn.execute(query, (orjson.dumps(datastreams).decode(),))]
    if lacking:
        feature_from_location(conn, lacking)
        lacking = [int(r[0]) for r in conn.execute(query, (orjson.dumps(lacking).decode(),))]
    return lacking


_PARENT_KEYS = {"Datastreams": "datastream", "Things": "thing", "Locations": "location",
                "FeaturesOfInterest": "feature", "Sensors": "sensor", "ObservedProperties": "observed_property"}
_PARENT_SETS = {v: k for k, v in _PARENT_KEYS.items()}
# What may be POSTed under what (the navigation links that create and link, §10.2).
_POST_UNDER = {("Datastreams", "Observations"), ("FeaturesOfInterest", "Observations"), ("Things", "Datastreams"),
               ("Things", "Locations"), ("Things", "HistoricalLocations"), ("Locations", "Things"),
               ("Sensors", "Datastreams"), ("ObservedProperties", "Datastreams")}


def create_entity(repo: Any, platform: Platform, set_name: str, body: dict[str, Any], parent: dict[str, Any],
                  who: Actor | None = None) -> tuple[int, list[Detection]]:
    """Write op: create one entity (with inline related ones, Observations too); returns its
    id and the detections its Observations made. (A single Observation goes through
    `Gatherer`: see `post_observation`.)"""
    for key, value in parent.items():  # the entity posted under must exist
        table = TABLES[_PARENT_SETS[key]]
        if repo.conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (value,)).fetchone() is None:  # noqa: S608
            raise NotFound(f"no {_PARENT_SETS[key]} {value}", f"{_PARENT_SETS[key]} {value} 不存在")
    context: dict[str, Any] = dict(parent)
    new = _create(repo.conn, platform, set_name, body, context)
    detections = _observations(repo, platform, context["_observations"], who) if context.get("_observations") else []
    return new, detections


def result_time_us(value: Any) -> int | None:
    """An Observation's resultTime (a TM_Instant, §8.2.7) as µs since the epoch; null or
    absent: None (the standard's null: the reading reads resultTime null)."""
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) and "/" not in value else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise InvalidInput("'resultTime' must be an ISO 8601 time with a zone (or null)",
                           "resultTime 须为带时区的 ISO 8601 时刻（或 null）")
    return to_us(when)


_FORM_ONLY = TimeWindow(future=timedelta(days=36_500), past=timedelta(days=36_500))


def _reading(body: dict[str, Any], parent: dict[str, Any], now_ms: int | None = None) -> tuple[int, int, float]:
    """A posted Observation's (datastream, t, result), checked as a batch's readings are."""
    from cityops.sensing.ingest import parse_ndjson

    ds = parent.get("datastream")
    if ds is None:
        ref = body.get("Datastream")
        ds = ref.get("@iot.id") if isinstance(ref, dict) else None
    now_ms = now_ms or int(utcnow().timestamp() * 1000)
    if isinstance(body.get("phenomenonTime"), str) and "/" in body["phenomenonTime"]:
        raise InvalidInput("phenomenonTime must be an instant here: time intervals are not supported",
                           "phenomenonTime 须为时刻（不支持时间区间）")
    reading = {"datastream": ds, "phenomenonTime": body.get("phenomenonTime") or iso(now_ms),
               "result": body.get("result")}
    # Its form only: the city's window (sensing.past_days) is applied in the write op, as a batch's.
    cols, rejects = parse_ndjson(orjson.dumps(reading), now_ms, _FORM_ONLY)
    if rejects.total:
        raise ReadingRefused.of(rejects)
    return int(cols.datastream[0]), int(cols.t[0]), float(cols.result[0])


_REFUSED_WHY = {"time_out_of_range": (
    ": its phenomenonTime is more than inputs.future_skew_minutes (default 5) ahead of the server's clock, further back"
    " than the city's sensing.past_days (default 10,000; `cityops sensing set past_days N`) or before 2000-01-01",
    "：phenomenonTime 超前服务器时钟超过允许值（默认 5 分钟），或早于城市设置 sensing.past_days（默认 10000 天）或 2000-01-01")}
_REFUSED_ZH = {"unknown_datastream": "数据流不存在", NO_FEATURE: "缺少观测对象 FeatureOfInterest", "not_owner": "无权写入他人的数据流",
               "time_out_of_range": "时间超出允许范围", "implausible": "数值超出该物理量的合理范围"}


async def post_observation(request: Request, platform: Platform, body: dict[str, Any], parent: dict[str, Any],
                           who: Actor) -> JSON:
    """One Observation: gathered with the others in flight into one ingest (gather.py), held to
    the same time window, plausibility and ownership as a batch, and answered from what was
    written, not read back."""
    check_members("Observations", body, frozenset({"Datastream"} if "datastream" in parent else ()))
    result_us = result_time_us(body.get("resultTime"))
    try:
        ds, t, result = _reading(body, parent)
    except ReadingRefused as exc:  # counted like a refused reading of a batch
        await platform.awrite(count_refused, exc.reason)
        raise
    feature = {"@iot.id": parent["feature"]} if "feature" in parent else body.get("FeatureOfInterest")
    fid = None
    if feature is not None:
        try:
            fid = await platform.awrite(link_feature, ds, feature, _owner(who))
        except ReadingRefused as exc:  # counted like a refused reading of a batch
            await platform.awrite(count_refused, exc.reason)
            raise
    state = request.app.state
    gatherer: Gatherer | None = getattr(state, "sta_gatherer", None)
    if gatherer is None:
        gatherer = state.sta_gatherer = Gatherer(platform, lambda found: publish_detections(state, found))
    outcome = await gatherer.add(ds, t, result, _owner(who), who.name, result_us, fid)
    if outcome == DUPLICATE:
        raise Conflict("an observation of this datastream at this phenomenonTime exists (the first one stands)",
                       "该数据流在此时间已有观测（以先到者为准）")
    if outcome == NO_FEATURE:
        raise _no_feature(ds)
    if outcome != STORED:  # refused in the write process, and counted there
        why = _REFUSED_WHY.get(outcome, ("", ""))
        raise ReadingRefused(outcome, f"observation refused ({outcome}): datastream {ds}{why[0]}",
                             f"观测数据被拒绝（{_REFUSED_ZH.get(outcome, outcome)}）：数据流 {ds}{why[1]}")
    base = _base(request)
    oid = observation_id(ds, t)
    row = {"id": oid, "datastream_id": ds, "phenomenonTime": t, "result_us": result_us, "result": result}
    return JSON(render("Observations", row, base), status_code=201, headers={"Location": f"{base}/Observations({oid})"})


def create_observations(repo: Any, platform: Platform, groups: list[dict[str, Any]], who: Actor | None = None
                        ) -> tuple[list[str], list[Detection]]:
    """Write op for the dataArray extension: per reading its selfLink path or "error", and
    the detections the batch made (published as every write path's are)."""
    out: list[str] = []
    now_ms = int(utcnow().timestamp() * 1000)
    ds_all: list[int] = []
    t_all: list[int] = []
    r_all: list[float] = []
    rt_all: list[int | None] = []
    foi_all: list[int | None] = []
    slots: list[int] = []
    for g in groups:
        ref = g.get("Datastream") if isinstance(g, dict) else None
        ds = ref.get("@iot.id") if isinstance(ref, dict) else None
        comps = g.get("components") if isinstance(g, dict) else None
        rows = g.get("dataArray") if isinstance(g, dict) else None
        if not isinstance(comps, list) or not isinstance(rows, list) or "result" not in comps:
            raise InvalidInput("each item needs Datastream, components (with result) and dataArray",
                               "每项须含 Datastream、components（含 result）与 dataArray")
        for row in rows:
            values = dict(zip(comps, row, strict=False)) if isinstance(row, list) else {}
            t = parse_time(values.get("phenomenonTime")) if values.get("phenomenonTime") else now_ms
            r = values.get("result")
            try:
                rt = result_time_us(values.get("resultTime"))
            except InvalidInput:
                rt, t = None, None
            foi = values.get("FeatureOfInterest/id", values.get("FeatureOfInterest/@iot.id"))
            if foi is not None and not (isinstance(foi, int) and not isinstance(foi, bool) and 0 < foi <= staread.MAX_ID
                                        and repo.conn.execute("SELECT 1 FROM sta_feature WHERE id = ?", (foi,)).fetchone()):
                t = None
            if not isinstance(ds, int) or isinstance(ds, bool) or not 0 < ds <= MAX_DATASTREAM or t is None \
                    or isinstance(r, bool) or not isinstance(r, int | float) or not math.isfinite(r) or t < EPOCH_MS:
                out.append("error")
                continue
            rt_all.append(rt)
            foi_all.append(foi)
            slots.append(len(out))
            out.append("")
            ds_all.append(ds)
            t_all.append(t)
            r_all.append(float(r))
    lacking = set(_featureless(repo.conn, sorted({d for d, f in zip(ds_all, foi_all, strict=True) if f is None})))
    if lacking:  # no FeatureOfInterest to give them: an error each (§8.2.8)
        for k in [k for k, d in enumerate(ds_all) if d in lacking and foi_all[k] is None][::-1]:
            out[slots[k]] = "error"
            for col in (slots, ds_all, t_all, r_all, rt_all, foi_all):
                del col[k]
    cols = Columns.of(ds_all, t_all, r_all)
    writer, sent_by = (_owner(who), who.name) if who is not None else (None, None)
    result = ingest_client(repo, platform, cols, writer=writer, sent_by=sent_by)  # unknown, foreign, implausible, out of window
    for k, slot in enumerate(slots):
        out[slot] = "error" if result.refused[k] else f"Observations({observation_id(ds_all[k], t_all[k])})"
    set_result_times(repo.conn, [(ds_all[k], t_all[k], rt_all[k]) for k in range(len(slots))
                                 if not result.refused[k] and rt_all[k] is not None])
    set_features(repo.conn, [(ds_all[k], t_all[k], foi_all[k]) for k in range(len(slots))
                             if not result.refused[k] and foi_all[k] is not None])
    return out, result.detections


async def _writer(request: Request) -> Actor:
    who = await actor(request)
    require(who, Role.SENSOR)
    return who


def _owner(who: Actor) -> str | None:
    """Whose datastreams a caller may write: a sensor user its own and unowned ones; an admin any."""
    return who.name if who.role is Role.SENSOR else None


async def _write_body(request: Request) -> tuple[Platform, Any, Actor]:
    """A write's prologue: the caller may write, and its body is JSON."""
    who = await _writer(request)
    raw = await request.body()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidInput("malformed JSON body", "JSON 格式错误") from None
    if b"\\u0000" in raw and _has_nul(body):  # PostgreSQL's text cannot hold it; refused on both stores
        raise InvalidInput("a string holds the NUL character (\\u0000)", "字符串含有 NUL 字符（\\u0000）")
    return request.app.state.platform, body, who


def _has_nul(value: Any) -> bool:
    """Whether any string (key or value) holds NUL: a walk without recursion (JSON nests deep)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if "\x00" in v:
                return True
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return False


@router.post("/CreateObservations", status_code=201)
async def post_create_observations(request: Request) -> JSON:
    """The dataArray extension: many observations in one request."""
    platform, body, who = await _write_body(request)
    if not isinstance(body, list):
        raise InvalidInput("CreateObservations takes a JSON array", "CreateObservations 须为 JSON 数组")
    links, detections = await platform.awrite(create_observations, body, who)
    publish_detections(request.app.state, detections)
    base = _base(request)
    return JSON([x if x == "error" else f"{base}/{x}" for x in links], status_code=201)


@router.post("/{path:path}", status_code=201)
async def create(path: str, request: Request) -> Response:
    """POST to an entity set (or `Datastreams(id)/Observations`, `Things(id)/Datastreams`…)."""
    if path.endswith("/$ref"):
        return await ref(path, request)
    platform, body, who = await _write_body(request)
    m = re.match(r"^(?:(Datastreams|Things|Locations|FeaturesOfInterest|Sensors|ObservedProperties)\((\d+)\)/)?"
                 r"([A-Za-z]+)$", path)
    if m is None or m.group(3) not in SETS:  # before the body: no such resource is a 404 whatever is sent
        raise NotFound(f"cannot POST to {path}", f"不能向 {path} 提交")
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", "请求体须为 JSON 对象")
    parent: dict[str, Any] = {}
    if m.group(1):
        if (m.group(1), m.group(3)) not in _POST_UNDER:
            raise NotFound(f"cannot POST to {path}", f"不能向 {path} 提交")
        parent[_PARENT_KEYS[m.group(1)]] = entity_id(m.group(1), m.group(2))
    set_name = m.group(3)
    if set_name == "Observations":
        return await post_observation(request, platform, body, parent, who)
    try:
        new_id, detections = await platform.awrite(create_entity, set_name, body, parent, who)
    except ReadingRefused as exc:  # counted like a refused reading of a batch
        await platform.awrite(count_refused, exc.reason)
        raise
    publish_detections(request.app.state, detections)
    base = _base(request)
    content = await anyio.to_thread.run_sync(staread.read_one, platform, set_name, new_id, base, limiter=READS)
    return JSON(content, status_code=201, headers={"Location": f"{base}/{set_name}({new_id})"})


# Update and delete (SensorThings 1.1 §10.3–10.4) ---------------------------------------------

# What PATCH may change, per entity set: JSON member → column. Geometries, references and the
# Observation's result are handled on their own; anything else (an id, a time) is refused.
PATCHABLE: dict[str, dict[str, str]] = {
    "Things": {"name": "name", "description": "description"},
    "Locations": {"name": "name", "description": "description", "encodingType": "encoding_type"},
    "FeaturesOfInterest": {"name": "name", "description": "description", "encodingType": "encoding_type"},
    "Sensors": {"name": "name", "description": "description", "encodingType": "encoding_type", "metadata": "metadata"},
    "ObservedProperties": {"name": "name", "definition": "definition", "description": "description"},
    "Datastreams": {"name": "name", "description": "description", "observationType": "observation_type"},
    "HistoricalLocations": {},
}
_REFS = {"Thing": ("Things", "thing_id"), "Sensor": ("Sensors", "sensor_id"),
         "ObservedProperty": ("ObservedProperties", "observed_property_id")}


def _entity_path(path: str) -> tuple[str, int]:
    m = re.match(r"^([A-Za-z]+)\((\d+)\)$", path)
    if m is None or m.group(1) not in SETS:
        raise NotFound(f"no entity at {path}: PATCH and DELETE take Set(id)", f"{path} 不是实体路径（应为 集合(id)）")
    return m.group(1), entity_id(m.group(1), m.group(2))


def _unconditional(request: Request) -> None:
    """OGC 18-088 gives a write no `$filter`; istSOS4 reads one on PATCH as a condition. Ignored,
    the write would happen whether or not it holds: a 400 instead (docs/sensing.md)."""
    if "$filter" in request.query_params:
        raise InvalidInput("$filter is not taken on PUT, PATCH or DELETE (no conditional writes): read first",
                           "PUT、PATCH、DELETE 不接受 $filter（不支持条件写入）：请先读取")


async def _may_change(platform: Platform, who: Actor, set_name: str, entity: int) -> None:
    """A gateway changes or deletes only its own datastreams (and their Observations), as it
    writes readings only to them; unowned ones and an admin's token are not held back."""
    if who.role is not Role.SENSOR or set_name not in ("Datastreams", "Observations"):
        return
    ds = split_observation_id(entity)[0] if set_name == "Observations" else entity

    def owner() -> str | None:
        with platform.store.read() as repo:
            row = repo.conn.execute("SELECT owner FROM sta_datastream WHERE id = ?", (ds,)).fetchone()
        return None if row is None else row[0]

    found = await anyio.to_thread.run_sync(owner, limiter=READS)
    if found is not None and found != who.name:
        raise Forbidden(f"datastream {ds} belongs to another gateway: {who.name} may not change it",
                        f"数据流 {ds} 属于其他网关，{who.name} 无权修改")


def _exists(conn: Any, set_name: str, entity_id: int) -> None:
    # An Observation: its Datastream here, the reading itself in change_reading.
    table, key = (("sta_datastream", split_observation_id(entity_id)[0]) if set_name == "Observations"
                  else (TABLES[set_name], entity_id))
    if conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (key,)).fetchone() is None:  # noqa: S608
        raise NotFound(f"no such {set_name} entity", f"{set_name} 实体不存在")


def patch_entity(repo: Any, platform: Platform, set_name: str, entity_id: int, body: dict[str, Any]) -> None:
    """Write op: change the given members of one entity (the others stay)."""
    conn = repo.conn
    _exists(conn, set_name, entity_id)
    body = {k: v for k, v in body.items()  # what a client read and sends back: not a change
            if not (k == "@iot.id" and v == entity_id) and not k.endswith(("@iot.selfLink", "@iot.navigationLink"))}
    if set_name == "Observations":
        check_plausible(repo, split_observation_id(entity_id)[0], body.get("result"))
        _patch_observation(conn, entity_id, body)
        return
    body = dict(body)
    if set_name == "HistoricalLocations" and "time" in body:
        when = parse_time(body.pop("time"))
        if when is None:
            raise InvalidInput("'time' must be an ISO 8601 time", "time 须为 ISO 8601 时间")
        conn.execute("UPDATE sta_historical_location SET time = ? WHERE id = ?", (when, entity_id))
    if set_name == "Things" and "Locations" in body:  # the Thing's Locations now: linked (and recorded)
        locs = body.pop("Locations")
        if not isinstance(locs, list):
            raise InvalidInput("'Locations' must be a list", "Locations 须为列表")
        for loc in locs:  # links only: a PATCH makes no related entity (§10.3.1)
            if not isinstance(loc, dict) or "@iot.id" not in loc:
                raise InvalidInput("a PATCH links Locations by reference {\"@iot.id\": n}; create new ones with POST",
                                   "PATCH 只能以引用 {\"@iot.id\": n} 关联位置；新位置请用 POST 创建")
            link_location(conn, entity_id, _ref_or_new(conn, platform, "Locations", loc, "Locations"))
    allowed = PATCHABLE[set_name]
    geo = {"Locations": "location", "FeaturesOfInterest": "feature"}.get(set_name)
    refs = _REFS if set_name == "Datastreams" else {}
    extra = {"properties", "unitOfMeasurement"} if set_name == "Datastreams" else {"properties"}
    unknown = sorted(k for k in body if k not in allowed and k != geo and k not in refs and k not in extra)
    if unknown:
        raise InvalidInput(f"{set_name}: cannot change {', '.join(unknown)}", f"{set_name}：不能修改 {', '.join(unknown)}")
    sets: dict[str, Any] = {}
    for key, column in allowed.items():
        if key in body:
            sets[column] = _text(body, key) if key != "metadata" else str(body[key])
    if "properties" in body:
        sets["properties"] = _props(body)
    if geo and geo in body:
        sets["lon"], sets["lat"] = _lonlat(body[geo], geo)
    for key, (target, column) in refs.items():
        if key in body:
            if not isinstance(body[key], dict) or "@iot.id" not in body[key]:
                raise InvalidInput(f"'{key}' must be a reference {{\"@iot.id\": n}}", f"{key} 须为引用 {{\"@iot.id\": n}}")
            sets[column] = _ref_or_new(conn, platform, target, body[key], key)
    if set_name == "Datastreams":
        sets.update(_datastream_columns(body))
    if sets:
        assignments = ", ".join(f"{c} = ?" for c in sets)
        conn.execute(f"UPDATE {TABLES[set_name]} SET {assignments} WHERE id = ?", (*sets.values(), entity_id))  # noqa: S608
    if set_name == "Datastreams":
        bump(conn, {"datastream_version": 1})  # thresholds and kinds feed the detectors


def _datastream_columns(body: dict[str, Any]) -> dict[str, Any]:
    """The columns of a Datastream its unit and properties give (on create and on PATCH)."""
    out: dict[str, Any] = {}
    if "unitOfMeasurement" in body:
        if not isinstance(body["unitOfMeasurement"], dict):
            raise InvalidInput("'unitOfMeasurement' must be an object", "unitOfMeasurement 须为对象")
        out["unit"] = orjson.dumps(body["unitOfMeasurement"]).decode()
    if "properties" in body:
        out["properties"] = _props(body)
        props = orjson.loads(out["properties"])
        yellow, red = props.get("yellow"), props.get("red")
        out.update(kind=str(props.get("kind", "other")), point=props.get("point"),
                   yellow=yellow if isinstance(yellow, int | float) else None,
                   red=red if isinstance(red, int | float) else None)
    return out


def _patch_observation(conn: Any, entity_id: int, body: dict[str, Any]) -> None:
    ds, t = split_observation_id(entity_id)
    unknown = sorted(k for k in body if k not in ("result", "phenomenonTime", "resultTime", "FeatureOfInterest"))
    if unknown:
        raise InvalidInput(f"Observations: cannot change {', '.join(unknown)}", f"观测：不能修改 {', '.join(unknown)}")
    if "phenomenonTime" in body and parse_time(body["phenomenonTime"]) != t:  # the id follows it: it cannot move
        raise InvalidInput("an Observation's phenomenonTime cannot change (its id follows it); delete and create"
                           " instead", "观测的 phenomenonTime 不能修改（标识由其决定），请删除后重建")
    result_us = result_time_us(body.get("resultTime"))
    foi = body.get("FeatureOfInterest")
    if "FeatureOfInterest" in body and not (isinstance(foi, dict) and isinstance(foi.get("@iot.id"), int)
                                            and conn.execute("SELECT 1 FROM sta_feature WHERE id = ?",
                                                             (foi["@iot.id"],)).fetchone()):
        raise InvalidInput("'FeatureOfInterest' must be a reference {\"@iot.id\": n} to an existing one",
                           "FeatureOfInterest 须为对已有观测对象的引用 {\"@iot.id\": n}")
    if "result" in body:
        r = body["result"]
        if isinstance(r, bool) or not isinstance(r, int | float) or not math.isfinite(r):
            raise InvalidInput("'result' must be a finite number", "result 须为有限数值")
        found = change_reading(conn, ds, t, float(r))
    else:  # the one segment that may hold t, not the view (it expands every segment of the datastream)
        found = len(read_ranges(conn, np.array([ds], np.int64), np.array([t]), np.array([t]))) > 0
    if not found:
        raise NotFound("no such Observations entity", "Observations 实体不存在")
    if "resultTime" in body:  # null forgets it
        set_result_times(conn, [(ds, t, result_us)])
    if foi is not None:
        set_features(conn, [(ds, t, foi["@iot.id"])])


def delete_entity(repo: Any, platform: Platform, set_name: str, entity_id: int) -> None:
    """Write op: delete one entity and what SensorThings deletes with it (a Thing's, Sensor's or
    ObservedProperty's Datastreams, a Datastream's or FeatureOfInterest's Observations)."""
    conn = repo.conn
    _exists(conn, set_name, entity_id)
    if set_name == "Observations":
        if not change_reading(conn, *split_observation_id(entity_id), None):
            raise NotFound("no such Observations entity", "Observations 实体不存在")
        return
    owner = {"Things": "thing_id", "Sensors": "sensor_id", "ObservedProperties": "observed_property_id",
             "Datastreams": "id"}.get(set_name)
    if owner:
        delete_datastreams(conn, [int(r[0]) for r in conn.execute(
            f"SELECT id FROM sta_datastream WHERE {owner} = ?", (entity_id,))])  # noqa: S608
    if set_name == "FeaturesOfInterest":
        _delete_feature_observations(conn, entity_id)
    if set_name in ("Things", "Locations"):
        column = "thing_id" if set_name == "Things" else "location_id"
        conn.execute(f"DELETE FROM sta_thing_location WHERE {column} = ?", (entity_id,))  # noqa: S608
    if set_name == "Things":  # its HistoricalLocations go with it
        conn.execute("DELETE FROM sta_historical_location_location WHERE historical_location_id IN"
                     " (SELECT id FROM sta_historical_location WHERE thing_id = ?)", (entity_id,))
        conn.execute("DELETE FROM sta_historical_location WHERE thing_id = ?", (entity_id,))
    if set_name == "Locations":  # and a HistoricalLocation left with no Location
        conn.execute("DELETE FROM sta_historical_location_location WHERE location_id = ?", (entity_id,))
        conn.execute("DELETE FROM sta_historical_location WHERE id NOT IN"
                     " (SELECT historical_location_id FROM sta_historical_location_location)")
    if set_name == "HistoricalLocations":
        conn.execute("DELETE FROM sta_historical_location_location WHERE historical_location_id = ?", (entity_id,))
    if set_name != "Datastreams":
        conn.execute(f"DELETE FROM {TABLES[set_name]} WHERE id = ?", (entity_id,))  # noqa: S608


def _delete_feature_observations(conn: Any, feature: int) -> None:
    """A FeatureOfInterest's Observations go with it: those of the Datastreams that have it
    (all their readings at once, less the few with a FeatureOfInterest of their own, put back)
    and the readings elsewhere that have it as their own (one at a time: few)."""
    ids = [int(r[0]) for r in conn.execute("SELECT id FROM sta_datastream WHERE feature_id = ?", (feature,))]
    arg = orjson.dumps(ids).decode()
    own = conn.execute("SELECT datastream, t FROM sta_observation WHERE datastream IN (SELECT value FROM json_each(?))"
                       " AND feature_id IS NOT NULL AND feature_id <> ? ORDER BY datastream, t", (arg, feature)).fetchall()
    keep = None
    if own:  # their readings: each datastream's from its first to its last such time, then just those
        span: dict[int, list[int]] = {}
        for d, t in own:
            span.setdefault(d, []).append(t)
        streams = sorted(span)
        keep = read_ranges(conn, np.array(streams, np.int64), np.array([min(span[d]) for d in streams], np.int64),
                           np.array([max(span[d]) for d in streams], np.int64))
        wanted = {(int(d), int(t)) for d, t in own}
        keep = keep.take(np.array([(d, t) in wanted for d, t in zip(keep.datastream.tolist(), keep.t.tolist(),
                                                                    strict=True)], bool))
    for table in SEGMENT_TABLES:
        conn.execute(f"DELETE FROM {table} WHERE datastream IN (SELECT value FROM json_each(?))", (arg,))  # noqa: S608
    conn.execute("DELETE FROM sta_observation WHERE datastream IN (SELECT value FROM json_each(?)) AND"
                 " (feature_id IS NULL OR feature_id = ?)", (arg, feature))
    if keep is not None and len(keep):
        insert_columns(conn, keep)
    for d, t in conn.execute("SELECT datastream, t FROM sta_observation WHERE feature_id = ?", (feature,)).fetchall():
        change_reading(conn, d, t, None)  # also forgets its row
    conn.execute("UPDATE sta_datastream SET feature_id = NULL WHERE feature_id = ?", (feature,))


def json_patch_entity(repo: Any, platform: Platform, set_name: str, entity_id: int, ops: list[Any]) -> None:
    """Write op: a JSON Patch (RFC 6902) applied to the entity as it reads now; the members it
    changes are then updated as a PATCH with them would (the same checks)."""
    import jsonpatch
    import jsonpointer

    _exists(repo.conn, set_name, entity_id)
    es = staread.SETS[set_name]
    where, args = staread._key_where(es, "id = ?", (entity_id,))
    rows, _ = staread.query(repo.conn, es, staread.Options(top=1), where, args)
    if not rows:
        raise NotFound(f"no such {set_name} entity", f"{set_name} 实体不存在")
    doc = render(set_name, rows[0], "")
    try:
        new = jsonpatch.JsonPatch(ops).apply(doc)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise Conflict(f"JSON Patch test failed: {exc}", f"JSON Patch 的 test 操作未通过：{exc}") from None
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, KeyError) as exc:
        raise InvalidInput(f"JSON Patch cannot be applied: {exc}", f"JSON Patch 无法应用：{exc}") from None
    if not isinstance(new, dict):
        raise InvalidInput("JSON Patch must leave an object", "JSON Patch 结果须为对象")
    gone = sorted(k for k in doc if k not in new)
    if gone:
        raise InvalidInput(f"{set_name}: cannot remove {', '.join(gone)}", f"{set_name}：不能删除 {', '.join(gone)}")
    changed = {k: v for k, v in new.items() if k not in doc or doc[k] != v}
    if changed:
        patch_entity(repo, platform, set_name, entity_id, changed)


# Links ($ref, §10.2.2, §10.3.3, §10.4.2) and PUT (§10.3.2) -----------------------------------

# (entity set, navigation property) → how a link is made: a pair table (many to many) or the
# column of the many side's row that holds the one side's id.
_LINKS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("Things", "Locations"): ("pair", "thing", "location"),
    ("Locations", "Things"): ("pair", "location", "thing"),
    ("HistoricalLocations", "Locations"): ("hl", "", ""),
    ("Things", "Datastreams"): ("column", "Datastreams", "thing_id"),
    ("Sensors", "Datastreams"): ("column", "Datastreams", "sensor_id"),
    ("ObservedProperties", "Datastreams"): ("column", "Datastreams", "observed_property_id"),
    ("Datastreams", "Thing"): ("own", "Things", "thing_id"),
    ("Datastreams", "Sensor"): ("own", "Sensors", "sensor_id"),
    ("Datastreams", "ObservedProperty"): ("own", "ObservedProperties", "observed_property_id"),
    ("HistoricalLocations", "Thing"): ("own", "Things", "thing_id"),
}
_REF_PATH = re.compile(r"^([A-Za-z]+)\((\d+)\)/([A-Za-z]+)(?:\((\d+)\))?/\$ref$")


def _ref_target(body: Any) -> int:
    """The entity a $ref body names: {"@iot.id": n} or {"@iot.selfLink": ".../Set(n)"}."""
    ref = body.get("@iot.id") if isinstance(body, dict) else None
    if ref is None and isinstance(body, dict) and isinstance(body.get("@iot.selfLink"), str):
        m = re.search(r"\((\d+)\)$", body["@iot.selfLink"])
        ref = int(m.group(1)) if m else None
    if not isinstance(ref, int) or isinstance(ref, bool) or not 0 < ref <= staread.MAX_ID:
        raise InvalidInput("a $ref body is {\"@iot.id\": n} or {\"@iot.selfLink\": url}",
                           "$ref 请求体须为 {\"@iot.id\": n} 或 {\"@iot.selfLink\": url}")
    return ref


def link_op(repo: Any, platform: Platform, set_name: str, entity: int, nav: str, target: int, add: bool) -> None:
    """Write op: make (`add`) or remove the link from an entity to `target` over `nav`."""
    conn = repo.conn
    how = _LINKS.get((set_name, nav))
    if how is None:
        raise InvalidInput(f"{set_name}/{nav} takes no $ref", f"{set_name}/{nav} 不支持 $ref")
    _exists(conn, set_name, entity)
    target_set = staread.SETS[set_name].navs[nav].target
    _exists(conn, target_set, target)
    kind, a, b = how
    if kind == "pair":
        thing, location = (entity, target) if a == "thing" else (target, entity)
        if add:
            link_location(conn, thing, location)
        else:
            conn.execute("DELETE FROM sta_thing_location WHERE thing_id = ? AND location_id = ?", (thing, location))
    elif kind == "hl":
        if add:
            conn.execute("INSERT OR IGNORE INTO sta_historical_location_location VALUES (?, ?)", (entity, target))
        else:
            conn.execute("DELETE FROM sta_historical_location_location WHERE historical_location_id = ?"
                         " AND location_id = ?", (entity, target))
    else:
        if not add:  # a Datastream always has its Thing, Sensor and ObservedProperty
            raise InvalidInput(f"{set_name}/{nav}: a required link cannot be removed; link another instead",
                               f"{set_name}/{nav}：必需的关联不能删除，请改为关联其他实体")
        row, col = (target, entity) if kind == "column" else (entity, target)
        table = TABLES["Datastreams" if kind == "column" or set_name == "Datastreams" else set_name]
        conn.execute(f"UPDATE {table} SET {b} = ? WHERE id = ?", (col, row))  # noqa: S608
        if table == "sta_datastream":
            bump(conn, {"datastream_version": 1})


async def ref(path: str, request: Request) -> Response:
    """Make or remove a link: POST `Things(1)/Locations/$ref` {"@iot.id": 2} adds one, PUT
    `Datastreams(1)/Thing/$ref` sets one, DELETE `Things(1)/Locations(2)/$ref` removes one."""
    who = await _writer(request)
    platform: Platform = request.app.state.platform
    m = _REF_PATH.match(path)
    if m is None or m.group(1) not in SETS or m.group(3) not in SETS[m.group(1)].navs:
        raise NotFound(f"no such link: {path}", f"关联不存在：{path}")
    entity = entity_id(m.group(1), m.group(2))
    await _may_change(platform, who, m.group(1), entity)
    if request.method == "DELETE":
        if m.group(4) is None:
            raise InvalidInput("DELETE names the linked entity: Set(id)/Nav(id)/$ref", "DELETE 须指明关联实体")
        target = entity_id(m.group(3), m.group(4))
    else:
        try:
            target = _ref_target(orjson.loads(await request.body()))
        except orjson.JSONDecodeError:
            raise InvalidInput("malformed JSON body", "JSON 格式错误") from None
    await platform.awrite(link_op, m.group(1), entity, m.group(3), target, request.method != "DELETE")
    return Response(status_code=201 if request.method == "POST" else 200)


# What a PUT leaves out takes its default (a full replace, §10.3.2).
_DEFAULTS: dict[str, dict[str, Any]] = {
    "Things": {"description": "", "properties": {}},
    "Locations": {"description": "", "properties": {}},
    "FeaturesOfInterest": {"description": "", "properties": {}},
    "Sensors": {"description": "", "properties": {}},
    "ObservedProperties": {"description": "", "properties": {}},
    "Datastreams": {"description": "", "properties": {}},
    "HistoricalLocations": {},
    "Observations": {"resultTime": None},
}


@router.put("/{path:path}")
async def replace(path: str, request: Request) -> JSON:
    """PUT one entity: every required member given (the links may be left as they are),
    the rest take their defaults; 200 with the entity."""
    if path.endswith("/$ref"):
        return await ref(path, request)  # type: ignore[return-value]
    platform, body, who = await _write_body(request)
    _unconditional(request)
    set_name, entity = _entity_path(path)
    await _may_change(platform, who, set_name, entity)
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", "请求体须为 JSON 对象")
    if set_name == "Observations":
        body.pop("Datastream", None)  # an Observation stays in its Datastream (its id follows it)
    links = {"Thing", "Sensor", "ObservedProperty", "Datastream", "Locations"}
    check_members(set_name, body, frozenset(links))
    body = {**_DEFAULTS[set_name], **{k: v for k, v in body.items() if not k.startswith("@iot.") and "@iot." not in k}}
    try:
        await platform.awrite(patch_entity, set_name, entity, body)
    except ReadingRefused as exc:
        await platform.awrite(count_refused, exc.reason)
        raise
    return JSON(await anyio.to_thread.run_sync(staread.read_one, platform, set_name, entity, _base(request),
                                               limiter=READS))


@router.patch("/{path:path}")
async def update(path: str, request: Request) -> JSON:
    """PATCH one entity: a JSON object (the members given change, the rest stay) or, with
    `Content-Type: application/json-patch+json`, a JSON Patch (RFC 6902); 200 with the entity."""
    platform, body, who = await _write_body(request)
    _unconditional(request)
    set_name, entity = _entity_path(path)
    await _may_change(platform, who, set_name, entity)
    try:
        if request.headers.get("content-type", "").split(";", 1)[0].strip().lower() == JSON_PATCH:
            if not isinstance(body, list) or not all(isinstance(op, dict) for op in body):
                raise InvalidInput("a JSON Patch is an array of operations", "JSON Patch 须为操作数组")
            await platform.awrite(json_patch_entity, set_name, entity, body)
        else:
            if not isinstance(body, dict):
                raise InvalidInput("the body must be a JSON object", "请求体须为 JSON 对象")
            await platform.awrite(patch_entity, set_name, entity, body)
    except ReadingRefused as exc:  # counted like a refused reading of a batch
        await platform.awrite(count_refused, exc.reason)
        raise
    content = await anyio.to_thread.run_sync(staread.read_one, platform, set_name, entity, _base(request),
                                             limiter=READS)
    return JSON(content)


@router.delete("/{path:path}")
async def remove(path: str, request: Request) -> Response:
    """DELETE one entity (and what goes with it): 200, no body."""
    if path.endswith("/$ref"):
        return await ref(path, request)
    who = await _writer(request)
    _unconditional(request)
    platform: Platform = request.app.state.platform
    set_name, entity_id = _entity_path(path)
    await _may_change(platform, who, set_name, entity_id)
    await platform.awrite(delete_entity, set_name, entity_id)
    return Response(status_code=200)
