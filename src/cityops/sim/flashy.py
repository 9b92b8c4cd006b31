"""A flashy small urban catchment with a short, gappy record (pure functions → arrays).

A stand-in for a street underpass or a small urban creek with a newly installed gauge:

* rain every 5 minutes at a gauge near the catchment: a few days of light to moderate rain
  (the history), then a stormy spell of convective bursts (30–120 mm/h for 15–90 min),
  long stratiform rains (3–12 mm/h for hours) and mixtures; the catchment's own rain differs
  from the gauge's by a factor per storm and a few minutes' shift (a cell is not a point);
* runoff: an impervious part (after a small depression storage) and a pervious part whose
  infiltration capacity falls as the soil fills (antecedent rain matters, non-linearly);
* routing: a non-linear reservoir (Q = k S^1.5: the wetter, the faster), so the level
  crosses its threshold 10–40 minutes into heavy rain; the level is a power rating of the
  flow above a base (in cm);
* the gauge reads every 15 minutes, with noise, single dropouts and missing stretches of
  1–8 hours; nothing is filled in.

The flood threshold is set between the storms' peaks so that a few of them flood and the
others — some heavy — do not. A radar-like nowcast (issued every 10 minutes for the next
2 hours at 5-minute steps) is the true gauge rain moved by a timing error and scaled by an
amplitude error, both growing with lead, blended towards persistence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
STEP = 300  # rain step, seconds
START = 1_782_864_000.0  # 2026-07-01T00:00Z


@dataclass(frozen=True)
class Flashy:
    rain_t: F64  # end of each 5-min interval, epoch s
    rain: F64  # mm per 5 min at the gauge
    true_level: F64  # cm, every 5 min, noiseless
    level_t: F64  # observation times (15 min, with gaps), epoch s
    level: F64  # observed cm
    threshold: float
    history_days: float
    nowcast: tuple[F64, F64, F64]  # issued, time (end of interval), mm per 5 min


def _burst(rng: np.random.Generator, n: int, peak_mmh: float, dur_min: float) -> F64:
    """A skewed hyetograph of `dur_min`, mm per 5 min, peaking at `peak_mmh`."""
    k = max(2, int(dur_min / 5))
    x = np.linspace(0.0, 1.0, k)
    a = rng.uniform(1.5, 4.0)
    bell = x ** (a - 1) * np.exp(-(a - 1) * x / rng.uniform(0.25, 0.5))
    out = np.zeros(max(n, k))
    out[:k] = peak_mmh / 12 * bell / bell.max()
    return out[:n]  # a storm running past the record's end is cut


def rain_series(rng: np.random.Generator, history_days: float, storm_days: float) -> F64:
    per_day = 86400 // STEP
    n = int((history_days + storm_days) * per_day)
    rain = np.zeros(n)
    h = int(history_days * per_day)

    def add(at: int, peak: float, dur: float) -> None:
        if at < n:
            rain[at:] += _burst(rng, n - at, peak, dur)

    for _ in range(rng.integers(2, 5)):  # the history: light and moderate rain
        add(int(rng.integers(0, max(1, h - 100))), rng.uniform(2, 20), rng.uniform(30, 360))
    t = h + int(rng.integers(12, 60))
    while t < n - 60:  # the stormy spell
        kind = rng.random()
        if kind < 0.55:
            add(t, rng.uniform(30, 120), rng.uniform(15, 90))  # convective burst
        elif kind < 0.8:
            add(t, rng.uniform(3, 12), rng.uniform(180, 600))  # stratiform
        else:
            add(t, rng.uniform(4, 10), rng.uniform(120, 300))  # stratiform with a burst
            add(t + int(rng.integers(6, 30)), rng.uniform(25, 80), rng.uniform(15, 45))
        t += int(rng.uniform(0.35, 1.2) * per_day)
    drizzle = (rng.random(n) < 0.01) * rng.exponential(0.1, n)
    return np.asarray(np.round(rain + drizzle, 1), dtype=np.float64)  # a tipping bucket's 0.1 mm


def catchment_level(rain: F64, rng: np.random.Generator) -> F64:
    """The noiseless level (cm) every 5 minutes from the catchment's rain (mm per 5 min)."""
    imperv = rng.uniform(0.3, 0.6)
    dep_max = rng.uniform(0.5, 2.0)  # mm of depression storage on the paved part
    m_max = rng.uniform(40, 90)  # mm the soil holds
    f_max = rng.uniform(15, 40) / 12  # mm per 5 min into a dry soil
    drain = rng.uniform(0.002, 0.006)  # of the soil store per step, to baseflow
    k = rng.uniform(0.008, 0.02)
    dep = 0.0
    soil = rng.uniform(0.1, 0.3) * m_max
    store = 0.0
    q = np.zeros(len(rain))
    for i, r in enumerate(rain.tolist()):  # sequential by nature: state at t needs t-1
        fill = min(r, dep_max - dep)
        dep = max(0.0, dep + fill - 0.01)
        paved = r - fill
        cap = f_max * (1 - soil / m_max) ** 2 + 0.05
        infil = min(r, cap)
        soil = min(m_max, soil + infil)
        base = drain * soil
        soil -= base
        store += imperv * paved + (1 - imperv) * (r - infil) + 0.3 * base
        out = min(store, k * store ** 1.5)
        store -= out
        q[i] = out
    return np.asarray(20.0 + 9.0 * q ** 0.6, dtype=np.float64)


