"""Congestion (拥堵) at traffic detectors, against each detector's own profile.

Free-flow speed: the detector's 85th-percentile speed. Typical speed: its median at that
time of day (5-minute slot) on that kind of day (weekday / weekend). A reading is congested
below `ratio` × free flow; congestion is confirmed after `persist` consecutive congested
intervals. It is recurrent when the detector's typical speed at that slot is itself
congested (the daily rush hour), otherwise non-recurrent (incident-like): only those are
worth a case.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from cityops.detect.columns import F64, I64, MS_PER_MINUTE, Columns, Detection, Groups

DAY_MS = 86_400_000
JAM_RATIO = 0.6  # a reading below this share of free flow is a congested interval


@dataclass(frozen=True)
class SpeedProfile:
    datastream: I64  # sorted detector datastreams
    free_flow: F64  # per detector
    typical: F64  # (detectors, 2 day kinds, slots per day): median speed
    segment: npt.NDArray[np.object_]  # the road segment each detector watches
    slot_ms: int = 5 * MS_PER_MINUTE
    utc_offset_ms: int = 8 * 3_600_000  # city time: slots are local times of day

    def index(self, ds: I64) -> tuple[I64, npt.NDArray[np.bool_]]:
        if not len(self.datastream):
            return np.zeros(len(ds), np.int64), np.zeros(len(ds), bool)
        idx = np.minimum(np.searchsorted(self.datastream, ds), len(self.datastream) - 1)
        return idx.astype(np.int64), self.datastream[idx] == ds

    def slot(self, t: I64) -> tuple[I64, I64]:
        """Day kind (0 weekday, 1 weekend) and slot of day of each time."""
        local = t + self.utc_offset_ms
        weekday = (local // DAY_MS + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
        return (weekday >= 5).astype(np.int64), (local % DAY_MS) // self.slot_ms


def learn_profile(cols: Columns, segments: dict[int, str] | None = None, slot_minutes: int = 5,
                  utc_offset_hours: float = 8) -> SpeedProfile:
    """Each detector's free-flow speed and typical speed by day kind and slot, from history."""
    ids = np.unique(cols.datastream)
    slot_ms = slot_minutes * MS_PER_MINUTE
    probe = SpeedProfile(ids, np.zeros(len(ids)), np.zeros((len(ids), 2, 1)), np.zeros(0, object),
                         slot_ms, int(utc_offset_hours * 3_600_000))
    det = np.searchsorted(ids, cols.datastream)
    kind, slot = probe.slot(cols.t)
    df = pl.DataFrame({"det": det, "kind": kind, "slot": slot, "v": cols.result})
    free = df.group_by("det").agg(pl.col("v").quantile(0.85)).sort("det")
    free_flow = np.full(len(ids), np.nan)
    free_flow[free["det"].to_numpy()] = free["v"].to_numpy()
    slots = DAY_MS // slot_ms
    med = df.group_by("det", "kind", "slot").agg(pl.col("v").median())
    typical = np.repeat(free_flow[:, None, None], 2 * slots, axis=1).reshape(len(ids), 2, slots)
    typical[med["det"].to_numpy(), med["kind"].to_numpy(), med["slot"].to_numpy()] = med["v"].to_numpy()
    names = segments or {}
    segment = np.array([names.get(int(d), f"ds{int(d)}") for d in ids], object)
    return SpeedProfile(ids, free_flow, typical, segment, slot_ms, probe.utc_offset_ms)


def jammed(cols: Columns, profile: SpeedProfile, ratio: float = JAM_RATIO) -> npt.NDArray[np.bool_]:
    """Per reading: below `ratio` × its detector's free-flow speed (False for a detector
    without a profile)."""
    idx, known = profile.index(cols.datastream)
    if not len(profile.datastream):
        return known
    return known & (cols.result < ratio * profile.free_flow[idx])


def detect_congestion(cols: Columns, profile: SpeedProfile, ratio: float = JAM_RATIO, persist: int = 3) -> list[Detection]:
    """One detection per congestion episode of at least `persist` consecutive intervals, keyed
    by segment and detector (`cong:<segment>:<datastream>`): episodes are per detector."""
    cols = cols.sorted()
    groups = Groups.of(cols)
    gi, known = profile.index(groups.ids)  # per detector, not per reading
    if not known.all():
        cols = cols.take(np.repeat(known, groups.ends - groups.starts))
        groups = Groups.of(cols)
        gi = gi[known]
    if not len(cols):
        return []
    ds, t, v = cols.datastream, cols.t, cols.result
    di = np.repeat(gi, groups.ends - groups.starts)
    limit = ratio * profile.free_flow[di]
    jam = v < limit
    # Consecutive: the same detector, at most one and a half intervals apart.
    link = jam.copy()
    link[groups.starts] = False
    link[1:] &= jam[:-1] & (np.diff(t) <= profile.slot_ms * 3 // 2)
    start = jam & ~link
    starts = np.flatnonzero(start)
    if not len(starts):
        return []
    # Each run's length and lowest speed: runs are contiguous, so one reduceat over the jams.
    run_of_jam = np.cumsum(start[jam]) - 1
    first = np.flatnonzero(np.r_[True, run_of_jam[1:] != run_of_jam[:-1]])
    length = np.diff(np.r_[first, len(run_of_jam)])
    lowest = np.minimum.reduceat(v[jam], first)
    confirmed = np.flatnonzero(length >= persist)
    if not len(confirmed):
        return []
    s = starts[confirmed]
    kind, slot = profile.slot(t[s])
    recurrent = profile.typical[di[s], kind, slot] < limit[s]
    out = []
    for k, i in enumerate(s.tolist()):  # one step per episode, not per reading
        episode = int(confirmed[k])
        row = int(di[i])
        out.append(Detection(
            "congestion", f"cong:{profile.segment[row]}:{int(ds[i])}",  # one detector's episodes
            "recurrent" if recurrent[k] else "non_recurrent", int(ds[i]),
            int(t[i + persist - 1]), float(lowest[episode]),
            {"segment": str(profile.segment[row]), "started_at": int(t[i]),
             "ended_at": int(t[i + int(length[episode]) - 1]), "intervals": int(length[episode]),
             "min_speed": float(lowest[episode]), "free_flow": float(profile.free_flow[row]),
             "typical": float(profile.typical[row, kind[k], slot[k]])},
        ))
    return out
