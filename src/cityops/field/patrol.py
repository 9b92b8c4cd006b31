"""Patrols (巡查): schedules per patrol grid, inspectors' GPS tracks, coverage and indicators.

Coverage is computed on the unit-grid raster: a unit grid counts as patrolled on a day when
its centre lies within SEE_M metres of any of that day's tracks (what an inspector walking by
sees). shapely tests every cell against every track in one vectorised call per grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import orjson
import polars as pl
import shapely

from cityops.cases.models import Actor
from cityops.errors import InvalidInput
from cityops.field.plan import LocalFrame
from cityops.store.codec import from_us, to_us
from cityops.timebounds import TimeWindow

if TYPE_CHECKING:
    from cityops.core import Platform

SEE_M = 50.0  # an inspector on foot sees this far either side
MAX_POINTS = 20_000  # a day at one fix every 5 s is 10,000
ON_DUTY_WINDOW = timedelta(minutes=30)
VERIFY_WITHIN = timedelta(hours=24)  # 核查及时: verified within 24 h of the report-back
# Patrols a grid needs per day, by its class (A: the centre, C: the outskirts).
PATROLS_PER_DAY = {"A": 2.0, "B": 1.0, "C": 0.5}


def grid_classes(platform: Platform) -> dict[str, str]:
    """Each patrol grid's class: the most common area class among its unit grids."""
    g = platform.city.grids
    out = {}
    for i, p in enumerate(platform.city.patrol_grids):
        classes, counts = np.unique(g.area_class[g.patrol == i], return_counts=True)
        out[p.code] = str(classes[np.argmax(counts)]) if len(classes) else "C"
    return out


def schedule(platform: Platform, day: date) -> list[dict[str, Any]]:
    """Patrol grids due on `day`: A twice, B once, C every other day (by the day's ordinal)."""
    out = []
    for code, cls in grid_classes(platform).items():
        per_day = PATROLS_PER_DAY.get(cls, 1.0)
        times = per_day if per_day >= 1 else (1.0 if (day.toordinal() + hash_code(code)) % round(1 / per_day) == 0 else 0.0)
        if times:
            out.append({"patrol_grid": code, "class": cls, "patrols": int(times)})
    return out


def hash_code(code: str) -> int:
    return sum(code.encode())  # stable across processes (str hash is salted)


@dataclass(frozen=True)
class Track:
    inspector: str
    patrol_grid: str
    day: str
    points: list[tuple[float, float, int]]  # lon, lat, µs
    length_m: float


def parse_track(platform: Platform, actor: Actor, body: dict[str, Any], patrol_grid: str,
                window: TimeWindow | None = None, now: datetime | None = None) -> Track:
    """Validate an uploaded track: points [[lon, lat, ISO time or epoch ms], ...]; with a
    `window`, every point's time inside it at `now` (a 422 names the first that is not)."""
    raw = body.get("points")
    if not isinstance(raw, list) or len(raw) < 2:
        raise InvalidInput("points must be a list of at least 2 [lon, lat, time] entries", "轨迹至少需要 2 个点")
    if len(raw) > MAX_POINTS:
        raise InvalidInput(f"at most {MAX_POINTS} points per upload", f"每次最多上传 {MAX_POINTS} 个点")
    try:
        lon = np.array([float(p[0]) for p in raw])
        lat = np.array([float(p[1]) for p in raw])
        t = np.array([_time_us(p[2]) for p in raw], dtype=np.int64)
    except (TypeError, ValueError, IndexError, KeyError):
        raise InvalidInput("each point is [lon, lat, time] with time ISO 8601 with a zone or epoch milliseconds",
                           "轨迹点格式应为 [经度, 纬度, 时间]") from None
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()) or (np.abs(lon) > 180).any() or (np.abs(lat) > 90).any():
        raise InvalidInput("coordinates out of range", "坐标超出范围")
    if window is not None and now is not None:
        outside = window.outside_ms(t // 1000, int(now.timestamp() * 1000))
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            window.check(f"points[{i}] time", from_us(int(t[i])) or now, now)
    order = np.argsort(t, kind="stable")
    lon, lat, t = lon[order], lat[order], t[order]
    day = from_us(int(t[0]))
    assert day is not None
    return Track(actor.name, patrol_grid, day.astimezone(platform.calendar.zone).date().isoformat(),
                 list(zip(lon.tolist(), lat.tolist(), t.tolist(), strict=True)), path_length_m(lon, lat))


def _time_us(value: Any) -> int:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value * 1000)
    when = datetime.fromisoformat(str(value))
    if when.tzinfo is None:
        raise ValueError("naive time")
    us = to_us(when)
    assert us is not None
    return us


