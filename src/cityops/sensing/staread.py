"""SensorThings reads: entity sets as SQL, a request's options, its cost bound, and `$expand`
as one query per navigation and level (never one per parent entity).

Everything here is synchronous and runs off the event loop (sta.py hands it to a worker
thread); a request's whole cost is bounded before any SQL runs: `$top` is served in pages
of at most MAX_TOP (with `@iot.nextLink`), and `$skip`, `$expand` (depth, breadth and the
entities it may return) and `$filter` (length, nesting) have limits answered with 400.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import numpy as np
import orjson

from cityops.core import Platform
from cityops.errors import InvalidInput, NotFound
from cityops.sensing.staquery import (
    Entity,
    Link,
    World,
    parse_filter,
    parse_orderby,
    qualify,
    split_options,
)
from cityops.sensing.store import EPOCH_MS, TIME_BITS, split_observation_id

DEFAULT_TOP = 100
MAX_TOP = 1000  # a larger $top is served page by page (@iot.nextLink), as FROST does
MAX_SKIP = 1_000_000  # skipped rows are still read: page with a $filter on time beyond this
MAX_EXPAND_DEPTH = 3
MAX_EXPAND_ITEMS = 16  # navigation properties expanded in one request, all levels together: one query each
MAX_ENTITIES = 100_000  # the most entities one answer may hold, expanded ones included
MAX_ID = 2**63 - 1  # SQLite's largest integer


class CostError(InvalidInput):
    """A request whose cost is over a bound: 400, with what to change."""

    status = 400
    code = "query_too_costly"


@dataclass(frozen=True)
class Nav:
    """A navigation property: the target's rows whose `column` equals the parent's `key`
    value, or, through `pairs` (SQL of (p, c) rows), whose `column` is a c of that p."""

    target: str
    key: str = "id"
    many: bool = True
    column: str = "id"
    pairs: str | None = None
    same: str | None = None  # SQL over the target's row `{a}` that must equal the parent's key value too
    sql_key: str | None = None  # SQL over the parent's row `{a}` for `key` where it is no column

    @property
    def where(self) -> str:
        """SQL over the target's rows `e` with a `?` (two with `same`) for the parent's key value."""
        if self.pairs is None:
            return f"{self.column} = ?"
        also = f" AND {qualify(self.same, 'e')} = ?" if self.same else ""
        return f"{self.column} IN (SELECT c FROM ({self.pairs}) WHERE p = ?){also}"

    def args(self, value: Any) -> tuple[Any, ...]:
        return (value, value) if self.same and self.pairs else (value,)

    @property
    def link(self) -> Link:
        return Link(self.target, self.sql_key or self.key, self.column, self.pairs, self.same)


@dataclass(frozen=True)
class EntitySet:
    name: str
    source: str
    entity: Entity
    navs: dict[str, Nav] = field(default_factory=dict)


def _entity(*names: str, times: tuple[str, ...] = (), geo: bool = False) -> Entity:
    cols = {n: n for n in ("id", *names)}
    cols["@iot.id"] = "id"
    geometries = {"location": ("lon", "lat"), "feature": ("lon", "lat")} if geo else {}
    json = frozenset(n for n in ("properties", "unitOfMeasurement") if n in cols)  # `unitOfMeasurement/symbol`
    return Entity(cols, times=frozenset(times), geometries=geometries, json=json or frozenset({"properties"}))


_THING_LOCATION = "SELECT thing_id AS p, location_id AS c FROM sta_thing_location"
_HL_LOCATION = "SELECT historical_location_id AS p, location_id AS c FROM sta_historical_location_location"
_LOCATION_HL = "SELECT location_id AS p, historical_location_id AS c FROM sta_historical_location_location"
_LOCATION_THING = "SELECT location_id AS p, thing_id AS c FROM sta_thing_location"
# An Observation's own members (migration 0022): its resultTime as its client gave it (µs,
# NULL when none was) and its FeatureOfInterest, else its Datastream's. Not columns of the
# source (a read of a big Datastream would look them up for every reading it sorts): the rows
# a read returns get them afterwards (`_own`); a $filter or $orderby that names them uses these
# SQL templates over the row `{a}` (primary-key seeks).
_OWN = "(SELECT x.MEMBER FROM sta_observation AS x WHERE x.datastream = {a}.datastream_id AND x.t = {a}.phenomenonTime)"
_RESULT_MS = f"({_OWN.replace('MEMBER', 'result_time')} / 1000)"
_OBS_FEATURE = (f"COALESCE({_OWN.replace('MEMBER', 'feature_id')},"
                " (SELECT d.feature_id FROM sta_datastream AS d WHERE d.id = {a}.datastream_id))")
# A FeatureOfInterest's Observations are among those of the Datastreams that have it (theirs, or
# some readings' own): the index finds them, `same` keeps the readings that have it.
_FEATURE_DATASTREAMS = ("SELECT feature_id AS p, id AS c FROM sta_datastream UNION"
                        " SELECT feature_id, datastream FROM sta_observation WHERE feature_id IS NOT NULL")
_GEO_COLUMNS = "id, name, description, encoding_type AS encodingType, lon, lat, properties"

SETS: dict[str, EntitySet] = {s.name: s for s in (
    EntitySet("Things", "SELECT id, name, description, properties FROM sta_thing",
              _entity("name", "description", "properties"),
              {"Locations": Nav("Locations", pairs=_THING_LOCATION),
               "HistoricalLocations": Nav("HistoricalLocations", column="thing_id"),
               "Datastreams": Nav("Datastreams", column="thing_id")}),
    EntitySet("Locations", f"SELECT {_GEO_COLUMNS} FROM sta_location",
              _entity("name", "description", "encodingType", "properties", geo=True),
              {"Things": Nav("Things", pairs=_LOCATION_THING),
               "HistoricalLocations": Nav("HistoricalLocations", pairs=_LOCATION_HL)}),
    EntitySet("HistoricalLocations", "SELECT id, time, thing_id FROM sta_historical_location",
              _entity("time", times=("time",)),
              {"Thing": Nav("Things", "thing_id", False), "Locations": Nav("Locations", pairs=_HL_LOCATION)}),
    EntitySet("Sensors", "SELECT id, name, description, encoding_type AS encodingType, metadata, properties"
              " FROM sta_sensor", _entity("name", "description", "encodingType", "metadata", "properties"),
              {"Datastreams": Nav("Datastreams", column="sensor_id")}),
    EntitySet("ObservedProperties", "SELECT id, name, definition, description, properties FROM sta_observed_property",
              _entity("name", "definition", "description", "properties"),
              {"Datastreams": Nav("Datastreams", column="observed_property_id")}),
    EntitySet("Datastreams", "SELECT id, name, description, unit AS unitOfMeasurement, observation_type AS"
              " observationType, properties, thing_id, sensor_id, observed_property_id, feature_id, kind, point,"
              " district, yellow, red FROM sta_datastream",
              _entity("name", "description", "observationType", "properties", "unitOfMeasurement"),
              {"Thing": Nav("Things", "thing_id", False), "Sensor": Nav("Sensors", "sensor_id", False),
               "ObservedProperty": Nav("ObservedProperties", "observed_property_id", False),
               "Observations": Nav("Observations", column="datastream_id")}),
    EntitySet("Observations", f"SELECT (datastream << {TIME_BITS}) | (t - {EPOCH_MS}) AS id, datastream AS"
              " datastream_id, t AS phenomenonTime, result FROM observation",
              _entity("phenomenonTime", "resultTime", "result", times=("phenomenonTime", "resultTime")),
              {"Datastream": Nav("Datastreams", "datastream_id", False),
               "FeatureOfInterest": Nav("FeaturesOfInterest", "feature_id", False, sql_key=_OBS_FEATURE)}),
    EntitySet("FeaturesOfInterest", f"SELECT {_GEO_COLUMNS} FROM sta_feature",
              _entity("name", "description", "encodingType", "properties", geo=True),
              {"Observations": Nav("Observations", column="datastream_id", pairs=_FEATURE_DATASTREAMS,
                                   same=_OBS_FEATURE)}),
)}
# Direct columns for the commonest paths (no subquery): an Observation's Datastream id, a
# Datastream's Thing, Sensor and ObservedProperty ids.
for _path, _col in (("Datastream/id", "datastream_id"), ("Datastream/@iot.id", "datastream_id"),
                    ("FeatureOfInterest/id", _OBS_FEATURE), ("FeatureOfInterest/@iot.id", _OBS_FEATURE)):
    SETS["Observations"].entity.columns[_path] = _col
SETS["Observations"].entity.columns["resultTime"] = _RESULT_MS  # ms, as every time a query names
for _n, _col in (("Thing", "thing_id"), ("Sensor", "sensor_id"), ("ObservedProperty", "observed_property_id")):
    SETS["Datastreams"].entity.columns[f"{_n}/id"] = _col
    SETS["Datastreams"].entity.columns[f"{_n}/@iot.id"] = _col
for _es in SETS.values():
    _es.entity.links.update({n: nav.link for n, nav in _es.navs.items()})
WORLD: World = {name: (es.entity, es.source) for name, es in SETS.items()}


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_us(us: int | None) -> str | None:
    """µs since the epoch as ISO 8601 UTC: milliseconds, or microseconds where it has them."""
    if us is None:
        return None
    spec = "milliseconds" if us % 1000 == 0 else "microseconds"
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000) \
        .isoformat(timespec=spec).replace("+00:00", "Z")


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
        out.update(phenomenonTime=iso(row["phenomenonTime"]), resultTime=iso_us(row["result_us"]),
                   result=row["result"])
    elif set_name == "HistoricalLocations":
        out["time"] = iso(row["time"])
    elif set_name == "Datastreams":
        props = {**_json(row["properties"]), "kind": row["kind"]}
        for k in ("point", "district", "yellow", "red"):
            if row.get(k) is not None:
                props[k] = row[k]
        out.update(name=row["name"], description=row["description"], unitOfMeasurement=_json(row["unitOfMeasurement"]),
                   observationType=row["observationType"], properties=props)
    else:
        for k, v in row.items():
            if k in ("id", "lon", "lat") or k.startswith("_"):
                continue
            out[k] = _json(v) if k == "properties" else v
        if set_name == "Locations":
            out["location"] = _point(row)
        if set_name == "FeaturesOfInterest":
            out["feature"] = _point(row)
    for nav in es.navs:
        out[f"{nav}@iot.navigationLink"] = f"{self_link}/{nav}"
    return out


def render_rows(set_name: str, rows: list[dict[str, Any]], base: str) -> list[dict[str, Any]]:
    """Rows as SensorThings JSON; Observations (the many) with their times formatted at once."""
    if set_name != "Observations" or not rows:
        return [render(set_name, r, base) for r in rows]
    ms = np.array([r["phenomenonTime"] for r in rows], "datetime64[ms]")
    times = [f"{t}Z" for t in np.datetime_as_string(ms, unit="ms").tolist()]
    out = []
    for r, when in zip(rows, times, strict=True):
        link = f"{base}/Observations({r['id']})"
        us = r["result_us"]
        out.append({"@iot.id": r["id"], "@iot.selfLink": link, "phenomenonTime": when,
                    "resultTime": None if us is None else iso_us(us),
                    "result": r["result"], "Datastream@iot.navigationLink": f"{link}/Datastream",
                    "FeatureOfInterest@iot.navigationLink": f"{link}/FeatureOfInterest"})
    return out


# Geometry functions for $filter ---------------------------------------------------------------

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
            "st_equals": lambda: shapely.equals(pt, geom), "st_disjoint": lambda: shapely.disjoint(pt, geom),
            "st_touches": lambda: shapely.touches(pt, geom), "st_overlaps": lambda: shapely.overlaps(pt, geom),
            "st_crosses": lambda: shapely.crosses(pt, geom)}
    return int(bool(test.get(op, lambda: shapely.intersects(pt, geom))()))


def _sta_distance(lon: float | None, lat: float | None, wkt: str) -> float | None:
    import shapely

    if lon is None or lat is None:
        return None
    return float(shapely.distance(shapely.Point(lon, lat), _geometry(wkt)))


def _sta_relate(lon: float | None, lat: float | None, wkt: str, pattern: str) -> int:
    import shapely

    if lon is None or lat is None:
        return 0
    try:
        return int(bool(shapely.relate_pattern(shapely.Point(lon, lat), _geometry(wkt), pattern)))
    except shapely.errors.GEOSException:
        raise InvalidInput(f"not a DE-9IM pattern: {pattern[:20]}", "DE-9IM 模式有误") from None


def _sta_length(wkt: str) -> float:
    import shapely

    return float(shapely.length(_geometry(wkt)))


def connection(platform: Platform) -> Any:
    """This thread's reader, with the geometry functions $filter uses."""
    conn = platform.store.reader().conn
    conn.create_function("sta_geo", 4, _sta_geo, deterministic=True)
    conn.create_function("sta_geo_distance", 3, _sta_distance, deterministic=True)
    conn.create_function("sta_geo_relate", 4, _sta_relate, deterministic=True)
    conn.create_function("sta_geo_length", 1, _sta_length, deterministic=True)
    return conn


