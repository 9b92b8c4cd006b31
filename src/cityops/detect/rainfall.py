"""Rainstorm signals (暴雨预警信号) from rain-gauge accumulations.

GB/T 27962-style levels, highest first: 红 red ≥ 100 mm in 3 h, 橙 orange ≥ 50 mm in 3 h,
黄 yellow ≥ 50 mm in 6 h, 蓝 blue ≥ 50 mm in 12 h. A gauge's readings are the rain of each
interval (mm); the accumulation at a reading is the sum over the window ending at it.
"""

from __future__ import annotations

import numpy as np

from cityops.detect.columns import F64, I64, MS_PER_HOUR, Columns, Detection, Groups

# (level, window, millimetres), highest first.
RAIN_SIGNALS: tuple[tuple[str, int, float], ...] = (
    ("red", 3 * MS_PER_HOUR, 100.0),
    ("orange", 3 * MS_PER_HOUR, 50.0),
    ("yellow", 6 * MS_PER_HOUR, 50.0),
    ("blue", 12 * MS_PER_HOUR, 50.0),
)
LEVEL_ZH = {"red": "红色", "orange": "橙色", "yellow": "黄色", "blue": "蓝色"}


def accumulation(cols: Columns, window_ms: int) -> F64:
    """For each reading of sorted columns, the rain of its datastream in (t - window, t]."""
    ds, t, r = cols.datastream, cols.t, cols.result
    if not len(ds):
        return np.zeros(0)
    groups = Groups.of(cols)
    gid = np.repeat(np.arange(len(groups.ids), dtype=np.int64), groups.ends - groups.starts)
    rel = t - t.min()
    span = int(rel.max()) + window_ms + 1
    if span * len(groups.ids) < 2**62:
        key = gid * span + rel  # one sorted key: one searchsorted for every window start
        lo = np.searchsorted(key, key - window_ms, side="right")
    else:  # a very long span of many gauges: one search per gauge instead
        lo = np.concatenate([s + np.searchsorted(t[s:e], t[s:e] - window_ms, side="right")
                             for s, e in zip(groups.starts, groups.ends, strict=True)])
    total = np.r_[0.0, np.cumsum(r)]
    acc: F64 = total[np.arange(1, len(r) + 1)] - total[lo]
    return acc


def signal_levels(cols: Columns) -> tuple[Columns, I64]:
    """Sorted columns and, per reading, the signal level in force: 0 none, 1 blue … 4 red."""
    cols = cols.sorted()
    level = np.zeros(len(cols), np.int64)
    for rank, (_, window, mm) in zip((4, 3, 2, 1), RAIN_SIGNALS, strict=True):
        hit = accumulation(cols, window) >= mm
        level = np.where(hit & (level < rank), rank, level)
    return cols, level


def rainfall_signals(cols: Columns) -> list[Detection]:
    """Per rain gauge, the highest signal its readings reached and when it was first reached."""
    cols, level = signal_levels(cols)
    if not len(cols):
        return []
    groups = Groups.of(cols)
    peak = np.maximum.reduceat(level, groups.starts)
    names = ("none", "blue", "yellow", "orange", "red")
    acc3 = accumulation(cols, 3 * MS_PER_HOUR)
    out = []
    for g in np.flatnonzero(peak > 0):
        s, e = int(groups.starts[g]), int(groups.ends[g])
        first = s + int(np.argmax(level[s:e] == peak[g]))
        out.append(Detection("rainfall", f"rain:{int(groups.ids[g])}", names[int(peak[g])], int(groups.ids[g]),
                             int(cols.t[first]), float(acc3[first]), {"mm_3h": float(acc3[first])}))
    return out
