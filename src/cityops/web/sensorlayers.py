"""Live map layers of the sensing and warning features: gauges, traffic detectors, warnings.

Each answers columns built from one SQL query over the datastreams and one read of their latest
readings (`sensing.store.latest_readings`: one segment decoded per datastream), aligned by id;
the levels are computed on NumPy arrays. Warnings draw their CAP areas: the same simplified
district polygons the CAP document carries (`cap.polygon_text`), cached per district.
All three are registered with their source, so the change feed pushes them to the pages
(`event: layer`) when their columns change, instead of the pages polling.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np

from cityops.detect.waterlogging import RED_CM, YELLOW_CM
from cityops.geo.models import CityPack
from cityops.sensing.store import latest_readings
from cityops.web.layers import Layer, register_layer

# Colour levels shared with the page: 0 no reading, 1 green, 2 yellow, 3 red.
SLOW_RATIO, JAM_RATIO = 0.7, 0.4  # speed / free flow: below 0.7 slow (yellow), below 0.4 jammed (red)
SLOW_KMH, JAM_KMH = 40.0, 20.0  # without a free-flow speed

_STREAMS = ("SELECT d.id, coalesce(d.point, ''), d.lon, d.lat, {extra} "
            "FROM sta_datastream d WHERE d.kind = ? AND d.lon IS NOT NULL ORDER BY d.id")


def _with_latest(conn: sqlite3.Connection, sql: str, kind: str, width: int) -> list[np.ndarray]:
    """The datastreams' columns, then each one's latest result (NaN if none) and time (None)."""
    cols = _columns(conn.execute(sql, (kind,)).fetchall(), width)
    ids = cols[0].astype(np.int64)
    latest = latest_readings(conn, ids.tolist())
    at = np.searchsorted(latest.datastream, ids)  # both sorted by id
    found = at < len(latest)
    found[found] = latest.datastream[at[found]] == ids[found]
    value = np.full(len(ids), np.nan)
    value[found] = latest.result[at[found]]
    t = np.full(len(ids), None, object)
    t[found] = latest.t[at[found]].tolist()
    return [*cols, value, t]


def _columns(rows: list[Any], width: int) -> list[np.ndarray]:
    if not rows:
        return [np.empty(0) for _ in range(width)]
    return [np.array(c) for c in zip(*rows, strict=True)]


def _floats(a: np.ndarray) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in a.tolist()], np.float64) if a.dtype == object else a.astype(
        np.float64)


def _list(a: np.ndarray) -> list[float | None]:
    """Floats for JSON, NaN (no value) as null."""
    out: list[float | None] = np.round(a, 2).tolist()
    return [None if v != v else v for v in out]  # NaN != NaN


def gauges(conn: sqlite3.Connection) -> dict[str, Any]:
    """Every water gauge with its latest depth (cm), thresholds and level."""
    sql = _STREAMS.format(extra=f"coalesce(d.yellow, {YELLOW_CM}), coalesce(d.red, {RED_CM})")
    ids, point, lon, lat, yellow, red, value, t = _with_latest(conn, sql, "water_depth", 6)
    v, y, r = _floats(value), _floats(yellow), _floats(red)
    level = np.where(np.isnan(v), 0, 1 + (v >= y) + (v >= r))
    return {"type": "points", "id": ids.tolist(), "point": point.tolist(), "lon": lon.tolist(), "lat": lat.tolist(),
            "value": _list(v), "yellow": y.tolist(), "red": r.tolist(), "level": level.astype(int).tolist(),
            "t": [None if x is None else int(x) for x in t.tolist()], "unit": "cm"}


def detectors(conn: sqlite3.Connection) -> dict[str, Any]:
    """Every speed detector with its latest speed (km/h) and level: against its free-flow speed
    (`free_flow` in the datastream's or its Thing's properties) where registered, else against fixed speeds."""
    sql = _STREAMS.format(extra="coalesce(json_extract(d.properties, '$.free_flow'), (SELECT json_extract("
                          "th.properties, '$.free_flow') FROM sta_thing th WHERE th.id = d.thing_id))")
    ids, point, lon, lat, free, value, _t = _with_latest(conn, sql, "speed", 5)
    v, f = _floats(value), _floats(free)
    ratio = np.divide(v, f, out=np.full(len(v), np.nan), where=f > 0)
    has_ratio = ~np.isnan(ratio)
    level = np.where(has_ratio, 1 + (ratio < SLOW_RATIO) + (ratio < JAM_RATIO), 1 + (v < SLOW_KMH) + (v < JAM_KMH))
    level = np.where(np.isnan(v), 0, level)
    return {"type": "points", "id": ids.tolist(), "segment": point.tolist(), "lon": lon.tolist(), "lat": lat.tolist(),
            "value": _list(v), "free_flow": _list(f), "level": level.astype(int).tolist(), "unit": "km/h"}


@lru_cache(maxsize=256)
def _cap_rings(city: CityPack, district: str) -> tuple[tuple[float, ...], ...]:
    """A district's CAP polygons ("lat,lon lat,lon …") as flat [lon, lat, …] rings."""
    from cityops.warning.cap import polygon_text

    geom = city.geometries.get(district)
    if geom is None:
        return ()
    out = []
    for text in polygon_text(geom):
        pairs = np.array([p.split(",") for p in text.split()], np.float64)
        out.append(tuple(pairs[:, ::-1].ravel().tolist()))
    return tuple(out)