# Options and their cost ---------------------------------------------------------------------

# What `$select` may name besides navigation properties: each entity's properties in OGC 18-088
# §8.2 (those cityops does not keep, as an Observation's validTime, select nothing).
_COMMON = ("id", "@iot.id", "@iot.selfLink")
_SELECTABLE: dict[str, frozenset[str]] = {k: frozenset((*_COMMON, *v)) for k, v in {
    "Things": ("name", "description", "properties"),
    "Locations": ("name", "description", "encodingType", "location", "properties"),
    "HistoricalLocations": ("time",),
    "Sensors": ("name", "description", "encodingType", "metadata", "properties"),
    "ObservedProperties": ("name", "definition", "description", "properties"),
    "Datastreams": ("name", "description", "unitOfMeasurement", "observationType", "properties", "observedArea",
                    "phenomenonTime", "resultTime"),
    "Observations": ("phenomenonTime", "resultTime", "result", "resultQuality", "validTime", "parameters"),
    "FeaturesOfInterest": ("name", "description", "encodingType", "feature", "properties"),
}.items()}

@dataclass
class Options:
    filter: str | None = None
    orderby: str | None = None
    select: list[str] | None = None
    expand: list[Expand] = field(default_factory=list)
    top: int = DEFAULT_TOP
    skip: int = 0
    count: bool = False

    @staticmethod
    def of(params: dict[str, str], es: EntitySet | None = None, depth: int = 0, budget: list[int] | None = None
           ) -> Options:
        """The options of a request (or of one `$expand` item), checked: `$expand` against
        `es`'s navigation properties and the depth and breadth bounds, `$filter` parsed."""
        def integer(name: str, default: int, most: int | None) -> int:
            raw = params.get(name)
            if raw is None:
                return default
            if not raw.isdigit():
                raise InvalidInput(f"{name} must be a non-negative integer", f"{name} 须为非负整数")
            value = int(raw) if len(raw) < 20 else MAX_ID + 1
            if most is not None and value > most:
                raise CostError(f"{name}={raw[:24]} is over the limit of {most:,}; narrow the request with $filter",
                                f"{name} 超过上限 {most:,}，请用 $filter 缩小范围")
            return value

        count = params.get("$count", "false").lower()
        if count not in ("true", "false"):
            raise InvalidInput("$count must be true or false", "$count 须为 true 或 false")
        select = params.get("$select")
        opts = Options(params.get("$filter"), params.get("$orderby"),
                       [s.strip() for s in select.split(",")] if select else None, [],
                       min(integer("$top", DEFAULT_TOP, None), MAX_TOP), integer("$skip", 0, MAX_SKIP),
                       count == "true")
        if es is not None:
            # `unitOfMeasurement/symbol`, `properties/x`: a path into a property selects that property
            unknown = [s for s in opts.select or [] if s.split("/", 1)[0] not in _SELECTABLE[es.name]
                       and s not in es.navs]
            if unknown:
                raise InvalidInput(f"$select: {es.name} has no property {', '.join(unknown)}",
                                   f"$select：{es.name} 无属性 {', '.join(unknown)}")
            if opts.filter:
                parse_filter(opts.filter, es.entity, WORLD)  # refused now, before any SQL
            if opts.orderby:
                parse_orderby(opts.orderby, es.entity, WORLD)
            if params.get("$expand"):
                budget = budget if budget is not None else [MAX_EXPAND_ITEMS]
                opts.expand = _plan(es, params["$expand"], depth + 1, budget)
        return opts


