"""OGC SensorThings API 1.1 (a subset) at /sta/v1.1 over the sensing tables.

Reads: every entity set, one entity, its navigation properties, a property and its `$value`;
`$filter`, `$expand` (nested, with options), `$select`, `$orderby`, `$top`, `$skip`,
`$count`, an absolute `@iot.nextLink`. Open by default (public sensor data, as FROST); the
setting `sensing.read_requires_token` = 1 makes them need a bearer token. Writes: POST of
every entity set (201 with `Location`), the `CreateObservations` dataArray extension, PATCH
(update) and DELETE of one entity (SensorThings 1.1 §10.3, §10.4), with a `sensor` or `admin`
token, through the write process.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import numpy as np
import orjson
from fastapi import Request, Response

from cityops.api.deps import actor, require
from cityops.api.responses import JSON
from cityops.api.routing import feature_router
from cityops.cases.models import Role
from cityops.core import Platform, utcnow
from cityops.detect.columns import Columns
from cityops.errors import Conflict, InvalidInput, NotFound
from cityops.sensing.ingest import (
    ReadingRefused,
    Rejects,
    check_plausible,
    count_refused,
    ingest_client,
    parse_time,
)
from cityops.sensing.staquery import Entity, parse_filter, parse_orderby, split_options
from cityops.sensing.store import (
    EPOCH_MS,
    TIME_BITS,
    bump,
    change_reading,
    delete_datastreams,
    observation_id,
    read_ranges,
    split_observation_id,
)

router = feature_router("/sta/v1.1", "sensorthings")
PREFIX = "/sta/v1.1"
DEFAULT_TOP = 100
MAX_TOP = 10_000
READ_SETTING = "sensing.read_requires_token"
TABLES = {"Things": "sta_thing", "Locations": "sta_location", "Sensors": "sta_sensor",
          "ObservedProperties": "sta_observed_property", "Datastreams": "sta_datastream",
          "FeaturesOfInterest": "sta_feature"}


@dataclass(frozen=True)
class Nav:
    target: str
    where: str  # SQL over the target's columns with one `?`: the parent's `key` value
    key: str = "id"
    many: bool = True


@dataclass(frozen=True)
class EntitySet:
    name: str
    source: str
    entity: Entity
    navs: dict[str, Nav] = field(default_factory=dict)


def _geo_entity(*extra: str) -> Entity:
    cols = {c: c for c in ("id", "name", "description", "encodingType", "properties", *extra)}
    cols["@iot.id"] = "id"
    return Entity(cols, geometries={"location": ("lon", "lat"), "feature": ("lon", "lat")})


def _entity(*names: str, times: tuple[str, ...] = ()) -> Entity:
    cols = {n: n for n in ("id", *names)}
    cols["@iot.id"] = "id"
    return Entity(cols, times=frozenset(times))


SETS: dict[str, EntitySet] = {s.name: s for s in (
    EntitySet("Things", "SELECT id, name, description, properties FROM sta_thing",
              _entity("name", "description", "properties"),
              {"Locations": Nav("Locations", "id IN (SELECT location_id FROM sta_thing_location WHERE thing_id = ?)"),
               "Datastreams": Nav("Datastreams", "thing_id = ?")}),
    EntitySet("Locations", "SELECT id, name, description, encoding_type AS encodingType, lon, lat, properties"
              " FROM sta_location", _geo_entity(),
              {"Things": Nav("Things", "id IN (SELECT thing_id FROM sta_thing_location WHERE location_id = ?)")}),
    EntitySet("Sensors", "SELECT id, name, description, encoding_type AS encodingType, metadata, properties"
              " FROM sta_sensor", _entity("name", "description", "encodingType", "metadata", "properties"),
              {"Datastreams": Nav("Datastreams", "sensor_id = ?")}),
    EntitySet("ObservedProperties", "SELECT id, name, definition, description, properties FROM sta_observed_property",
              _entity("name", "definition", "description", "properties"),
              {"Datastreams": Nav("Datastreams", "observed_property_id = ?")}),
    EntitySet("Datastreams", "SELECT id, name, description, unit AS unitOfMeasurement, observation_type AS"
              " observationType, properties, thing_id, sensor_id, observed_property_id, feature_id, kind, point,"
              " district, yellow, red FROM sta_datastream",
              _entity("name", "description", "observationType", "properties", "unitOfMeasurement"),
              {"Thing": Nav("Things", "id = ?", "thing_id", False), "Sensor": Nav("Sensors", "id = ?", "sensor_id", False),
               "ObservedProperty": Nav("ObservedProperties", "id = ?", "observed_property_id", False),
               "Observations": Nav("Observations", "datastream_id = ?")}),
    EntitySet("Observations", f"SELECT (datastream << {TIME_BITS}) | (t - {EPOCH_MS}) AS id, datastream AS"
              " datastream_id, t AS phenomenonTime, t AS resultTime, result FROM observation",
              _entity("phenomenonTime", "resultTime", "result", times=("phenomenonTime", "resultTime")),
              {"Datastream": Nav("Datastreams", "id = ?", "datastream_id", False),
               "FeatureOfInterest": Nav("FeaturesOfInterest", "id = (SELECT feature_id FROM sta_datastream WHERE id = ?)",
                                        "datastream_id", False)}),
    EntitySet("FeaturesOfInterest", "SELECT id, name, description, encoding_type AS encodingType, lon, lat, properties"
              " FROM sta_feature", _geo_entity(),
              {"Observations": Nav("Observations", "datastream_id IN (SELECT id FROM sta_datastream WHERE feature_id = ?)")}),
)}
# The Observations entity: datastream_id is filterable as Datastream/id.
SETS["Observations"].entity.columns["Datastream/id"] = "datastream_id"
SETS["Observations"].entity.columns["Datastream/@iot.id"] = "datastream_id"
for _n in ("Thing", "Sensor", "ObservedProperty"):
    _col = {"Thing": "thing_id", "Sensor": "sensor_id", "ObservedProperty": "observed_property_id"}[_n]
    SETS["Datastreams"].entity.columns[f"{_n}/id"] = _col
    SETS["Datastreams"].entity.columns[f"{_n}/@iot.id"] = _col


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(text: Any) -> Any:
    return orjson.loads(text) if isinstance(text, str) and text else (text or {})


def _point(row: dict[str, Any]) -> dict[str, Any] | None:
    if row.get("lon") is None:
        return None
    return {"type": "Point", "coordinates": [row["lon"], row["lat"]]}


def render(set_name: str, row: dict[str, Any], base: str) -> dict[str, Any]:
    """A row as its SensorThings JSON, with self and navigation links."""
    es = SETS[set_name]
    self_link = f"{base}/{set_name}({row['id']})"
    out: dict[str, Any] = {"@iot.id": row["id"], "@iot.selfLink": self_link}
    if set_name == "Observations":
        out.update(phenomenonTime=_iso(row["phenomenonTime"]), resultTime=_iso(row["resultTime"]), result=row["result"])
    elif set_name == "Datastreams":
        props = {**_json(row["properties"]), "kind": row["kind"]}
        for k in ("point", "district", "yellow", "red"):
            if row.get(k) is not None:
                props[k] = row[k]
        out.update(name=row["name"], description=row["description"], unitOfMeasurement=_json(row["unitOfMeasurement"]),
                   observationType=row["observationType"], properties=props)
    else:
        for k, v in row.items():
            if k in ("id", "lon", "lat"):
                continue
            out[k] = _json(v) if k == "properties" else v
        if set_name == "Locations":
            out["location"] = _point(row)
        if set_name == "FeaturesOfInterest":
            out["feature"] = _point(row)
    for nav in es.navs:
        out[f"{nav}@iot.navigationLink"] = f"{self_link}/{nav}"
    if set_name == "Things":
        out["HistoricalLocations@iot.navigationLink"] = f"{self_link}/HistoricalLocations"
    return out


# Queries ----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=64)
def _geometry(wkt: str) -> Any:
    import shapely

    try:
        geom = shapely.from_wkt(wkt)
    except shapely.errors.GEOSException:
        raise InvalidInput(f"not a WKT geometry: {wkt[:80]}", "几何格式有误（WKT）") from None
    shapely.prepare(geom)
    return geom


def _sta_geo(op: str, lon: float | None, lat: float | None, wkt: str) -> int:
    import shapely

    if lon is None or lat is None:
        return 0
    geom = _geometry(wkt)
    pt = shapely.Point(lon, lat)
    test = {"st_within": lambda: shapely.within(pt, geom), "st_contains": lambda: shapely.contains(pt, geom),
            "st_equals": lambda: shapely.equals(pt, geom), "st_disjoint": lambda: shapely.disjoint(pt, geom)}
    return int(bool(test.get(op, lambda: shapely.intersects(pt, geom))()))


def _sta_distance(lon: float | None, lat: float | None, wkt: str) -> float | None:
    import shapely

    if lon is None or lat is None:
        return None
    return float(shapely.distance(shapely.Point(lon, lat), _geometry(wkt)))


def _conn(platform: Platform) -> Any:
    conn = platform.store.reader().conn
    conn.create_function("sta_geo", 4, _sta_geo, deterministic=True)
    conn.create_function("sta_geo_distance", 3, _sta_distance, deterministic=True)
    return conn


@dataclass
class Options:
    filter: str | None = None
    orderby: str | None = None
    select: list[str] | None = None
    expand: str | None = None
    top: int = DEFAULT_TOP
    skip: int = 0
    count: bool = False

    @staticmethod
    def of(params: dict[str, str]) -> Options:
        def integer(name: str, default: int) -> int:
            raw = params.get(name)
            if raw is None:
                return default
            if not raw.isdigit():
                raise InvalidInput(f"{name} must be a non-negative integer", f"{name} 须为非负整数")
            return int(raw)

        count = params.get("$count", "false").lower()
        if count not in ("true", "false"):
            raise InvalidInput("$count must be true or false", "$count 须为 true 或 false")
        select = params.get("$select")
        return Options(params.get("$filter"), params.get("$orderby"),
                       [s.strip() for s in select.split(",")] if select else None, params.get("$expand"),
                       min(integer("$top", DEFAULT_TOP), MAX_TOP), integer("$skip", 0), count == "true")


def _query(conn: Any, es: EntitySet, opts: Options, where: str | None = None, args: tuple[Any, ...] = ()
           ) -> tuple[list[dict[str, Any]], int | None]:
    clauses, params = ([where], list(args)) if where else ([], [])
    if opts.filter:
        f = parse_filter(opts.filter, es.entity)
        clauses.append(f.text)
        params += f.params
    sql = f"SELECT * FROM ({es.source}) AS e"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    count = None
    if opts.count:
        count = int(conn.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0])
    # Observations' ids follow their key (datastream, t): order by the key, read in index order.
    key = "datastream_id, phenomenonTime" if es.name == "Observations" else "id"
    order, oparams = parse_orderby(opts.orderby, es.entity) if opts.orderby else (key, [])
    if order != key:
        order += f", {key}"  # a stable order: pages never repeat or skip an entity
    cur = conn.execute(f"{sql} ORDER BY {order} LIMIT ? OFFSET ?", params + oparams + [opts.top + 1, opts.skip])
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    return rows, count


def _select(obj: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    if not select:
        return obj
    want = {"@iot.id" if s in ("id", "@iot.id") else s for s in select}
    return {k: v for k, v in obj.items() if k in want or k.split("@", 1)[0] in want and "@iot.navigationLink" in k
            or (k == "@iot.selfLink" and "@iot.selfLink" in want)}


def _parse_expand(text: str) -> list[tuple[str, dict[str, str]]]:
    """`A($top=1;$expand=B),C/D` → [("A", {"$top": "1", "$expand": "B"}), ("C", {"$expand": "D"})]."""
    out = []
    for item in split_options(text, ","):
        item = item.strip()
        opts: dict[str, str] = {}
        m = re.match(r"^([^()]+?)\((.*)\)$", item, re.S)
        if m:
            item = m.group(1).strip()
            for part in split_options(m.group(2), ";"):
                k, _, v = part.partition("=")
                opts[k.strip()] = v.strip()
        head, _, rest = item.partition("/")
        if rest:
            opts["$expand"] = rest + ("," + opts["$expand"] if "$expand" in opts else "")
        out.append((head, opts))
    return out


def _expand(conn: Any, es: EntitySet, rows: list[dict[str, Any]], objs: list[dict[str, Any]], expand: str,
            base: str) -> None:
    for name, raw in _parse_expand(expand):
        nav = es.navs.get(name)
        if nav is None:
            raise InvalidInput(f"$expand: {es.name} has no navigation property '{name}'", f"$expand：无导航属性 {name}")
        opts = Options.of(raw)
        target = SETS[nav.target]
        for row, obj in zip(rows, objs, strict=True):
            sub, _ = _query(conn, target, opts, nav.where, (row[nav.key],))
            sub = sub[:opts.top]
            items = [_select(render(target.name, r, base), opts.select) for r in sub]
            if opts.expand:
                _expand(conn, target, sub, items, opts.expand, base)
            if nav.many:
                obj[name] = items
            else:
                obj[name] = items[0] if items else None


# Routes -----------------------------------------------------------------------------------

_PATH = re.compile(r"^(?P<set>[A-Za-z]+)(?:\((?P<id>\d+|'[^']*')\))?(?:/(?P<rest>.*))?$")


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


async def _may_read(request: Request, platform: Platform) -> None:
    with platform.store.read() as repo:
        need = repo.get_setting(READ_SETTING) == "1"
    if need:
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
        "serverSettings": {"conformance": [
            "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
            "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
            "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data",
            "http://www.opengis.net/spec/iot_sensing/1.1/req/create-update-delete/create-entity",
            "http://www.opengis.net/spec/iot_sensing/1.1/req/data-array/data-array",
            "http://www.opengis.net/spec/iot_sensing/1.1/req/create-observations-via-mqtt/observations-creation",
        ]},
    }


def _resolve(conn: Any, path: str) -> tuple[EntitySet, str | None, tuple[Any, ...], bool, str | None]:
    """Walk `Set(id)/Nav(id)/…`: the entity set reached, its WHERE and args, whether it is
    one entity, and a trailing property name if any."""
    m = _PATH.match(path)
    if m is None or m.group("set") not in SETS:
        raise NotFound(f"no such SensorThings resource: {path}", f"资源不存在：{path}")
    es = SETS[m.group("set")]
    where: str | None = None
    args: tuple[Any, ...] = ()
    single = False
    if m.group("id"):
        where, args, single = "id = ?", (_entity_id(es, m.group("id")),), True
    rest = m.group("rest")
    while rest:
        head, _, tail = rest.partition("/")
        nm = re.match(r"^([A-Za-z]+)(?:\((\d+)\))?$", head)
        name = nm.group(1) if nm else head
        if single and name in es.navs:
            nav = es.navs[name]
            parent = conn.execute(f"SELECT * FROM ({es.source}) AS e WHERE {where}", args).fetchone()
            if parent is None:
                raise NotFound(f"no {es.name} {args[0]}", f"{es.name} {args[0]} 不存在")
            names = [d[0] for d in conn.execute(f"SELECT * FROM ({es.source}) LIMIT 0").description]
            value = dict(zip(names, parent, strict=True))[nav.key]
            es = SETS[nav.target]
            where, args, single = nav.where, (value,), not nav.many
            if nm and nm.group(2):
                where, args, single = f"({nav.where}) AND id = ?", (value, _entity_id(es, nm.group(2))), True
            rest = tail
            continue
        if single and head not in es.navs:
            return es, where, args, single, rest
        raise NotFound(f"no such SensorThings resource: {path}", f"资源不存在：{path}")
    return es, where, args, single, None


def _entity_id(es: EntitySet, raw: str) -> int:
    if not raw.isdigit():
        raise NotFound(f"{es.name} ids are integers", f"{es.name} 的编号为整数")
    return int(raw)


@router.get("/{path:path}")
async def read(path: str, request: Request) -> Response:
    platform: Platform = request.app.state.platform
    await _may_read(request, platform)
    base = _base(request)
    params = dict(request.query_params)
    opts = Options.of(params)
    conn = _conn(platform)
    es, where, args, single, prop = _resolve(conn, path)
    if es.name == "Observations" and where == "id = ?":  # the composite id: use the key
        ds, t = split_observation_id(args[0])
        where, args = "datastream_id = ? AND phenomenonTime = ?", (ds, t)
    if single:
        rows, _ = _query(conn, es, Options(filter=opts.filter, top=1), where, args)
        if not rows:
            raise NotFound(f"no such {es.name} entity", f"{es.name} 实体不存在")
        obj = render(es.name, rows[0], base)
        if prop:
            name, _, dollar = prop.partition("/")
            if name not in obj:
                raise NotFound(f"{es.name} has no property '{name}'", f"无属性 {name}")
            if dollar == "$value":
                return Response(str(obj[name]), media_type="text/plain")
            return JSON({name: obj[name]})
        if opts.expand:
            _expand(conn, es, rows, [obj], opts.expand, base)
        return JSON(_select(obj, opts.select))
    rows, count = _query(conn, es, opts, where, args)
    more = len(rows) > opts.top
    rows = rows[:opts.top]
    objs = [render(es.name, r, base) for r in rows]
    if opts.expand:
        _expand(conn, es, rows, objs, opts.expand, base)
    body: dict[str, Any] = {}
    if count is not None:
        body["@iot.count"] = count
    body["value"] = [_select(o, opts.select) for o in objs]
    if more:
        nxt = {**params, "$skip": str(opts.skip + opts.top), "$top": str(opts.top)}
        body["@iot.nextLink"] = f"{base}/{path}?{urlencode(nxt)}"
    return JSON(body)


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


def _ref_or_new(conn: Any, platform: Platform, set_name: str, value: Any, key: str) -> int:
    if not isinstance(value, dict):
        raise InvalidInput(f"'{key}' must be an object", f"{key} 须为对象")
    if "@iot.id" in value:
        ref = value["@iot.id"]
        table = TABLES[set_name]
        if not isinstance(ref, int) or conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (ref,)).fetchone() is None:  # noqa: S608
            raise InvalidInput(f"{key}: no {set_name} {ref!r}", f"{key}：{set_name} {ref!r} 不存在")
        return ref
    return _create(conn, platform, set_name, value, {})


def _create(conn: Any, platform: Platform, set_name: str, body: dict[str, Any], parent: dict[str, int]) -> int:
    if set_name == "Things":
        tid = int(conn.execute("INSERT INTO sta_thing (name, description, properties) VALUES (?,?,?)",
                               (_text(body, "name"), _text(body, "description", False), _props(body))).lastrowid)
        for loc in body.get("Locations", []) or []:
            lid = _ref_or_new(conn, platform, "Locations", loc, "Locations")
            conn.execute("INSERT OR IGNORE INTO sta_thing_location VALUES (?, ?)", (tid, lid))
        for ds in body.get("Datastreams", []) or []:
            _create(conn, platform, "Datastreams", ds, {"thing": tid})
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
            for th in body.get("Things", []) or []:
                conn.execute("INSERT OR IGNORE INTO sta_thing_location VALUES (?, ?)",
                             (_ref_or_new(conn, platform, "Things", th, "Things"), new))
            if "thing" in parent:
                conn.execute("INSERT OR IGNORE INTO sta_thing_location VALUES (?, ?)", (parent["thing"], new))
        return new
    if set_name == "Sensors":
        return int(conn.execute("INSERT INTO sta_sensor (name, description, encoding_type, metadata, properties)"
                                " VALUES (?,?,?,?,?)", (_text(body, "name"), _text(body, "description", False),
                                                       body.get("encodingType", "text/html"),
                                                       str(body.get("metadata", "")), _props(body))).lastrowid)
    if set_name == "ObservedProperties":
        return int(conn.execute("INSERT INTO sta_observed_property (name, definition, description, properties)"
                                " VALUES (?,?,?,?)", (_text(body, "name"), _text(body, "definition", False),
                                                     _text(body, "description", False), _props(body))).lastrowid)
    if set_name == "Datastreams":
        thing = parent.get("thing") or _ref_or_new(conn, platform, "Things", body.get("Thing"), "Thing")
        sensor = _ref_or_new(conn, platform, "Sensors", body.get("Sensor"), "Sensor")
        prop = _ref_or_new(conn, platform, "ObservedProperties", body.get("ObservedProperty"), "ObservedProperty")
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
        return new
    raise InvalidInput(f"cannot create {set_name} here", f"不能在此创建 {set_name}")


def create_entity(repo: Any, platform: Platform, set_name: str, body: dict[str, Any], parent: dict[str, int]) -> int:
    """Write op: create one entity (with inline related ones); returns its id."""
    if set_name == "Observations":
        return _create_observation(repo, platform, body, parent)
    return _create(repo.conn, platform, set_name, body, parent)


def _create_observation(repo: Any, platform: Platform, body: dict[str, Any], parent: dict[str, int]) -> int:
    ds = parent.get("datastream")
    if ds is None:
        ref = body.get("Datastream")
        ds = ref.get("@iot.id") if isinstance(ref, dict) else None
    reading = {"datastream": ds, "phenomenonTime": body.get("phenomenonTime") or _iso(int(utcnow().timestamp() * 1000)),
               "result": body.get("result")}
    cols, rejects = _one(reading)
    if rejects.total:
        raise ReadingRefused.of(rejects)
    result = ingest_client(repo, platform, cols, rejects)
    if result.rejects.total:
        raise ReadingRefused.of(result.rejects)
    if result.duplicates:
        raise Conflict("an observation of this datastream at this phenomenonTime exists (the first one stands)",
                       "该数据流在此时间已有观测（以先到者为准）")
    return observation_id(int(cols.datastream[0]), int(cols.t[0]))


def _one(reading: dict[str, Any]) -> tuple[Any, Rejects]:
    from cityops.sensing.ingest import parse_ndjson

    return parse_ndjson(orjson.dumps(reading), int(utcnow().timestamp() * 1000))


def create_observations(repo: Any, platform: Platform, groups: list[dict[str, Any]]) -> list[str]:
    """Write op for the dataArray extension: per reading its selfLink path or "error"."""
    out: list[str] = []
    now_ms = int(utcnow().timestamp() * 1000)
    ds_all: list[int] = []
    t_all: list[int] = []
    r_all: list[float] = []
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
            if not isinstance(ds, int) or t is None or isinstance(r, bool) or not isinstance(r, int | float) \
                    or t < EPOCH_MS:
                out.append("error")
                continue
            slots.append(len(out))
            out.append("")
            ds_all.append(ds)
            t_all.append(t)
            r_all.append(float(r))
    cols = Columns.of(ds_all, t_all, r_all)
    refused = ingest_client(repo, platform, cols).refused  # unknown, implausible, out of the time window
    for k, slot in enumerate(slots):
        out[slot] = "error" if refused[k] else f"Observations({observation_id(ds_all[k], t_all[k])})"
    return out


async def _writer(request: Request) -> None:
    require(await actor(request), Role.SENSOR)


async def _write_body(request: Request) -> tuple[Platform, Any]:
    """A write's prologue: the caller may write, and its body is JSON."""
    await _writer(request)
    try:
        return request.app.state.platform, orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise InvalidInput("malformed JSON body", "JSON 格式错误") from None


