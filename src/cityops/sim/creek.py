"""A second flashy urban creek, built unlike `sim/flashy.py` (pure functions → arrays).

The warnings were built with `flashy.py` in view; this record is made differently, so that
a rule that holds on both is less likely to hold on one generator only:

* rain: storms arrive as a Poisson process (fewer in the history than in the stormy spell),
  each with a gamma depth, a log-uniform duration (15 min – 8 h) and a Huff-quartile shape
  (front-, middle- or back-loaded) or a Chicago-like peak; a 0.2 mm tipping bucket, 5-minute
  totals stamped 2.5 minutes off the level's clock;
* the catchment's rain differs from the gauge's: a factor per storm, a shift of up to ten
  minutes, and now and then a cell the gauge catches only in part;
* runoff: a continuous SCS curve number — the rain of the current wet spell, decaying with a
  time constant of hours, goes through Q = (P − Ia)² / (P − Ia + S) — plus a paved fraction
  with a small initial loss; routed through a cascade of two linear reservoirs (K 10–40 min)
  and a slow baseflow reservoir;
* the level (in metres, not centimetres) is a power rating of the flow over a base that
  drifts (silt, a weir being cleared) and swings with the sewers' daily dry-weather flow;
* readings every 15 minutes at 7 past the quarter, ±20 s jitter, noise, dropouts and 1–6 hour
  gaps; nothing is filled in.

The flood line is put between two storm peaks at a random point (not the middle), so that
some storms stay just under it; some long heavy rains do not flood and some short ones do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.signal import lfilter

F64 = npt.NDArray[np.float64]
STEP = 300
START = 1_782_864_000.0  # 2026-07-01T00:00Z


@dataclass(frozen=True)
class Creek:
    rain_t: F64  # epoch s, the end of each 5-min interval (2.5 min off the level's clock)
    rain: F64  # mm per 5 min at the gauge
    true_level: F64  # m, every 5 min
    level_t: F64  # observation times, epoch s
    level: F64  # observed m
    threshold: float
    history_days: float


def _shape(rng: np.random.Generator, k: int) -> F64:
    """Weights (sum 1) of a storm's k steps: a Huff quartile or a Chicago-like peak."""
    x = (np.arange(k) + 0.5) / k
    kind = int(rng.integers(0, 4))
    if kind < 3:  # Huff first, second or third quartile: a triangle peaking there
        peak = (kind + 0.5) / 4 + rng.uniform(-0.1, 0.1)
        w = np.where(x < peak, x / peak, (1 - x) / (1 - peak)) + 0.05
    else:  # Chicago: a sharp peak with long tails
        r = rng.uniform(0.3, 0.5)
        w = 1.0 / (1.0 + (np.abs(x - r) * rng.uniform(6, 14)) ** 1.6)
    return np.asarray(w / w.sum(), dtype=np.float64)


def storms(rng: np.random.Generator, n: int, start: int, per_day: float) -> F64:
    """Rain (mm per 5 min) from storms arriving at `per_day` from step `start`."""
    rain = np.zeros(n)
    t = start + int(rng.exponential(86400 / STEP / per_day))
    while t < n:
        dur = float(np.exp(rng.uniform(np.log(15), np.log(480))))
        depth = float(rng.gamma(1.6, 11.0)) * (1 + dur / 240) ** 0.5  # longer storms carry more
        k = max(2, int(dur / 5))
        piece = depth * _shape(rng, k)
        rain[t:t + k] += piece[:max(0, n - t)]
        t += k + int(rng.exponential(86400 / STEP / per_day))
    return rain


def _tip(rain: F64, bucket: float = 0.2) -> F64:
    """A tipping bucket: what has fallen, in whole tips, per step (the remainder carries)."""
    tips = np.floor(np.cumsum(rain) / bucket)
    return np.asarray(np.diff(np.concatenate([[0.0], tips])) * bucket, dtype=np.float64)


