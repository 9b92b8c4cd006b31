"""The back-test: train on the first part of a record, replay the rest as if live.

The replay is one pass on columns: features at t use only data that had arrived by t (see
model.py), so computing every step at once gives exactly what a live loop would have issued
step by step (tests/test_backtest.py checks this by perturbing the future).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from cityops.errors import InvalidInput
from cityops.warning import model as m
from cityops.warning.score import F64, Skill, find_events, skill
from cityops.warning.series import (
    Series,
    grid_times,
    infer_step,
    is_accumulating,
    resample_state,
    resample_sum,
)

# Tried in this order (ties keep the earlier): no margin first, then wider, then negative.
MARGINS = np.concatenate([np.linspace(0.0, 0.9, 31), -np.linspace(0.025, 0.5, 20)])


@dataclass(frozen=True)
class Options:
    threshold: float
    train_fraction: float = 0.5
    horizon_min: int = 180
    window_min: int | None = None  # default: the horizon
    gap_min: int = 720
    step_s: int | None = None  # default: the level's usual spacing
    stale_steps: int = 6

    def window(self, step: int) -> int:
        return max(1, round((self.window_min or self.horizon_min) * 60 / step))


@dataclass(frozen=True)
class Grid:
    """Level and drivers on one regular step."""

    t: m.F64
    step: int
    level: F64
    rain: dict[str, F64]
    state: dict[str, F64]

    @property
    def scale(self) -> float:
        return 600.0 / self.step


def align(level: Series, inputs: Mapping[str, Series], opts: Options) -> Grid:
    step = opts.step_s or infer_step(level)
    stale = max(opts.stale_steps, -(-3600 // step))  # a reading stays current for an hour at least
    if len(level.t) < 10:
        raise InvalidInput("the level series has fewer than 10 readings", "水位序列少于 10 个读数")
    t = grid_times(int(level.t[0]), int(level.t[-1]), step)
    lv = resample_state(level, t, step, stale)
    rain = {k: resample_sum(s, t, step) for k, s in inputs.items() if is_accumulating(k)}
    state = {k: resample_state(s, t, step, stale) for k, s in inputs.items()
             if not is_accumulating(k)}
    return Grid(t.astype(np.float64), step, lv, rain, state)


@dataclass(frozen=True)
class Result:
    model: Skill
    persistence: Skill  # the current level as the forecast, warned at the threshold itself
    persistence_calibrated: Skill  # the same, with a margin calibrated like the model's
    always: Skill
    margin: float
    persistence_margin: float
    train_steps: int
    test_steps: int
    step_s: int
    alert: m.B  # the model's alert at every step (train and test), as replayed live
    peak: F64  # the forecast peak over the horizon at every step


def calibrate(peak: F64, level: F64, opts: Options, gap: int, window: int, step: int,
              train_end: int, span: float) -> float:
    """The margin below the threshold that scores best (F1) on the training part alone."""
    best, best_f1 = 0.0, -1.0
    thr = opts.threshold
    events = find_events(level[:train_end], thr, gap)
    for frac in MARGINS:
        margin = float(frac * span)
        s = skill(peak[:train_end] >= thr - margin, level[:train_end], thr, gap, window, step,
                  events=events)
        p, r = s.precision, s.recall
        f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
        if f1 > best_f1 + 1e-9:
            best, best_f1 = margin, f1
    return best if best_f1 > 0 else 0.0  # no event in training: nothing to tune on


def train_weights(level: F64, horizon: int, threshold: float) -> F64:
    """Rows whose coming horizon nears the threshold weigh more: warnings live there."""
    ahead = np.column_stack([level] + [m._shift(level, -h) for h in m.horizon_steps(horizon)])
    with np.errstate(invalid="ignore"):
        peak = np.nanmax(np.where(np.isfinite(ahead), ahead, -np.inf), axis=1)
    lo = np.nanmedian(level)
    near = peak >= lo + 0.5 * (threshold - lo)
    return np.where(near, 10.0, 1.0)


def run(g: Grid, opts: Options, forecast: str = "none") -> Result:
    step = g.step
    horizon = max(1, round(opts.horizon_min * 60 / step))
    window = opts.window(step)
    gap = max(1, round(opts.gap_min * 60 / step))
    n = len(g.level)
    split = int(n * opts.train_fraction)
    if split < 50 or n - split < 10:
        raise InvalidInput("the record is too short for this train fraction",
                           "记录太短，无法按此比例划分训练与检验")
    x = m.features(g.level, g.rain, g.state, horizon, forecast == "perfect", g.scale)
    # Train only on rows whose targets end before the split: nothing from the test part.
    train_level = g.level.copy()
    train_level[split:] = np.nan
    mdl = m.fit(x[:split], train_level[:split], horizon, forecast == "perfect", g.scale,
                weight=train_weights(train_level[:split], horizon, opts.threshold))
    peak = mdl.peak(g.level, x)
    finite = g.level[:split][np.isfinite(g.level[:split])]
    span = opts.threshold - float(np.median(finite)) if len(finite) else 1.0
    span = abs(span) or 1.0
    margin = calibrate(peak, g.level, opts, gap, window, step, split, span)
    p_margin = calibrate(g.level, g.level, opts, gap, window, step, split, span)
    thr = opts.threshold
    ones = np.ones(n, dtype=bool)
    alert = peak >= thr - margin
    ev = find_events(g.level, thr, gap)
    return Result(
        model=skill(alert, g.level, thr, gap, window, step, start=split, events=ev),
        persistence=skill(g.level >= thr, g.level, thr, gap, window, step, start=split, events=ev),
        persistence_calibrated=skill(g.level >= thr - p_margin, g.level, thr, gap, window, step,
                                     start=split, events=ev),
        always=skill(ones, g.level, thr, gap, window, step, start=split, events=ev),
        margin=margin, persistence_margin=p_margin, train_steps=split, test_steps=n - split,
        step_s=step, alert=alert, peak=peak,
    )