@router.post("/CreateObservations", status_code=201)
async def post_create_observations(request: Request) -> JSON:
    """The dataArray extension: many observations in one request."""
    platform, body = await _write_body(request)
    if not isinstance(body, list):
        raise InvalidInput("CreateObservations takes a JSON array", "CreateObservations 须为 JSON 数组")
    links = await platform.awrite(create_observations, body)
    base = _base(request)
    return JSON([x if x == "error" else f"{base}/{x}" for x in links], status_code=201)


@router.post("/{path:path}", status_code=201)
async def create(path: str, request: Request) -> Response:
    """POST to an entity set (or `Datastreams(id)/Observations`, `Things(id)/Datastreams`…)."""
    platform, body = await _write_body(request)
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", "请求体须为 JSON 对象")
    m = re.match(r"^(?:(Datastreams|Things|Locations)\((\d+)\)/)?([A-Za-z]+)$", path)
    if m is None or m.group(3) not in SETS:
        raise NotFound(f"cannot POST to {path}", f"不能向 {path} 提交")
    parent: dict[str, int] = {}
    if m.group(1):
        parent[{"Datastreams": "datastream", "Things": "thing", "Locations": "location"}[m.group(1)]] = int(m.group(2))
    set_name = m.group(3)
    try:
        new_id = await platform.awrite(create_entity, set_name, body, parent)
    except ReadingRefused as exc:  # counted like a refused reading of a batch
        await platform.awrite(count_refused, exc.reason)
        raise
    location = f"{_base(request)}/{set_name}({new_id})"
    conn = _conn(platform)
    es = SETS[set_name]
    where: str = "id = ?"
    args: tuple[Any, ...] = (new_id,)
    if set_name == "Observations":
        ds, t = split_observation_id(new_id)
        where, args = "datastream_id = ? AND phenomenonTime = ?", (ds, t)
    rows, _ = _query(conn, es, Options(top=1), where, args)
    content = render(set_name, rows[0], _base(request)) if rows else {"@iot.id": new_id}
    return JSON(content, status_code=201, headers={"Location": location})


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
}
_REFS = {"Thing": ("Things", "thing_id"), "Sensor": ("Sensors", "sensor_id"),
         "ObservedProperty": ("ObservedProperties", "observed_property_id")}


