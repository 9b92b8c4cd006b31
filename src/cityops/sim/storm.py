"""Synthetic rainstorms and waterlogging depths with known truth (pure functions → arrays).

Rain: storms arrive as a Poisson process; each is a skewed bell (hyetograph) whose peak
intensity and duration are drawn at random, plus drizzle; each point sees the city's rain
scaled by a local factor and shifted by a few minutes (a storm cell crossing the city).

Depth at a point (cm of water on the road): the rain runs off through a gamma unit
hydrograph with the point's own lag and gain (the truth the model must learn), the drains
take away up to a capacity, and what is left stands on the road:

    inflow(t) = gain · Σ_k rain(t-k) · uh(k),   depth(t) = max(0, depth(t-1)·r + inflow(t) - capacity)

(r: recession per step) plus gauge noise. Everything is deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PointTruth:
    lag_min: float  # time from rain to the peak of the unit hydrograph
    gain: float  # cm of inflow per mm of rain
    capacity: float  # cm per step the drains take away
    recession: float  # fraction of standing water kept per step
    rain_factor: float
    delay_steps: int


@dataclass(frozen=True)
class Storm:
    t: F64  # epoch seconds, UTC
    step_s: int
    rain: F64  # city rain, mm per step
    point_rain: F64  # points × steps
    depth: F64  # points × steps, cm (with gauge noise)
    truth: tuple[PointTruth, ...]


def city_rain(rng: np.random.Generator, steps: int, step_s: int, storms_per_day: float = 0.6) -> F64:
    """City rain in mm per step: storms of 1–6 h peaking at 10–90 mm/h, and drizzle."""
    rain = np.zeros(steps)
    per_h = 3600 / step_s
    n = rng.poisson(storms_per_day * steps * step_s / 86400)
    starts = rng.integers(0, max(1, steps - int(8 * per_h)), n)
    for s in starts:  # a handful of storms: the loop is per storm, not per reading
        dur = int(rng.uniform(1, 6) * per_h)
        peak = rng.uniform(10, 90) / per_h  # mm per step at the peak
        x = np.linspace(0, 1, dur)
        shape = rng.uniform(1.5, 4.0)
        bell = x ** (shape - 1) * np.exp(-(shape - 1) * x / 0.35)
        bell /= bell.max()
        rain[s:s + dur] += peak * bell[: max(0, min(dur, steps - s))]
    drizzle = (rng.random(steps) < 0.03) * rng.exponential(0.2, steps)
    return np.asarray(rain + drizzle, dtype=np.float64)


def unit_hydrograph(lag_steps: float, length: int) -> F64:
    """A gamma-shaped unit hydrograph peaking at `lag_steps`, summing to 1."""
    k = np.arange(length, dtype=np.float64)
    shape = 3.0
    scale = max(lag_steps, 0.5) / (shape - 1)
    uh = k ** (shape - 1) * np.exp(-k / scale)
    return np.asarray(uh / uh.sum(), dtype=np.float64)


def point_truths(rng: np.random.Generator, points: int, step_s: int) -> tuple[PointTruth, ...]:
    return tuple(
        PointTruth(lag_min=float(rng.uniform(45, 120)), gain=float(rng.uniform(0.4, 0.9)),
                   capacity=float(rng.uniform(0.1, 0.3)) * step_s / 300, recession=float(rng.uniform(0.85, 0.95)),
                   rain_factor=float(rng.uniform(0.7, 1.3)), delay_steps=int(rng.integers(0, 4)))
        for _ in range(points))


def depth_response(rain: F64, truth: PointTruth, step_s: int) -> F64:
    """The noiseless depth series for one point (cm), from its rain."""
    lag = truth.lag_min * 60 / step_s
    uh = unit_hydrograph(lag, int(lag * 6) + 2)
    inflow = truth.gain * np.convolve(rain, uh)[: len(rain)]
    # A linear reservoir with a floor at zero: cheap recursion over one array.
    depth = np.zeros(len(rain))
    level = 0.0
    net = inflow - truth.capacity
    r = truth.recession
    for i, q in enumerate(net.tolist()):  # sequential by nature (state at t needs t-1)
        level = max(0.0, level * r + q)
        depth[i] = level
    return depth


def storm_series(seed: int = 7, points: int = 10, days: float = 60, step_s: int = 300,
                 start: float = 1_782_864_000.0, noise_cm: float = 0.3,
                 storms_per_day: float = 0.6) -> Storm:
    """Rain for the city and depth at each point over `days`, with the truth that made them."""
    rng = np.random.default_rng(seed)
    steps = int(days * 86400 / step_s)
    rain = city_rain(rng, steps, step_s, storms_per_day)
    truth = point_truths(rng, points, step_s)
    point_rain = np.vstack([np.roll(rain, tr.delay_steps) * tr.rain_factor for tr in truth])
    depth = np.vstack([depth_response(point_rain[i], tr, step_s) for i, tr in enumerate(truth)])
    depth = np.maximum(0.0, depth + rng.normal(0, noise_cm, depth.shape) * (depth > 0))
    t = start + np.arange(steps) * step_s
    return Storm(t.astype(np.float64), step_s, rain, point_rain, depth, truth)


def rainstorm_day(seed: int = 2026, points: int = 8, step_s: int = 300,
                  truth: tuple[PointTruth, ...] | None = None) -> Storm:
    """One day with a strong storm in the afternoon, for the demo (`cityops demo --storm`).
    `truth` gives the points' responses (say, those of the history their models learnt on)."""
    rng = np.random.default_rng(seed)
    steps = 86400 // step_s
    per_h = 3600 / step_s
    x = np.arange(steps) / per_h
    rain = 90 / per_h * np.exp(-0.5 * ((x - 14.5) / 0.8) ** 2) + 45 / per_h * np.exp(-0.5 * ((x - 17) / 0.5) ** 2)
    truth = truth if truth is not None else point_truths(rng, points, step_s)
    point_rain = np.vstack([np.roll(rain, tr.delay_steps) * tr.rain_factor for tr in truth])
    depth = np.vstack([depth_response(point_rain[i], tr, step_s) for i, tr in enumerate(truth)])
    t = 1_782_864_000.0 + np.arange(steps) * step_s
    return Storm(np.asarray(t, dtype=np.float64), step_s, np.asarray(rain, dtype=np.float64), point_rain, depth, truth)
