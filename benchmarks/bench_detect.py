"""Detector throughput against a plain NumPy pass over the same columns, one core.

The plain pass is the least any detector over a batch in arrival order must do: sort by
(datastream, time), look up each reading's threshold, compare, and take each datastream's
peak (one argsort of a combined (datastream, time) key, as `Columns.sorted` does,
`searchsorted`, one comparison, `maximum.reduceat`). The detectors do
that and the rest: levels, rising rate, recession, frozen/jumping gauges (waterlogging);
free-flow ratio, persistence runs and recurrence against the profile (congestion).

Run alone: `PYTHONPATH=src python benchmarks/bench_detect.py`.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "POLARS_MAX_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from cityops.detect.columns import Columns  # noqa: E402
from cityops.detect.congestion import detect_congestion, learn_profile  # noqa: E402
from cityops.detect.waterlogging import GaugeTable, detect_waterlogging  # noqa: E402
from harness import Row, best_of  # noqa: E402

N = 1_000_000
STREAMS = 1000



def _plain(cols: Columns, ids: np.ndarray, limit: np.ndarray) -> np.ndarray:
    o = np.argsort((cols.datastream << 41) | (cols.t - cols.t.min()), kind="quicksort")  # as Columns.sorted
    ds, r = cols.datastream[o], cols.result[o]
    over = r > limit[np.searchsorted(ids, ds)]
    starts = np.flatnonzero(np.r_[True, ds[1:] != ds[:-1]])
    return np.maximum.reduceat(over.astype(np.int8), starts)  # type: ignore[no-any-return]


def _columns(rng: np.random.Generator, values: np.ndarray) -> Columns:
    per = N // STREAMS
    ds = np.repeat(np.arange(1, STREAMS + 1, dtype=np.int64), per)
    t = 1_767_225_600_000 + np.tile(np.arange(per, dtype=np.int64), STREAMS) * 300_000
    o = rng.permutation(N)
    return Columns.of(ds[o], t[o], values[o])


def run() -> list[Row]:
    rng = np.random.default_rng(5)
    # Water: mostly dry, a few gauges flood (a smooth rise and fall), noise on top.
    per = N // STREAMS
    phase = np.sin(np.linspace(0, np.pi, per))
    peaks = np.where(rng.random(STREAMS) < 0.05, rng.uniform(20, 40, STREAMS), rng.uniform(0, 8, STREAMS))
    depth = np.round(np.clip((peaks[:, None] * phase[None, :]).ravel() + rng.normal(0, 0.3, N), 0, None), 1)
    water = _columns(rng, depth)
    gauges = GaugeTable.of([(i, 20.0, 27.0, f"P{i}") for i in range(1, STREAMS + 1)])
    found = detect_waterlogging(water, gauges)
    wl = best_of(lambda: detect_waterlogging(water, gauges), repeat=5)
    wl_plain = best_of(lambda: _plain(water, gauges.datastream, gauges.yellow), repeat=5)
    # Traffic: a daily profile per detector with noise, some incidents.
    day = (np.arange(per) % 288) / 288
    rush = 1 - 0.45 * np.exp(-((day - 0.33) ** 2) / 0.002)
    ff = rng.uniform(80, 110, STREAMS)
    speed = (ff[:, None] * rush[None, :]).ravel() * rng.normal(1, 0.05, N)
    traffic = _columns(rng, speed)
    profile = learn_profile(traffic)
    jams = detect_congestion(traffic, profile)
    cg = best_of(lambda: detect_congestion(traffic, profile), repeat=5)
    cg_plain = best_of(lambda: _plain(traffic, profile.datastream, 0.6 * profile.free_flow), repeat=5)
    return [
        (f"waterlogging detector ({N:,} readings, {len(found)} detections)", N / wl, "readings/s",
         N / wl_plain, "readings/s plain NumPy pass"),
        (f"congestion detector ({N:,} readings, {len(jams)} episodes)", N / cg, "readings/s",
         N / cg_plain, "readings/s plain NumPy pass"),
    ]


if __name__ == "__main__":
    from harness import print_rows

    print_rows(run())
