"""Traffic detectors on the demo city's ring roads, replaying METR-LA (or a synthetic week
with its statistics), through the congestion detector.

The 207 METR-LA loop detectors (Los Angeles, 5-minute speeds for 7 days) are mapped onto
two rings around the city centre, standing in for 二环线 and 三环线: each detector keeps its
bearing from the network's centre, the nearer half goes on the inner ring, the farther half
on the outer one; each ring is cut into 24 segments of 15°, the unit that congestion cases
are opened and joined for. Speeds are converted from mph to km/h.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from cityops.detect.cases import CaseOutcome, open_or_join_cases
from cityops.detect.columns import MS_PER_MINUTE, Columns, Detection
from cityops.detect.congestion import SpeedProfile, detect_congestion, learn_profile
from cityops.sensing.ingest import ingest
from cityops.sensing.registry import detector_spec, register_specs_op
from cityops.sensing.store import datastreams_of_kind, read_columns, save_profile

if TYPE_CHECKING:
    from cityops.core import Platform

MPH = 1.609344
SLOTS = 2016  # 7 days of 5-minute rows
STEP_MS = 5 * MS_PER_MINUTE
RINGS = (("二环线", 0.055), ("三环线", 0.10))  # name, radius in degrees of longitude
SEGMENTS = 24


def load_metr_la(speeds: Path, locations: Path | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(sensor ids, speeds km/h as (rows, detectors), latitudes, longitudes)."""
    df = pl.read_csv(speeds)
    ids = np.array([int(c) for c in df.columns], np.int64)
    values = df.to_numpy().astype(np.float64) * MPH
    if locations is not None and locations.exists():
        loc = pl.read_csv(locations)
        where = {int(s): (float(a), float(o)) for s, a, o in
                 zip(loc["sensor_id"], loc["latitude"], loc["longitude"], strict=True)}
        lat = np.array([where.get(int(i), (34.1, -118.3))[0] for i in ids])
        lon = np.array([where.get(int(i), (34.1, -118.3))[1] for i in ids])
    else:
        angle = np.linspace(0, 2 * np.pi, len(ids), endpoint=False)
        lat, lon = 34.1 + 0.1 * np.sin(angle), -118.3 + 0.1 * np.cos(angle)
    return ids, values, lat, lon