def _observe(rng: np.random.Generator, t: F64, level: F64) -> tuple[F64, F64]:
    """Readings every 15 min (on the quarter hour), noisy, with dropouts and missing stretches."""
    idx = np.arange(2, len(t), 3)
    keep = rng.random(len(idx)) > 0.04
    days = (t[-1] - t[0]) / 86400
    for _ in range(rng.poisson(0.8 * days)):
        s = int(rng.integers(0, len(idx)))
        keep[s:s + int(rng.integers(4, 33))] = False  # 1–8 hours
    idx = idx[keep]
    obs = level[idx] + rng.normal(0, 0.4, len(idx))
    return t[idx], np.round(obs, 1)


def nowcast_of(rng: np.random.Generator, t: F64, rain: F64, every: int = 2,
               lead_steps: int = 24) -> tuple[F64, F64, F64]:
    """Issued every `every` steps for the next `lead_steps`: the true rain shifted and scaled
    with errors growing with lead, blended towards the current rate (persistence)."""
    issued, valid, value = [], [], []
    n = len(rain)
    for i in range(0, n - 1, every):
        now_rate = rain[max(0, i - 2):i + 1].mean()
        shift = int(round(rng.normal(0, 1.5)))
        amp = float(np.exp(rng.normal(0, 0.35)))
        for j in range(1, lead_steps + 1):
            src = min(n - 1, max(0, i + j + int(round(shift * j / 6))))
            w = np.exp(-j / 18)
            issued.append(t[i])
            valid.append(t[i] + j * STEP)
            value.append(max(0.0, w * amp * rain[src] + (1 - w) * 0.5 * now_rate))
    return (np.asarray(issued, dtype=np.float64), np.asarray(valid, dtype=np.float64),
            np.asarray(np.round(np.asarray(value, dtype=np.float64), 2), dtype=np.float64))


def flashy_record(seed: int = 1, history_days: float = 4.0, storm_days: float = 6.0,
                  floods: int | None = None) -> Flashy:
    """One point's record; `floods` storms of the stormy spell exceed the threshold
    (default: 3–5, drawn)."""
    rng = np.random.default_rng(seed)
    gauge = rain_series(rng, history_days, storm_days)
    n = len(gauge)
    t = START + STEP * np.arange(1, n + 1, dtype=np.float64)
    # The catchment's rain: the gauge's scaled per storm and shifted by up to 10 minutes.
    factor = np.exp(rng.normal(0, 0.2, n // 36 + 1)).repeat(36)[:n]
    local = np.roll(gauge, int(rng.integers(-2, 3))) * factor
    level = catchment_level(local, rng)
    h = int(history_days * 86400 // STEP)
    peaks = []  # each storm's peak in the stormy spell (separated by 3 quiet hours)
    wet = np.convolve(local[h:] > 0.2, np.ones(36), "same") > 0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], wet.astype(int), [0]])))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        peaks.append(level[h + a:min(n, h + b + 24)].max())
    peaks_sorted = sorted(peaks, reverse=True)
    k = floods if floods is not None else int(rng.integers(3, 6))
    k = max(1, min(k, len(peaks_sorted) - 1))
    # A flood line is well above the base: a third of the way up to the third-highest peak.
    base = float(np.median(level[h:]))
    floor = base + 0.35 * (peaks_sorted[min(2, len(peaks_sorted) - 1)] - base)
    while k > 1 and peaks_sorted[k] < floor:
        k -= 1
    thr = float(np.round(max(floor, (peaks_sorted[k - 1] + peaks_sorted[k]) / 2), 1))
    lt, lv = _observe(rng, t, level)
    return Flashy(t, gauge, level, lt, lv, thr, history_days, nowcast_of(rng, t, gauge))
