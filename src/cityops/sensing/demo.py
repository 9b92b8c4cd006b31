"""The demo city's sensors: a gauge at every waterlogging point with two hours of readings
(mostly dry; a little water at a few points, one point over its yellow line, one frozen
gauge), and the ring-road detectors replaying a day of METR-LA through congestion detection.

METR-LA is read from $CITYOPS_TRAFFIC_DIR, else from ../shared/data/traffic beside the
repository when present; otherwise a synthetic week with the same shape is used.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cityops.detect.columns import Columns
from cityops.sensing.ingest import ingest
from cityops.sensing.registry import register_point_gauges
from cityops.sensing.traffic import replay

if TYPE_CHECKING:
    from cityops.core import Platform

SPEEDS = "los_loop_speed_207x2016.csv"
LOCATIONS = "metr_la_sensor_locations.csv"


def traffic_dir() -> Path | None:
    env = os.environ.get("CITYOPS_TRAFFIC_DIR")
    candidates = [Path(env)] if env else [Path(__file__).resolve().parents[3].parent / "shared" / "data" / "traffic"]
    return next((c for c in candidates if (c / SPEEDS).exists()), None)


def gauge_readings(gauges: list[int], now: datetime, seed: int = 8) -> Columns:
    """Two hours at 5-minute steps: dry roads, puddles at a few points, water rising over
    the yellow line at one, and one gauge stuck at 12.5 cm."""
    rng = np.random.default_rng(seed)
    steps = 24
    end_ms = int(now.timestamp() * 1000) // 300_000 * 300_000
    t = end_ms - (steps - 1 - np.arange(steps)) * 300_000
    depth = np.zeros((len(gauges), steps))
    wet = rng.choice(len(gauges), size=min(12, len(gauges)), replace=False)
    depth[wet] = np.round(rng.uniform(0.5, 6, (len(wet), 1)) * np.linspace(0.3, 1, steps), 1)
    depth[wet[0]] = np.round(np.linspace(4, 23, steps), 1)  # rising over 20 cm: yellow
    depth[wet[1]] = 12.5  # frozen: the same reading for two hours
    return Columns.of(np.repeat(gauges, steps), np.tile(t, len(gauges)), depth.reshape(-1))


def play_sensors(platform: Platform, now: datetime | None = None) -> dict[str, Any]:
    from cityops.core import utcnow

    now = now or utcnow()
    gauges = register_point_gauges(platform)
    cols = gauge_readings(gauges, now)
    result = platform.store.write(lambda repo: ingest(repo, platform, cols, None, now))
    folder = traffic_dir()
    traffic = replay(platform, folder / SPEEDS if folder else None, folder / LOCATIONS if folder else None,
                     store_days=1, now=now - timedelta(minutes=1))
    return {"gauges": len(gauges), "gauge_readings": result.stored,
            "gauge_cases": len(result.cases_opened), **{f"traffic_{k}": v for k, v in traffic.items()}}
