"""The back-test: train on the first part of a record, replay the rest as if live.

The replay is one pass on columns: features at t use only data that had arrived by t (see
model.py), so computing every step at once gives exactly what a live loop would have issued
step by step (tests/test_backtest.py checks this by perturbing the future).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cityops.errors import InvalidInput
from cityops.warning import model as m
from cityops.warning import rainrule as rr
from cityops.warning.choose import Choice, Peer, choose, fit_all, rain_index
from cityops.warning.score import F64, Skill, find_events, skill
from cityops.warning.series import (
    Nowcast,
    Series,
    grid_times,
    infer_step,
    is_accumulating,
    nowcast_ahead,
    resample_observed,
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
    level: F64  # the last reading, carried for up to an hour: the forecasts' state
    rain: dict[str, F64]
    state: dict[str, F64]
    observed: F64 | None = None  # the reading in (t - step, t] or NaN: the truth (default: level)
    ahead: F64 | None = None  # a rain nowcast (T × L, mm per step for t+1 … t+L), NaN where none
    coverage: dict[str, float] | None = None
    level_step: int = 0  # the level's usual spacing (s); 0: the grid's

    def __post_init__(self) -> None:
        if not self.level_step:
            object.__setattr__(self, "level_step", self.step)

    @property
    def scale(self) -> float:
        return 600.0 / self.step

    @property
    def truth(self) -> F64:
        return self.level if self.observed is None else self.observed

    @property
    def rain_mean(self) -> F64:
        """The rain the rules read: the mean of the rain inputs (mm per step)."""
        if not self.rain:
            return np.zeros(len(self.level))
        return np.asarray(np.mean(np.vstack(list(self.rain.values())), axis=0), dtype=np.float64)


def _coverage(s: Series, step: int) -> float:
    """The share of the series' own steps, first to last, that hold at least one reading."""
    if len(s.t) == 0:
        return 0.0
    slots = np.unique((s.t - s.t[0] + step // 2) // step)
    return float(len(slots) / ((s.t[-1] - s.t[0] + step // 2) // step + 1))


def align(level: Series, inputs: Mapping[str, Series], opts: Options,
          nowcasts: Mapping[str, Nowcast] | None = None) -> Grid:
    """Level and drivers on the level's step. No level is invented: the truth is the reading
    of each step or missing; the forecasts' state carries the last reading for an hour."""
    # The finer of the level's and the rain's spacing: a 5-minute burst is acted on when it
    # falls, not at the next 15-minute level reading.
    rains = [infer_step(s) for k, s in inputs.items() if is_accumulating(k) and len(s.t) > 10]
    step = opts.step_s or min([infer_step(level), *[r for r in rains if r >= 300]])
    stale = max(opts.stale_steps, -(-3600 // step))  # a reading stays current for an hour at least
    if len(level.t) < 10:
        raise InvalidInput("the level series has fewer than 10 readings", "水位序列少于 10 个读数")
    t = grid_times(int(level.t[0]), int(level.t[-1]), step)
    lv = resample_state(level, t, step, stale)
    observed = resample_observed(level, t, step)
    rain = {k: resample_sum(s, t, step) for k, s in inputs.items() if is_accumulating(k)}
    state = {k: resample_state(s, t, step, stale) for k, s in inputs.items()
             if not is_accumulating(k)}
    coverage = {"level": _coverage(level, infer_step(level))}
    for k, s in inputs.items():  # a rain gauge's silence is no rain: its span is its coverage
        coverage[k] = _coverage(s, infer_step(s)) if not is_accumulating(k) else float(
            ((t >= s.t[0]) & (t <= s.t[-1] + step)).mean()) if len(s.t) else 0.0
    ahead = None
    lead = max(1, round(rr.LEAD_MIN * 60 / step))
    for k, nc in (nowcasts or {}).items():
        a = nowcast_ahead(nc, t, step, lead, stale=max(1800, 2 * step))
        coverage[k] = float(np.isfinite(a[:, 0]).mean())
        ahead = a if ahead is None else np.fmax(ahead, a)
    return Grid(t.astype(np.float64), step, lv, rain, state, observed, ahead, coverage, infer_step(level))


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
    peak: F64  # the ARX forecast peak over the horizon at every step
    chosen: str = "arx"  # the candidate the inner validation picked (choose.py)
    description: str = ""
    validation_threshold: float = 0.0
    validation: dict[str, Skill] | None = None
    reason: str = ""
    rule: rr.Rule | None = None
    drive: F64 | None = None  # the rain index s(t) the rules read (rainrule.py)


def calibrate(peak: F64, level: F64, opts: Options, gap: int, window: int, step: int,
              train_end: int, span: float, threshold: float | None = None) -> float:
    """The margin below the threshold that scores best (F1) on the training part alone."""
    best, best_f1 = 0.0, -1.0
    thr = opts.threshold if threshold is None else threshold
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


def run(g: Grid, opts: Options, forecast: str = "none", peers: Sequence[Peer] = (),
        model: str | None = None) -> Result:
    """Choose the point's model on the training part (choose.py) unless `model` names one, fit
    it there, replay the rest."""
    step = g.step
    window = opts.window(step)
    gap = max(1, round(opts.gap_min * 60 / step))
    n = len(g.level)
    split = int(n * opts.train_fraction)
    if split < 50 or n - split < 10:
        raise InvalidInput("the record is too short for this train fraction",
                           "记录太短，无法按此比例划分训练与检验")
    picked = choose(g, opts, forecast, split, peers) if model is None else Choice(
        model, opts.threshold, {}, "named by the caller")
    keep = np.zeros(n, dtype=bool)
    keep[:split] = True
    fits = fit_all(g, opts, forecast, split, opts.threshold, keep, peers, only={"arx", picked.name})
    if "arx" not in fits:
        raise InvalidInput(f"too little complete history to fit the model ({split} steps)",
                           f"完整历史数据太少，无法拟合模型（{split} 步）")
    chosen = fits.get(picked.name, fits["arx"])
    arx = fits["arx"]
    truth = g.truth
    finite = truth[:split][np.isfinite(truth[:split])]
    span = opts.threshold - float(np.median(finite)) if len(finite) else 1.0
    span = abs(span) or 1.0
    p_margin = calibrate(g.level, truth, opts, gap, window, step, split, span)
    thr = opts.threshold
    ones = np.ones(n, dtype=bool)
    ev = find_events(truth, thr, gap)
    assert arx.peak is not None
    return Result(
        model=skill(chosen.alert, truth, thr, gap, window, step, start=split, events=ev),
        persistence=skill(g.level >= thr, truth, thr, gap, window, step, start=split, events=ev),
        persistence_calibrated=skill(g.level >= thr - p_margin, truth, thr, gap, window, step,
                                     start=split, events=ev),
        always=skill(ones, truth, thr, gap, window, step, start=split, events=ev),
        margin=chosen.margin, persistence_margin=p_margin, train_steps=split, test_steps=n - split,
        step_s=step, alert=chosen.alert, peak=arx.peak, chosen=chosen.name,
        description=chosen.describe(), validation_threshold=picked.threshold,
        validation=picked.scores, reason=picked.reason, rule=chosen.rule,
        drive=rain_index(g, forecast).score(chosen.rule.w if chosen.rule else 0.0),
    )