def _entity_path(path: str) -> tuple[str, int]:
    m = re.match(r"^([A-Za-z]+)\((\d+)\)$", path)
    if m is None or m.group(1) not in SETS:
        raise NotFound(f"no entity at {path}: PATCH and DELETE take Set(id)", f"{path} 不是实体路径（应为 集合(id)）")
    return m.group(1), int(m.group(2))


def _exists(conn: Any, set_name: str, entity_id: int) -> None:
    if set_name == "Observations":
        return  # checked by change_reading
    if conn.execute(f"SELECT 1 FROM {TABLES[set_name]} WHERE id = ?", (entity_id,)).fetchone() is None:  # noqa: S608
        raise NotFound(f"no such {set_name} entity", f"{set_name} 实体不存在")


def patch_entity(repo: Any, platform: Platform, set_name: str, entity_id: int, body: dict[str, Any]) -> None:
    """Write op: change the given members of one entity (the others stay)."""
    conn = repo.conn
    _exists(conn, set_name, entity_id)
    if set_name == "Observations":
        check_plausible(repo, split_observation_id(entity_id)[0], body.get("result"))
        _patch_observation(conn, entity_id, body)
        return
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
    unknown = sorted(k for k in body if k not in ("result", "phenomenonTime", "resultTime"))
    if unknown:
        raise InvalidInput(f"Observations: cannot change {', '.join(unknown)}", f"观测：不能修改 {', '.join(unknown)}")
    for key in ("phenomenonTime", "resultTime"):  # the id follows the time: it cannot move
        if key in body and parse_time(body[key]) != t:
            raise InvalidInput(f"an Observation's {key} cannot change (its id follows it); delete and create instead",
                               f"观测的 {key} 不能修改（标识由其决定），请删除后重建")
    if "result" in body:
        r = body["result"]
        if isinstance(r, bool) or not isinstance(r, int | float) or not math.isfinite(r):
            raise InvalidInput("'result' must be a finite number", "result 须为有限数值")
        found = change_reading(conn, ds, t, float(r))
    else:  # the one segment that may hold t, not the view (it expands every segment of the datastream)
        found = len(read_ranges(conn, np.array([ds], np.int64), np.array([t]), np.array([t]))) > 0
    if not found:
        raise NotFound("no such Observations entity", "Observations 实体不存在")


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
        ids = [int(r[0]) for r in conn.execute("SELECT id FROM sta_datastream WHERE feature_id = ?", (entity_id,))]
        conn.execute("DELETE FROM observation_segment WHERE datastream IN (SELECT value FROM json_each(?))",
                     (orjson.dumps(ids).decode(),))
        conn.execute("UPDATE sta_datastream SET feature_id = NULL WHERE feature_id = ?", (entity_id,))
    if set_name in ("Things", "Locations"):
        column = "thing_id" if set_name == "Things" else "location_id"
        conn.execute(f"DELETE FROM sta_thing_location WHERE {column} = ?", (entity_id,))  # noqa: S608
    if set_name != "Datastreams":
        conn.execute(f"DELETE FROM {TABLES[set_name]} WHERE id = ?", (entity_id,))  # noqa: S608


@router.patch("/{path:path}")
async def update(path: str, request: Request) -> JSON:
    """PATCH one entity: the members given change, the rest stay (200 with the entity)."""
    platform, body = await _write_body(request)
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", "请求体须为 JSON 对象")
    set_name, entity_id = _entity_path(path)
    try:
        await platform.awrite(patch_entity, set_name, entity_id, body)
    except ReadingRefused as exc:  # counted like a refused reading of a batch
        await platform.awrite(count_refused, exc.reason)
        raise
    where: str = "id = ?"
    args: tuple[Any, ...] = (entity_id,)
    if set_name == "Observations":
        where, args = "datastream_id = ? AND phenomenonTime = ?", split_observation_id(entity_id)
    rows, _ = _query(_conn(platform), SETS[set_name], Options(top=1), where, args)
    return JSON(render(set_name, rows[0], _base(request)) if rows else {"@iot.id": entity_id})


@router.delete("/{path:path}")
async def remove(path: str, request: Request) -> Response:
    """DELETE one entity (and what goes with it): 200, no body."""
    await _writer(request)
    platform: Platform = request.app.state.platform
    set_name, entity_id = _entity_path(path)
    await platform.awrite(delete_entity, set_name, entity_id)
    return Response(status_code=200)