def path_length_m(lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]) -> float:
    """Length along the points (haversine per segment, vectorised)."""
    p1, p2 = np.radians(lat[:-1]), np.radians(lat[1:])
    dl = np.radians(np.diff(lon))
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return float((2 * 6_371_008.8 * np.arcsin(np.minimum(1.0, np.sqrt(a)))).sum())


def store_track(repo: Any, platform: Platform, track: Track, client_key: str | None, now: datetime) -> dict[str, Any]:
    """Write op: one track, once per client key (a resent upload returns the first)."""
    if client_key:
        row = repo.conn.execute("SELECT id, length_m FROM patrol_tracks WHERE client_key = ?", (client_key,)).fetchone()
        if row is not None:
            return {"id": int(row[0]), "length_m": round(float(row[1]), 1), "created": False}
    cur = repo.conn.execute(
        "INSERT INTO patrol_tracks (inspector, patrol_grid, day, started_at, ended_at, length_m, points, "
        "uploaded_at, client_key) VALUES (?,?,?,?,?,?,?,?,?)",
        (track.inspector, track.patrol_grid, track.day, track.points[0][2], track.points[-1][2],
         track.length_m, orjson.dumps(track.points).decode(), to_us(now), client_key),
    )
    return {"id": int(cur.lastrowid), "length_m": round(track.length_m, 1), "created": True}


def coverage(repo: Any, platform: Platform, day: str, patrol_grid: str | None = None) -> list[dict[str, Any]]:
    """Per patrol grid with tracks that day: the share of its unit grids patrolled."""
    sql = "SELECT patrol_grid, points FROM patrol_tracks WHERE day = ?"
    args: list[Any] = [day]
    if patrol_grid:
        sql += " AND patrol_grid = ?"
        args.append(patrol_grid)
    tracks: dict[str, list[Any]] = {}
    for code, points in repo.conn.execute(sql, args).fetchall():
        pts = np.array(orjson.loads(points))[:, :2]
        tracks.setdefault(code, []).append(pts)
    out = []
    g = platform.city.grids
    index = {p.code: i for i, p in enumerate(platform.city.patrol_grids)}
    for code, lines in sorted(tracks.items()):
        if code not in index:
            continue
        rows = np.flatnonzero(g.patrol == index[code])
        lon, lat = g.lon[rows], g.lat[rows]
        frame = LocalFrame(float(lon.mean()), float(lat.mean()))
        cx, cy = frame.to_m(lon, lat)
        merged = shapely.union_all([shapely.linestrings(np.column_stack(frame.to_m(p[:, 0], p[:, 1]))) for p in lines])
        shapely.prepare(merged)  # indexes the track's segments: each cell's test is then logarithmic
        seen = shapely.dwithin(shapely.points(cx, cy), merged, SEE_M)
        out.append({"patrol_grid": code, "day": day, "cells": int(len(rows)), "covered": int(seen.sum()),
                    "coverage": round(float(seen.mean()), 4) if len(rows) else 0.0})
    return out


def on_duty(repo: Any, platform: Platform, now: datetime) -> list[dict[str, Any]]:
    """Inspectors whose latest track ended within the last 30 minutes."""
    since = to_us(now - ON_DUTY_WINDOW)
    rows = repo.conn.execute(
        "SELECT inspector, patrol_grid, ended_at FROM ("
        " SELECT inspector, patrol_grid, ended_at,"
        " ROW_NUMBER() OVER (PARTITION BY inspector ORDER BY ended_at DESC, id DESC) AS n"
        " FROM patrol_tracks WHERE ended_at >= ?) t "
        "WHERE n = 1 ORDER BY inspector", (since,)).fetchall()
    return [{"inspector": r[0], "patrol_grid": r[1], "last_seen": from_us(int(r[2]))} for r in rows]