@dataclass
class Expand:
    name: str
    nav: Nav
    opts: Options


def _plan(es: EntitySet, text: str, depth: int, budget: list[int]) -> list[Expand]:
    if depth > MAX_EXPAND_DEPTH:
        raise CostError(f"$expand nests more than {MAX_EXPAND_DEPTH} levels deep",
                        f"$expand 嵌套超过 {MAX_EXPAND_DEPTH} 层")
    out = []
    for name, raw in _parse_expand(text):
        nav = es.navs.get(name)
        if nav is None:
            raise InvalidInput(f"$expand: {es.name} has no navigation property '{name}'", f"$expand：无导航属性 {name}")
        budget[0] -= 1
        if budget[0] < 0:
            raise CostError(f"$expand names more than {MAX_EXPAND_ITEMS} navigation properties",
                            f"$expand 展开的导航属性超过 {MAX_EXPAND_ITEMS} 个")
        out.append(Expand(name, nav, Options.of(raw, SETS[nav.target], depth, budget)))
    return out


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
    merged: dict[str, dict[str, str]] = {}  # `A/B,A/C` is A expanded once, with B and C
    for head, opts in out:
        if head in merged:
            into = merged[head]
            more = opts.pop("$expand", None)
            if more:
                into["$expand"] = into["$expand"] + "," + more if into.get("$expand") else more
            for k, v in opts.items():
                into.setdefault(k, v)
        else:
            merged[head] = opts
    return list(merged.items())