_SEVERITY = {"blue": 0, "yellow": 1, "orange": 2, "red": 3}


def warnings(conn: sqlite3.Connection, city: CityPack, now: datetime) -> dict[str, Any]:
    """Issued, unexpired warnings (not Cancels), most severe last.

    A warning for one waterlogging point is marked at that point (`lon`, `lat`) and fills no
    area; only a district-wide warning (no point) has area rings. `areas` holds each warned
    district once, at its most severe level, so overlapping warnings never stack into a solid fill."""
    rows = conn.execute(
        "SELECT identifier, level, point, districts, headline_zh, headline_en, expires FROM warnings "
        "WHERE status = 'issued' AND msg_type != 'Cancel' AND expires > ? "
        "ORDER BY CASE level WHEN 'blue' THEN 0 WHEN 'yellow' THEN 1 WHEN 'orange' THEN 2 ELSE 3 END, sent",
        (int(now.timestamp()),)).fetchall()
    ident, level, point, districts, hzh, hen, expires = _columns(rows, 7)
    where = {p.code: (p.lon, p.lat) for p in city.waterlogging_points}
    spots = [where.get(p) if p else None for p in point.tolist()]
    area_level: dict[str, str] = {}
    rings: list[list[list[float]]] = []
    for lv, p, d in zip(level.tolist(), point.tolist(), districts.tolist(), strict=True):
        codes = [] if p else json.loads(d)
        rings.append([list(r) for code in codes for r in _cap_rings(city, code)])
        for code in codes:
            if _SEVERITY.get(lv, 3) >= _SEVERITY.get(area_level.get(code, "blue"), 0):
                area_level[code] = lv
    areas = sorted(area_level.items(), key=lambda kv: _SEVERITY.get(kv[1], 3))
    return {"type": "polygons", "identifier": ident.tolist(), "level": level.tolist(), "point": point.tolist(),
            "lon": [s[0] if s else None for s in spots], "lat": [s[1] if s else None for s in spots],
            "headline_zh": hzh.tolist(), "headline_en": hen.tolist(),
            "expires": [int(x) for x in expires.tolist()], "rings": rings,
            "areas": [{"district": code, "level": lv, "rings": [list(r) for r in _cap_rings(city, code)]}
                      for code, lv in areas]}


for _layer, _source in (
    (Layer("gauges", "积水监测", "Water gauges", "points", "/api/v1/dashboard/gauges", live=True, colour="#3ddc97"),
     lambda conn, city, now: gauges(conn)),
    (Layer("detectors", "车速检测", "Traffic detectors", "points", "/api/v1/dashboard/detectors", live=True,
           colour="#9be15d"), lambda conn, city, now: detectors(conn)),
    (Layer("warnings", "生效预警", "Active warnings", "polygons", "/api/v1/dashboard/warnings", live=True,
           colour="#ff9f1a"), warnings),
):
    register_layer(_layer, _source)