def flow(rain: F64, rng: np.random.Generator) -> F64:
    """Flow (mm per step over the catchment) from the catchment's rain (mm per 5 min)."""
    paved = rng.uniform(0.15, 0.45)
    cn = rng.uniform(65, 85)
    s = 25.4 * (1000 / cn - 10)  # mm of potential retention
    ia = 0.2 * s
    tau = rng.uniform(3, 12) * 12  # steps: the wet spell's rain fades over hours
    p = lfilter([1.0], [1.0, -np.exp(-1 / tau)], rain)

    def q(x: F64) -> F64:
        e = np.maximum(x - ia, 0.0)
        return np.asarray(e * e / (e + s), dtype=np.float64)

    pervious = np.maximum(q(p) - q(p - rain), 0.0)
    loss = lfilter([1.0], [1.0, -0.995], rain) > 1.0  # the paved part's first mm wets it
    quick = paved * rain * loss + (1 - paved) * pervious
    out = quick
    for _ in range(2):  # a cascade of two linear reservoirs
        a = np.exp(-1 / rng.uniform(2, 8))
        out = lfilter([1 - a], [1.0, -a], out)
    slow = lfilter([1 - np.exp(-1 / 288)], [1.0, -np.exp(-1 / 288)], 0.05 * (1 - paved) * (rain - pervious))
    return np.asarray(out + slow, dtype=np.float64)


def creek_record(seed: int = 1, history_days: float = 4.0, storm_days: float = 6.0) -> Creek:
    rng = np.random.default_rng(seed + 10_000)
    per_day = 86400 // STEP
    n = int((history_days + storm_days) * per_day)
    h = int(history_days * per_day)
    gauge = storms(rng, h, 0, rng.uniform(0.6, 1.2)) if h else np.zeros(0)
    gauge = np.concatenate([gauge, np.zeros(n - h)]) + np.concatenate(
        [np.zeros(h), storms(rng, n - h, 0, rng.uniform(1.2, 2.2))])
    # The catchment's rain: a factor per ~3 h, a shift, and a cell the gauge half missed.
    factor = np.exp(rng.normal(0, 0.25, n // 36 + 1)).repeat(36)[:n]
    local = np.roll(gauge, int(rng.integers(-2, 3))) * factor
    for _ in range(rng.poisson(1.0)):
        at = int(rng.integers(h, n - 12))
        local[at:at + 6] += rng.uniform(2, 6)  # 24–72 mm/h for half an hour, unseen at the gauge
    q = flow(local, rng)
    t = START + STEP * np.arange(1, n + 1, dtype=np.float64)
    days = (t - t[0]) / 86400
    base = rng.uniform(0.2, 0.6) + rng.uniform(-0.05, 0.05) * days / days[-1] \
        + rng.uniform(0.005, 0.02) * np.sin(2 * np.pi * (days - rng.uniform(0, 1)))
    level = base + rng.uniform(0.2, 0.5) * q ** rng.uniform(0.5, 0.7)
    # Storm peaks in the stormy spell (storms apart by 3 dry hours) and a line between two.
    wet = np.convolve(local[h:] > 0.1, np.ones(36), "same") > 0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], wet.astype(int), [0]])))
    peaks = sorted((float((level - base)[h + a:min(n, h + b + 24)].max())
                    for a, b in zip(edges[::2], edges[1::2], strict=True)), reverse=True)
    k = int(rng.integers(2, 6))
    k = max(1, min(k, len(peaks) - 1))
    floor = 0.3 * peaks[min(2, len(peaks) - 1)]
    while k > 1 and peaks[k] < floor:
        k -= 1
    lo = max(floor, peaks[k] if k < len(peaks) else 0.0)
    rise = lo + rng.uniform(0.25, 0.75) * (peaks[k - 1] - lo)
    thr = float(np.round(np.median(base[h:]) + rise, 2))
    # Readings 7 minutes past each quarter hour, jittered, with dropouts and gaps.
    obs_t = np.arange(t[0] - STEP + 420, t[-1], 900)
    obs_t = obs_t + rng.integers(-20, 21, len(obs_t))
    keep = rng.random(len(obs_t)) > 0.03
    for _ in range(rng.poisson(0.6 * days[-1])):
        s0 = int(rng.integers(0, len(obs_t)))
        keep[s0:s0 + int(rng.integers(4, 25))] = False
    obs_t = obs_t[keep]
    true_at = np.interp(obs_t, t, level)
    obs = np.round(true_at + rng.normal(0, 0.004, len(obs_t)), 3)
    gauge_t = t - 150  # the rain logger's clock runs 2.5 minutes off the level's
    return Creek(gauge_t, np.round(_tip(gauge), 1), level, obs_t.astype(np.float64), obs, thr,
                 history_days)