def check_cost(spent: list[int], more: int) -> None:
    """Before an expansion's query runs: what it may add (its parents, known now, times its
    `$top`), with what the answer holds already, is at most MAX_ENTITIES; else a 400, and the
    query never runs. Counting the parents found, not every parent `$top` allowed, lets a
    small answer nest as deep as a client asks while a large one is refused before it costs."""
    if spent[0] + more > MAX_ENTITIES:
        total = spent[0] + more
        raise CostError(
            f"this request may return up to {total:,} entities (with $expand); the limit is {MAX_ENTITIES:,}:"
            " lower $top, or the $top inside $expand (the default there is 100)",
            f"此请求最多可能返回 {total:,} 个实体（含 $expand），上限为 {MAX_ENTITIES:,}：请减小 $top 或 $expand 内的 $top")


# Queries ------------------------------------------------------------------------------------

def _order(es: EntitySet, opts: Options) -> tuple[str, list[Any]]:
    # Observations' ids follow their key (datastream, t): order by the key, read in index order.
    key = "datastream_id, phenomenonTime" if es.name == "Observations" else "id"
    order, params = parse_orderby(opts.orderby, es.entity, WORLD) if opts.orderby else (key, [])
    if order != key:
        order += f", {key}"  # a stable order: pages never repeat or skip an entity
    return order, params


