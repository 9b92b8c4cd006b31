"""Waterlogging (渍水) at gauges: depth over each point's yellow/red thresholds, how fast it
rises, whether it recedes; and the gauge faults that must not pass for a flood.

Wuhan's road gauges: yellow above 20 cm of water, red above 27 cm, one reading every 5
minutes. A gauge that repeats the same non-zero value for an hour (frozen), steps by more
than a person could wade in five minutes (jump) or stops reporting (silent) raises a
device-fault detection (设施故障) and its readings in that batch raise no flood.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cityops.detect.columns import F64, I64, MS_PER_HOUR, MS_PER_MINUTE, Columns, Detection, Groups

YELLOW_CM = 20.0
RED_CM = 27.0
LEVELS = ("none", "yellow", "red")


@dataclass(frozen=True)
class GaugeTable:
    """The gauges a detector knows: datastream ids (sorted), thresholds, the point watched."""

    datastream: I64
    yellow: F64
    red: F64
    point: npt.NDArray[np.object_]

    @staticmethod
    def of(rows: list[tuple[int, float | None, float | None, str]]) -> GaugeTable:
        rows = sorted(rows)
        return GaugeTable(
            np.array([r[0] for r in rows], np.int64),
            np.array([YELLOW_CM if r[1] is None else r[1] for r in rows], np.float64),
            np.array([RED_CM if r[2] is None else r[2] for r in rows], np.float64),
            np.array([r[3] for r in rows], object),
        )

    def index(self, ds: I64) -> tuple[I64, npt.NDArray[np.bool_]]:
        """Row of each datastream in the table, and whether it is a gauge at all."""
        if not len(self.datastream):
            return np.zeros(len(ds), np.int64), np.zeros(len(ds), bool)
        idx = np.searchsorted(self.datastream, ds)
        clipped = np.minimum(idx, len(self.datastream) - 1)
        return clipped.astype(np.int64), self.datastream[clipped] == ds


@dataclass(frozen=True)
class FaultRules:
    frozen_readings: int = 12  # the same non-zero depth this many times in a row: 1 h at 5 min
    max_step_cm: float = 30.0  # between consecutive readings no more than…
    step_window_ms: int = 15 * MS_PER_MINUTE  # …apart
    silent_after_ms: int = 30 * MS_PER_MINUTE  # no reading for this long


def detect_waterlogging(cols: Columns, gauges: GaugeTable, rules: FaultRules = FaultRules()) -> list[Detection]:
    """Flood and fault detections in one batch of readings (any order, any datastreams:
    readings of datastreams that are not gauges are ignored)."""
    cols = cols.sorted()
    groups = Groups.of(cols)
    rows, known = gauges.index(groups.ids)  # per datastream, not per reading
    if not known.all():
        cols = cols.take(np.repeat(known, groups.ends - groups.starts))
        groups = Groups.of(cols)
        rows = rows[known]
    if not len(cols):
        return []
    gi = np.repeat(rows, groups.ends - groups.starts)
    ds, t, r = cols.datastream, cols.t, cols.result
    same = ds[1:] == ds[:-1]
    faults, faulty = _faults(ds, t, r, same, rules)
    level = (r > gauges.yellow[gi]).astype(np.int8) + (r > gauges.red[gi])
    peak_level = np.maximum.reduceat(level, groups.starts)
    flooded = (peak_level > 0) & ~np.isin(groups.ids, faulty)
    out = faults
    for g in np.flatnonzero(flooded):  # one step per detection, not per reading
        s, e = int(groups.starts[g]), int(groups.ends[g])
        seg_level, seg_r, seg_t = level[s:e], r[s:e], t[s:e]
        top = int(peak_level[g])
        first = int(np.argmax(seg_level == top))
        peak_at = int(np.argmax(seg_r))
        rate = _rate_cm_per_hour(seg_t, seg_r)
        row = int(gi[s])
        out.append(Detection(
            kind="waterlogging", key=f"wl:{gauges.point[row]}", level=LEVELS[top], datastream=int(ds[s]),
            at=int(seg_t[first]), value=float(seg_r[peak_at]),
            detail={
                "point": str(gauges.point[row]), "peak_cm": float(seg_r[peak_at]),
                "peak_at": int(seg_t[peak_at]), "last_cm": float(seg_r[-1]), "last_at": int(seg_t[-1]),
                "rate_cm_per_h": rate, "receding": bool(peak_at < len(seg_r) - 1 and rate < 0),
                "cleared": bool(seg_level[-1] == 0),
                "yellow_cm": float(gauges.yellow[row]), "red_cm": float(gauges.red[row]),
            },
        ))
    return out


def _rate_cm_per_hour(t: I64, r: F64) -> float:
    """Rise (or fall, negative) over the last two readings, in cm per hour."""
    if len(t) < 2 or t[-1] == t[-2]:
        return 0.0
    return float((r[-1] - r[-2]) / ((t[-1] - t[-2]) / MS_PER_HOUR))


def _faults(ds: I64, t: I64, r: F64, same: npt.NDArray[np.bool_], rules: FaultRules) -> tuple[list[Detection], I64]:
    near = same & (np.diff(t) <= rules.step_window_ms)
    jump = np.r_[False, near & (np.abs(np.diff(r)) > rules.max_step_cm)]
    # Runs of equal non-zero readings: a dry road reads 0 for days, which is no fault.
    repeat = np.r_[False, same & (r[1:] == r[:-1]) & (r[1:] > 0)]
    run_id = np.cumsum(~repeat) - 1
    run_len = np.bincount(run_id)
    frozen = run_len[run_id] >= rules.frozen_readings
    out: list[Detection] = []
    bad: list[int] = []
    for kind, mask in (("jump", jump), ("frozen", frozen)):
        hits = np.flatnonzero(mask)
        if not len(hits):
            continue
        ids, first = np.unique(ds[hits], return_index=True)
        for d, i in zip(ids.tolist(), hits[first].tolist(), strict=True):
            if d in bad:
                continue
            bad.append(d)
            out.append(Detection("device_fault", f"fault:{d}", kind, d, int(t[i]), float(r[i]),
                                 {"fault": kind}))
    return out, np.array(sorted(bad), np.int64)


def detect_silent(datastream: I64, last_seen: I64, gauges: GaugeTable, now_ms: int,
                  rules: FaultRules = FaultRules()) -> list[Detection]:
    """Gauges whose last reading (`last_seen`, ms, per `datastream`) is older than allowed."""
    _, known = gauges.index(datastream)
    late = known & (last_seen < now_ms - rules.silent_after_ms)
    return [
        Detection("device_fault", f"fault:{d}", "silent", d, now_ms, float("nan"),
                  {"fault": "silent", "last_seen": s, "silent_minutes": (now_ms - s) // MS_PER_MINUTE})
        for d, s in zip(datastream[late].tolist(), last_seen[late].tolist(), strict=True)
    ]