def synthetic_week(n: int = 207, seed: int = 11) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A week with METR-LA's shape: free flow ~ 100 km/h, weekday rush hours at 08:00 and
    18:00 on most detectors, a few incidents; values 1.6–113 km/h."""
    rng = np.random.default_rng(seed)
    t = np.arange(SLOTS)
    hour = (t % 288) / 12
    weekday = (t // 288) < 5
    free = rng.uniform(90, 110, n)
    depth = rng.uniform(0.1, 0.65, n)
    rush = (np.exp(-((hour - 8) ** 2) / 1.5) + np.exp(-((hour - 18) ** 2) / 2))[:, None] * weekday[:, None]
    v = free[None, :] * (1 - depth[None, :] * rush) * rng.normal(1, 0.04, (SLOTS, n))
    for _ in range(12):  # incidents: 30-90 minutes at a random detector
        d, s, k = rng.integers(0, n), rng.integers(0, SLOTS - 20), rng.integers(6, 19)
        v[s:s + k, d] *= 0.3
    angle = rng.uniform(0, 2 * np.pi, n)
    radius = rng.uniform(0.02, 0.2, n)
    return (np.arange(700000, 700000 + n), np.clip(v, 1.6, 113), 34.1 + radius * np.sin(angle),
            -118.3 + radius * np.cos(angle))


def ring_positions(lat: np.ndarray, lon: np.ndarray, centre: tuple[float, float]) -> tuple[
        np.ndarray, np.ndarray, list[str]]:
    """Each detector's place on the demo rings, and its segment name."""
    dy, dx = lat - lat.mean(), lon - lon.mean()
    bearing = np.arctan2(dy, dx)
    outer = np.hypot(dx, dy) > np.median(np.hypot(dx, dy))
    radius = np.where(outer, RINGS[1][1], RINGS[0][1])
    lon_out = np.round(centre[0] + radius * np.cos(bearing), 6)
    lat_out = np.round(centre[1] + 0.85 * radius * np.sin(bearing), 6)
    sector = ((np.degrees(bearing) % 360) // (360 / SEGMENTS)).astype(int)
    names = [f"{RINGS[int(o)][0]}-{int(s) + 1:02d}" for o, s in zip(outer, sector, strict=True)]
    return lon_out, lat_out, names


def replay(platform: Platform, speeds: Path | None = None, locations: Path | None = None,
           store_days: int = 7, now: datetime | None = None) -> dict[str, Any]:
    """Register the detectors, store the last `store_days` days of the week (ending now),
    learn each detector's profile from the whole week and open cases for non-recurrent
    congestion."""
    from cityops.core import utcnow

    now = now or utcnow()
    if speeds is not None and speeds.exists():
        ids, values, lat, lon = load_metr_la(speeds, locations)
        source = f"METR-LA {speeds.name}"
    else:
        ids, values, lat, lon = synthetic_week()
        source = "synthetic (METR-LA absent)"
    centre = platform.city.grid_settings.get("area_centre") or (114.30, 30.58)
    ring_lon, ring_lat, segments = ring_positions(lat, lon, (float(centre[0]), float(centre[1])))
    specs = []
    for i, sid in enumerate(ids.tolist()):
        where = platform.city.locate_one(float(ring_lon[i]), float(ring_lat[i]))
        specs.append(detector_spec(f"车速检测器 {sid} / detector {sid}", segments[i], float(ring_lon[i]),
                                   float(ring_lat[i]), where.district_code if where else None,
                                   {"source_sensor": int(sid), "segment": segments[i]}))
    ds_ids = np.array(platform.store.write(lambda repo: register_specs_op(repo, platform, specs)), np.int64)
    # METR-LA starts on Thursday 1 March 2012, 00:00 local: replay from the latest Thursday
    # midnight (city time) a full week before now, so times of day and weekdays line up.
    local = now.astimezone(platform.calendar.zone)
    start = (local - timedelta(days=7)).replace(hour=0, minute=0, second=0, microsecond=0)
    start -= timedelta(days=(start.weekday() - 3) % 7)
    t = int(start.timestamp() * 1000) + np.arange(SLOTS, dtype=np.int64) * STEP_MS
    end_ms = int(t[-1])
    cols = Columns.of(np.tile(ds_ids, SLOTS), np.repeat(t, len(ds_ids)), values.reshape(-1)).sorted()
    keep = cols.t > end_ms - store_days * 86_400_000
    recent = cols.take(keep)
    platform.store.write(lambda repo: ingest(repo, None, recent, None, now, detect=False))
    profile = learn_profile(cols, dict(zip(ds_ids.tolist(), segments, strict=True)),
                            utc_offset_hours=_offset_hours(platform, now))
    found = detect_congestion(recent, profile)
    outcome = platform.store.write(lambda repo: _keep_profile_and_open(repo, platform, profile, found, now))
    return {"detectors": len(ds_ids), "readings": len(recent), "source": source,
            "recurrent": sum(d.level == "recurrent" for d in found),
            "non_recurrent": sum(d.level == "non_recurrent" for d in found),
            "cases_opened": len(outcome.opened), "cases_joined": len(set(outcome.joined))}


def learn_stored_profiles(platform: Platform, now: datetime, days: int = 28) -> int:
    """Learn every traffic detector's profile from its stored speeds of the last `days` days
    (read through `read_columns` on a reader, so writers are not held up while it learns) and
    keep them for the per-batch congestion detector (one short write); returns how many
    detectors have a profile."""
    with platform.store.read() as repo:
        detectors = datastreams_of_kind(repo.conn, "speed")
        end_ms = int(now.timestamp() * 1000)
        cols = read_columns(repo.conn, [d for d, _ in detectors], end_ms - days * 86_400_000, end_ms + 1)
    if not len(cols):
        return 0
    profile = learn_profile(cols, {d: seg or f"ds{d}" for d, seg in detectors},
                            utc_offset_hours=_offset_hours(platform, now))
    platform.store.write(lambda repo: save_profile(repo.conn, profile))
    return len(profile.datastream)


def _keep_profile_and_open(repo: Any, platform: Platform, profile: SpeedProfile, found: list[Detection],
                           now: datetime) -> CaseOutcome:
    """Write op: store the learned profiles (later batches of speeds are checked against them)
    and open or join cases for the replayed week's congestion."""
    save_profile(repo.conn, profile)
    return open_or_join_cases(repo, platform, found, now)


def _offset_hours(platform: Platform, now: datetime) -> float:
    offset = now.astimezone(platform.calendar.zone).utcoffset() or timedelta()
    return offset.total_seconds() / 3600