def _rows(cur: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _own(conn: Any, es: EntitySet, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Observations' own members (`result_us`, `feature_id`) for the rows a read returns: two
    queries, whatever their number (none for the other entity sets)."""
    if es.name != "Observations" or not rows:
        return rows
    keys = orjson.dumps([[r["datastream_id"], r["phenomenonTime"]] for r in rows]).decode()
    own = {(d, t): (us, f) for d, t, us, f in conn.execute(
        "SELECT x.datastream, x.t, x.result_time, x.feature_id FROM json_each(?) AS j JOIN sta_observation AS x"
        " ON x.datastream = j.value ->> 0 AND x.t = j.value ->> 1", (keys,))}
    streams = orjson.dumps(sorted({r["datastream_id"] for r in rows})).decode()
    default = dict(conn.execute("SELECT id, feature_id FROM sta_datastream WHERE id IN (SELECT value FROM json_each(?))",
                                (streams,)).fetchall())
    for r in rows:
        us, f = own.get((r["datastream_id"], r["phenomenonTime"]), (None, None))
        r["result_us"], r["feature_id"] = us, f if f is not None else default.get(r["datastream_id"])
    return rows


def query(conn: Any, es: EntitySet, opts: Options, where: str | None = None, args: tuple[Any, ...] = ()
          ) -> tuple[list[dict[str, Any]], int | None]:
    """Up to top + 1 rows (the one more says whether there is a next page), and the count."""
    clauses, params = ([where], list(args)) if where else ([], [])
    if opts.filter:
        f = parse_filter(opts.filter, es.entity, WORLD)
        clauses.append(f.text)
        params += f.params
    sql = f"SELECT * FROM ({es.source}) AS e"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    count = None
    if opts.count:
        count = int(conn.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0])
    order, oparams = _order(es, opts)
    cur = conn.execute(f"{sql} ORDER BY {order} LIMIT ? OFFSET ?", params + oparams + [opts.top + 1, opts.skip])
    return _own(conn, es, _rows(cur)), count


def _children(conn: Any, nav: Nav, es: EntitySet, opts: Options, parents: list[Any]
              ) -> tuple[dict[Any, list[dict[str, Any]]], dict[Any, int]]:
    """Each parent key's page of target rows (top + 1 at most) in ONE query: ROW_NUMBER()
    over the parent's partition gives every parent its own `$top`/`$skip`; and each parent's
    count when `$count` asks (one more query)."""
    parent = "l.p" if nav.pairs else f"e.{nav.column}"
    join = f" JOIN ({nav.pairs}) AS l ON l.c = e.{nav.column}" if nav.pairs else ""
    if nav.pairs and nav.same:
        join += f" AND {qualify(nav.same, 'e')} = l.p"
    clauses = [f"{parent} IN (SELECT value FROM json_each(?))"]
    params: list[Any] = [orjson.dumps(parents).decode()]
    if opts.filter:
        f = parse_filter(opts.filter, es.entity, WORLD)
        clauses.append(f.text)
        params += f.params
    base = f"FROM ({es.source}) AS e{join} WHERE {' AND '.join(clauses)}"
    order, oparams = _order(es, opts)
    if nav.pairs is None:  # the partition's own key orders nothing within it
        order = order.removeprefix(f"{nav.column}, ")
    sql = (f"SELECT * FROM (SELECT e.*, {parent} AS _parent, ROW_NUMBER() OVER (PARTITION BY {parent}"
           f" ORDER BY {order}) AS _rn {base}) WHERE _rn > ? AND _rn <= ?")
    out: dict[Any, list[dict[str, Any]]] = {}
    for row in _own(conn, es, _rows(conn.execute(sql, params + oparams + [opts.skip, opts.skip + opts.top + 1]))):
        out.setdefault(row["_parent"], []).append(row)
    for rows in out.values():  # in row-number order (sorted already, as SQLite emits windows)
        rows.sort(key=lambda r: r["_rn"])
    counts: dict[Any, int] = {}
    if opts.count:
        counts = {p: int(n) for p, n in conn.execute(f"SELECT {parent}, count(*) {base} GROUP BY {parent}", params)}
    return out, counts


def select(obj: dict[str, Any], fields: list[str] | None, expanded: list[Expand] | None = None) -> dict[str, Any]:
    """The members `$select` names (expanded navigation properties always stay)."""
    return select_many([obj], fields, expanded)[0]


def select_many(objs: list[dict[str, Any]], fields: list[str] | None, expanded: list[Expand] | None = None
                ) -> list[dict[str, Any]]:
    if not fields or not objs:
        return objs
    want = {"@iot.id" if s in ("id", "@iot.id") else s.split("/", 1)[0] for s in fields}
    # An expanded one stays with its count and next page; its navigation link only if selected.
    inline = {e.name for e in expanded or []}
    inline |= {f"{n}@iot.{a}" for n in inline for a in ("count", "nextLink")}
    seen: dict[str, Any] = {}
    for o in objs:  # every key that occurs, in the order met (C-speed, not a test per key and object)
        seen.update(o)
    keep = [k for k in seen if k in want or k in inline or k.split("@", 1)[0] in want and "@iot." in k
            or (k == "@iot.selfLink" and "@iot.selfLink" in want)]
    return [{k: o[k] for k in keep if k in o} for o in objs]


def expand(conn: Any, es: EntitySet, rows: list[dict[str, Any]], objs: list[dict[str, Any]], items: list[Expand],
           base: str, spent: list[int]) -> None:
    """Fill in each expanded navigation property of these entities: one query per property
    and level, whatever the number of parents; `spent`: the entities the answer holds so far."""
    for item in items:
        nav, opts = item.nav, item.opts
        target = SETS[nav.target]
        keys = sorted({row[nav.key] for row in rows if row[nav.key] is not None})
        check_cost(spent, len(keys) * (opts.top + 1 if nav.many else 1))
        found, counts = _children(conn, nav, target, opts, keys) if keys else ({}, {})
        pages = {key: sub[:opts.top] for key, sub in found.items()}
        spent[0] += sum(len(page) for page in pages.values())
        flat = render_rows(target.name, [r for page in pages.values() for r in page], base)  # all at once
        rendered, at = {}, 0
        for key, page in pages.items():
            rendered[key] = flat[at:at + len(page)]
            at += len(page)
        if opts.expand:
            expand(conn, target, [r for page in pages.values() for r in page], flat, opts.expand, base, spent)
        if opts.select:
            rendered = {key: select_many(objs_of, opts.select, opts.expand) for key, objs_of in rendered.items()}
        for row, obj in zip(rows, objs, strict=True):
            key = row[nav.key]
            got = rendered.get(key, [])
            if not nav.many:
                obj[item.name] = got[0] if got else None
                continue
            if opts.count:
                obj[f"{item.name}@iot.count"] = counts.get(key, 0)
            obj[item.name] = got
            if len(found.get(key, [])) > opts.top > 0:
                nxt = {"$top": str(opts.top), "$skip": str(opts.skip + opts.top)}
                obj[f"{item.name}@iot.nextLink"] = f"{base}/{es.name}({row['id']})/{item.name}?{urlencode(nxt)}"


# Paths and the read itself ----------------------------------------------------------------

_PATH = re.compile(r"^(?P<set>[A-Za-z]+)(?:\((?P<id>\d+|'[^']*')\))?(?:/(?P<rest>.*))?$")


def entity_id(es: EntitySet | str, raw: str) -> int:
    """An id from a path; one past SQLite's integers names no entity (404, not a 500)."""
    name = es if isinstance(es, str) else es.name
    if not raw.isdigit():
        raise NotFound(f"{name} ids are integers", f"{name} 的编号为整数")
    if len(raw) > 19 or int(raw) > MAX_ID:
        raise NotFound(f"no such {name} entity: {raw[:24]} is past the largest id", f"{name} 实体不存在（编号超出范围）")
    return int(raw)


def resolve(conn: Any, path: str) -> tuple[EntitySet, str | None, tuple[Any, ...], bool, str | None]:
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
        where, args, single = "id = ?", (entity_id(es, m.group("id")),), True
    rest = m.group("rest")
    while rest:
        head, _, tail = rest.partition("/")
        nm = re.match(r"^([A-Za-z]+)(?:\((\d+)\))?$", head)
        name = nm.group(1) if nm else head
        if single and name in es.navs:
            nav = es.navs[name]
            where, args = _key_where(es, where, args)
            cur = conn.execute(f"SELECT * FROM ({es.source}) AS e WHERE {where}", args)
            parent = _own(conn, es, _rows(cur))
            if not parent:
                raise NotFound(f"no {es.name} {args[0]}", f"{es.name} {args[0]} 不存在")
            es = SETS[nav.target]
            where, args, single = nav.where, nav.args(parent[0][nav.key]), not nav.many
            if nm and nm.group(2):
                where, args, single = f"({nav.where}) AND id = ?", (*args, entity_id(es, nm.group(2))), True
            rest = tail
            continue
        if single and head not in es.navs:
            return es, where, args, single, rest
        raise NotFound(f"no such SensorThings resource: {path}", f"资源不存在：{path}")
    return es, where, args, single, None


def _key_where(es: EntitySet, where: str | None, args: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """An Observation by id is found by its key (datastream, t): the view has no index on id."""
    if es.name == "Observations" and where == "id = ?":
        return "datastream_id = ? AND phenomenonTime = ?", split_observation_id(args[0])
    return where or "1", args


def read(platform: Platform, path: str, params: dict[str, str], base: str) -> tuple[Any, str]:
    """GET of any resource: (body, media type). Runs in a worker thread."""
    conn = connection(platform)
    if path.endswith("/$ref"):  # the entities' selfLinks only (§9.2.9)
        return read(platform, path.removesuffix("/$ref"), {**params, "$select": "@iot.selfLink"}, base)
    es, where, args, single, prop = resolve(conn, path)
    opts = Options.of(params, es)
    if single:
        where, args = _key_where(es, where, args)
        rows, _ = query(conn, es, Options(filter=opts.filter, top=1), where, args)
        if not rows:
            raise NotFound(f"no such {es.name} entity", f"{es.name} 实体不存在")
        obj = render(es.name, rows[0], base)
        if prop:
            name, _, dollar = prop.partition("/")
            if name not in obj:
                raise NotFound(f"{es.name} has no property '{name}'", f"无属性 {name}")
            if dollar == "$value":  # a string as it is, anything else as its JSON text
                value = obj[name]
                return (value if isinstance(value, str) else orjson.dumps(value).decode()), "text/plain"
            if dollar:
                raise NotFound(f"no such SensorThings resource: {path}", f"资源不存在：{path}")
            return {name: obj[name]}, "application/json"
        if opts.expand:
            expand(conn, es, rows[:1], [obj], opts.expand, base, [1])
        return select(obj, opts.select, opts.expand), "application/json"
    rows, count = query(conn, es, opts, where, args)
    more = len(rows) > opts.top > 0  # $top=0 asks for none (a count): no next page to follow
    rows = rows[:opts.top]
    objs = render_rows(es.name, rows, base)
    if opts.expand:
        expand(conn, es, rows, objs, opts.expand, base, [len(rows)])
    body: dict[str, Any] = {}
    if count is not None:
        body["@iot.count"] = count
    body["value"] = select_many(objs, opts.select, opts.expand)
    if more:
        nxt = {**params, "$skip": str(opts.skip + opts.top), "$top": str(opts.top)}
        body["@iot.nextLink"] = f"{base}/{path}?{urlencode(nxt)}"
    return body, "application/json"


def read_one(platform: Platform, set_name: str, entity: int, base: str) -> dict[str, Any]:
    """One entity as JSON after a write (PATCH): by its key."""
    es = SETS[set_name]
    where, args = _key_where(es, "id = ?", (entity,))
    rows, _ = query(connection(platform), es, Options(top=1), where, args)
    return render(set_name, rows[0], base) if rows else {"@iot.id": entity}
