"""Scoring warnings against events, on columns (all indices are steps on one grid).

* An **event** starts where the level rises to the threshold after at least `gap` steps
  below it (shorter dips belong to the same event; steps with no reading are not "below",
  so a gauge gap neither ends an event nor starts a new one). A level already above the threshold at
  the start of the record starts no event.
* A **warning** is issued when the alert (forecast crosses) switches on while the level
  (the last reading known) is below the threshold and no event is running (an event runs from its start until `gap`
  steps after its last step above); an alert that stays on is issued again every `window`
  steps, as a warning expires after its window.
* An event is **warned** when a warning was issued in [start - window, start); its **lead**
  is the time from the earliest such warning. A warning with no event starting within
  (issue, issue + window] is a **false alarm**.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Events:
    start: I64
    running: B  # steps inside an event (start … last above + gap)


def find_events(level: F64, threshold: float, gap: int) -> Events:
    above = np.nan_to_num(level, nan=-np.inf) >= threshold
    n = len(level)
    idx = np.flatnonzero(above)
    running = np.zeros(n, dtype=bool)
    if len(idx) == 0:
        return Events(np.zeros(0, dtype=np.int64), running)
    new = np.ones(len(idx), dtype=bool)
    # More than `gap` steps since the last step above, and the water seen below in between: a
    # stretch with no reading (NaN) neither ends an event nor starts one.
    seen_below = np.concatenate([[0], np.cumsum(np.isfinite(level) & ~above)])
    new[1:] = (np.diff(idx) > gap) & (seen_below[idx[1:]] - seen_below[idx[:-1] + 1] > 0)
    starts_pos = np.flatnonzero(new)
    starts = idx[starts_pos]
    ends = idx[np.append(starts_pos[1:] - 1, len(idx) - 1)]
    # Mark running spans with a difference array: +1 at start, -1 after end + gap.
    diff = np.zeros(n + 1, dtype=np.int64)
    np.add.at(diff, starts, 1)
    np.add.at(diff, np.minimum(ends + gap + 1, n), -1)
    running = np.cumsum(diff[:n]) > 0
    counted = starts > 0  # above at the first step: start unknown, not an event
    if len(starts) and starts[0] == 0:
        counted[0] = False
    return Events(starts[counted].astype(np.int64), running)


def issue_times(alert: B, level: F64, threshold: float, events: Events, window: int) -> I64:
    """Steps where a warning is issued (onsets, re-issued every `window` steps while on).
    Between readings (a gap, or a step finer than the level's) the last reading known says
    whether the water is below the threshold; before the first reading it is not known."""
    known = np.isfinite(level)
    last = np.maximum.accumulate(np.where(known, np.arange(len(level)), -1))
    held = np.where(last >= 0, level[np.clip(last, 0, None)], np.nan)
    below = np.nan_to_num(held, nan=np.inf) < threshold
    on = alert & below & ~events.running
    onset = on & ~np.concatenate([[False], on[:-1]])
    run_start = np.maximum.accumulate(np.where(onset, np.arange(len(on)), 0))
    pos = np.arange(len(on)) - run_start
    return np.flatnonzero(on & (pos % window == 0)).astype(np.int64)


@dataclass(frozen=True)
class Skill:
    events: int
    warned: int
    false_alarms: int
    warnings: int
    recall: float
    precision: float
    median_lead_min: float

    def lines(self, prefix: str = "") -> list[str]:
        return [f"{prefix}events: {self.events}", f"{prefix}warned: {self.warned}",
                f"{prefix}false_alarms: {self.false_alarms}", f"{prefix}recall: {self.recall:.3f}",
                f"{prefix}precision: {self.precision:.3f}",
                f"{prefix}median_lead_min: {self.median_lead_min:.1f}"]

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class Detail:
    """Each event (its start step and lead in minutes, NaN when not warned) and each false alarm."""

    event_start: I64
    event_lead_min: F64
    false_alarm: I64


def detail(alert: B, level: F64, threshold: float, gap: int, window: int, step_s: int,
           start: int = 0) -> Detail:
    ev = find_events(level, threshold, gap)
    starts = ev.start[ev.start >= start]
    issued = issue_times(alert, level, threshold, ev, window)
    issued = issued[issued >= start]
    lead = np.full(len(starts), np.nan)
    if len(issued):
        i = np.searchsorted(issued, starts - window, side="left")
        ok = i < len(issued)
        first = issued[np.minimum(i, len(issued) - 1)]
        ok &= first < starts
        lead[ok] = (starts - first)[ok] * step_s / 60.0
    if len(starts):
        j = np.searchsorted(starts, issued, side="right")
        true = (j < len(starts)) & (starts[np.minimum(j, len(starts) - 1)] <= issued + window)
    else:
        true = np.zeros(len(issued), dtype=bool)
    return Detail(starts, lead, issued[~true])


def skill(alert: B, level: F64, threshold: float, gap: int, window: int, step_s: int,
          start: int = 0, events: Events | None = None) -> Skill:
    """Events starting and warnings issued at or after step `start` (the test part);
    `events` saves finding them again when scoring many alerts on one level."""
    ev = events or find_events(level, threshold, gap)
    starts = ev.start[ev.start >= start]
    issued = issue_times(alert, level, threshold, ev, window)
    issued = issued[issued >= start]
    # Warned events: the earliest warning in [s - window, s).
    i = np.searchsorted(issued, starts - window, side="left")
    has = i < len(issued)
    first = np.where(has, issued[np.minimum(i, max(len(issued) - 1, 0))] if len(issued) else 0, 0)
    warned = has & (first < starts)
    leads = (starts - first)[warned] * step_s / 60.0
    # True warnings: an event starts in (w, w + window].
    j = np.searchsorted(starts, issued, side="right")
    true = (j < len(starts)) & (starts[np.minimum(j, max(len(starts) - 1, 0))] <= issued + window) \
        if len(starts) else np.zeros(len(issued), dtype=bool)
    n_ev, n_w = len(starts), len(issued)
    n_true = int(np.sum(true))
    return Skill(
        events=n_ev, warned=int(warned.sum()), false_alarms=n_w - n_true, warnings=n_w,
        recall=float(warned.sum() / n_ev) if n_ev else 0.0,
        precision=float(n_true / n_w) if n_w else 0.0,
        median_lead_min=float(np.median(leads)) if len(leads) else 0.0,
    )