def indicators(repo: Any, platform: Platform, start: datetime, end: datetime, by: str) -> list[dict[str, Any]]:
    """有效上报率, 核查及时率, 巡查覆盖率, 巡查里程 per inspector, patrol grid or district."""
    if by not in ("inspector", "patrol_grid", "district"):
        raise InvalidInput("by must be inspector, patrol_grid or district", "分组只能是 inspector、patrol_grid、district")
    s, e = to_us(start), to_us(end)
    reports = pl.DataFrame(repo.conn.execute(
        "SELECT h.actor AS inspector, c.grid AS grid, c.district AS district, "
        "EXISTS(SELECT 1 FROM case_history r WHERE r.case_id = h.case_id AND r.action = 'register') AS valid "
        "FROM case_history h JOIN cases c ON c.id = h.case_id "
        "WHERE h.action = 'report' AND h.role = 'collector' AND h.actor NOT LIKE 'open311:%' "
        "AND h.at >= ? AND h.at < ?", (s, e)).fetchall(),
        schema={"inspector": pl.String, "grid": pl.String, "district": pl.String, "valid": pl.Int64}, orient="row")
    verifies = pl.DataFrame(repo.conn.execute(
        "SELECT v.actor, c.grid, c.district, v.at - (SELECT max(b.at) FROM case_history b WHERE b.case_id = v.case_id "
        "AND b.action = 'report_back' AND b.seq < v.seq) FROM case_history v JOIN cases c ON c.id = v.case_id "
        "WHERE v.action = 'verify' AND v.at >= ? AND v.at < ?", (s, e)).fetchall(),
        schema={"inspector": pl.String, "grid": pl.String, "district": pl.String, "wait_us": pl.Int64}, orient="row")
    tracks = pl.DataFrame(repo.conn.execute(
        "SELECT inspector, patrol_grid, day, length_m FROM patrol_tracks WHERE started_at >= ? AND started_at < ?",
        (s, e)).fetchall(),
        schema={"inspector": pl.String, "patrol_grid": pl.String, "day": pl.String, "length_m": pl.Float64}, orient="row")
    patrol_of = _patrol_lookup(platform)
    district_of = {p.code: p.district for p in platform.city.patrol_grids}
    reports = reports.with_columns(pl.col("grid").replace_strict(patrol_of, default="").alias("patrol_grid"))
    verifies = verifies.with_columns(pl.col("grid").replace_strict(patrol_of, default="").alias("patrol_grid"))
    tracks = tracks.with_columns(pl.col("patrol_grid").replace_strict(district_of, default="").alias("district"))
    within = VERIFY_WITHIN.total_seconds() * 1e6
    r = reports.group_by(by).agg(pl.len().alias("reports"), pl.col("valid").sum().alias("valid_reports"))
    v = verifies.group_by(by).agg(pl.len().alias("verifications"),
                                  (pl.col("wait_us") <= within).sum().alias("verified_in_time"))
    t = tracks.group_by(by).agg((pl.col("length_m").sum() / 1000).alias("patrol_km"))
    cov = _coverage_by(repo, platform, tracks, by)
    keys = pl.concat([f.select(by) for f in (r, v, t, cov)]).unique()
    out = keys.join(r, on=by, how="left").join(v, on=by, how="left").join(t, on=by, how="left").join(cov, on=by, how="left")
    out = out.fill_null(0).with_columns(
        (pl.col("valid_reports") / pl.col("reports")).fill_nan(None).alias("valid_report_rate"),
        (pl.col("verified_in_time") / pl.col("verifications")).fill_nan(None).alias("timely_verification_rate"),
    ).sort(by)
    return [_clean(row) for row in out.to_dicts()]


def _coverage_by(repo: Any, platform: Platform, tracks: pl.DataFrame, by: str) -> pl.DataFrame:
    """巡查覆盖率: mean coverage over the (patrol grid, day) pairs patrolled."""
    pairs = tracks.select("patrol_grid", "day").unique()
    rows = [c for day in pairs["day"].unique().to_list() for c in coverage(repo, platform, day)
            if c["patrol_grid"] in set(pairs.filter(pl.col("day") == day)["patrol_grid"].to_list())]
    cov = pl.DataFrame(rows, schema={"patrol_grid": pl.String, "day": pl.String, "cells": pl.Int64,
                                     "covered": pl.Int64, "coverage": pl.Float64})
    if by == "inspector":
        cov = cov.join(tracks.select("inspector", "patrol_grid", "day").unique(), on=["patrol_grid", "day"])
    elif by == "district":
        district_of = {p.code: p.district for p in platform.city.patrol_grids}
        cov = cov.with_columns(pl.col("patrol_grid").replace_strict(district_of, default="").alias("district"))
    return cov.group_by(by).agg(pl.col("coverage").mean().alias("patrol_coverage"))


def _patrol_lookup(platform: Platform) -> dict[str, str]:
    g = platform.city.grids
    names = np.array([p.code for p in platform.city.patrol_grids] + [""])
    return dict(zip(g.code.tolist(), names[g.patrol].tolist(), strict=True))


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else (None if isinstance(v, float) else v))
            for k, v in row.items()}
