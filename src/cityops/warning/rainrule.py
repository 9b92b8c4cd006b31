"""Rain intensity–duration thresholds: warnings for flashy points with little history.

What urban flood services use where a point has a short record: a warning when the rain
of the last 15, 30 or 60 minutes (or, with a nowcast, of such a window ending up to an hour
ahead) passes a threshold that is lower after a wet spell. One index carries all three:

    s(t) = max_d  E_d(t) / (D_d · (1 − w · min(1, ante(t) / ANTE_REF_MM)))

with D_d the city's default depths (mm in d minutes), ante(t) the rain of the 6 hours
before the last hour, and E_d(t) the largest accumulation over d minutes ending between t
and t + lead (observed rain up to t, forecast rain after). A rule fires when s(t) ≥ λ(t):

* **fitted** — λ and w chosen on the point's own training events (best F1 of the warnings
  they would have issued; the middle of the best λ range, so one storm more or less does
  not move it to an edge);
* **pooled** — one λ and w for all points of a kind, each point with its own offset on
  log λ shrunk towards 0 by how few events it has (a model across gauges);
* **city** — the city's defaults (λ = 1), raised just above the heaviest rain the point
  took without flooding (a point's record can say "not at this rain" even with no event);
* **response** — λ(t) from the point's own rises: the rise a rain episode caused is fitted
  as c · s^p over its training episodes, and the rule fires when y(t) + c · s(t)^p reaches
  the threshold less a margin: the level already there counts, and no event is needed
  (nor are the rain's units: c absorbs them).

Every rule also fires on the level itself (`rising`): when the level is in the upper half of
its range (above the training median, half-way to the line or more) and, at the slower of its
last 15- and 30-minute rates, would reach the line within 30 minutes. It needs no event and no
rain unit: floods from long moderate rains or from a cell the gauge missed show in the level
before the line, where a rain threshold never fires.

Everything is causal: s(t) uses rain at or before t and a forecast issued by t.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from cityops.warning.model import F64, trailing_sum
from cityops.warning.score import Skill, find_events, skill

WINDOWS_MIN = (15, 30, 60)
CITY_MM = (12.0, 18.0, 25.0)  # 短时强降水-like defaults: mm in 15, 30, 60 minutes
ANTE_MIN = 360
ANTE_REF_MM = 20.0
LEAD_MIN = 60  # a nowcast's windows may end up to an hour ahead
HOLD_MIN = 60
RISE_MIN = 30  # the level's rate: the slower over the last RISE_MIN and RISE_MIN / 2
AHEAD_MIN = 30  # ... reaches the line within this, at that rate
UPPER = 0.5  # ... from at least this far from the training median to the line
# λ from 0.05 to 20 (61 log steps) and on down to ~0.002: rain in inches needs λ ~25 times smaller.
LAMBDAS = np.exp(np.log(0.05) + np.arange(-32, 61) * np.log(400.0) / 60)
WETNESS = (0.0, 0.5)


@dataclass(frozen=True)
class Index:
    """The pieces of s(t): accumulations E (T × windows, best over the lead) and ante (T)."""

    acc: F64
    ante: F64

    def score(self, w: float) -> F64:
        depth = np.asarray(CITY_MM) * (1 - w * np.minimum(1.0, self.ante / ANTE_REF_MM))[:, None]
        return np.asarray(np.max(self.acc / depth, axis=1), dtype=np.float64)


def _steps(minutes: int, step: int) -> int:
    return max(1, round(minutes * 60 / step))


def hold(on: np.ndarray, steps: int) -> np.ndarray:
    """On at t when `on` was at any of t - steps + 1 … t (causal)."""
    last = np.maximum.accumulate(np.where(on, np.arange(len(on)), -(10 ** 9)))
    return np.asarray(np.arange(len(on)) - last < steps, dtype=bool)


def rising(level: F64, threshold: float, base: float, step: int) -> np.ndarray:
    """On where the level (the last reading, NaN = none) is at least UPPER of the way from
    `base` to the line and, still rising at the slower of its rates over the last RISE_MIN and
    RISE_MIN / 2, reaches the line within AHEAD_MIN. Causal; all False when `base` is NaN."""
    if not np.isfinite(base):
        return np.zeros(len(level), dtype=bool)
    rate = np.full(len(level), np.inf)
    for minutes in (RISE_MIN, RISE_MIN // 2):
        lag = _steps(minutes, step)
        prev = np.concatenate([np.full(min(lag, len(level)), np.nan), level[:-lag]])
        with np.errstate(invalid="ignore"):
            rate = np.minimum(rate, (level - prev) / minutes)  # NaN (a gap) propagates: off
    with np.errstate(invalid="ignore"):
        on = (level >= base + UPPER * (threshold - base)) & (rate > 0) & (level + rate * AHEAD_MIN >= threshold)
    return np.asarray(on, dtype=bool)


def index(rain: F64, step: int, ahead: F64 | None = None) -> Index:
    """`rain` mm per grid step (NaN = none); `ahead` (T × L) the forecast for steps t+1 … t+L."""
    r = np.nan_to_num(rain)
    cols = []
    lead = 0 if ahead is None else min(ahead.shape[1], _steps(LEAD_MIN, step))
    fut = np.zeros((len(r), 0)) if ahead is None else np.nan_to_num(ahead[:, :lead])
    fcum = np.concatenate([np.zeros((len(r), 1)), np.cumsum(fut, axis=1)], axis=1)
    for d in WINDOWS_MIN:
        w = _steps(d, step)
        best = trailing_sum(r, w)
        for k in range(1, lead + 1):  # windows ending k steps ahead
            past = trailing_sum(r, w - k) if w > k else np.zeros(len(r))
            best = np.maximum(best, past + fcum[:, k] - fcum[:, max(0, k - w)])
        cols.append(best)
    ante = trailing_sum(r, _steps(ANTE_MIN, step)) - trailing_sum(r, _steps(60, step))
    return Index(np.column_stack(cols), ante)


@dataclass(frozen=True)
class Rule:
    """A fitted rule: constant λ (fitted, pooled, city) or the response curve (c, p)."""

    kind: str
    lam: float
    w: float
    c: float = 0.0
    p: float = 1.0
    margin: float = 0.0
    events: int = 0  # training events it was fitted on
    delay_min: float = 30.0  # median time from the rule firing to the threshold, in training
    base: float = float("nan")  # the level's training median: the `rising` element (NaN: none)

    def alert(self, ix: Index, level: F64, threshold: float, step: int = 300) -> F64:
        """1.0 where the rule is on; once fired it holds for HOLD_MIN (a warning is not
        withdrawn and re-issued each time a burst's 15-minute rain dips and rises again)."""
        s = ix.score(self.w)
        if self.kind == "response":
            with np.errstate(invalid="ignore"):
                reach = np.nan_to_num(level, nan=-np.inf) + self.c * s ** self.p
            on = (reach >= threshold - self.margin) & (s > 0)
        else:
            on = s >= self.lam
        on = on | rising(level, threshold, self.base, step)
        return hold(on, _steps(HOLD_MIN, step)).astype(np.float64)

    def describe(self) -> str:
        rise = (f"; or the level, past half-way from {self.base:.3g} to the line, still rising to reach it "
                f"within {AHEAD_MIN} min") if np.isfinite(self.base) else ""
        if self.kind == "response":
            return (f"rain response rule: level + {self.c:.3g}·s^{self.p:.2g} reaches the threshold "
                    f"less {self.margin:.3g} (w {self.w:g})" + rise)
        mm = ", ".join(f"{self.lam * d:.1f} mm/{m} min" for d, m in zip(CITY_MM, WINDOWS_MIN, strict=True))
        return (f"rain threshold ({self.kind}, {self.events} events): {mm} (dry soil; lower by {self.w:.0%} "
                f"when wet)" + rise)


def _f1(s: Skill) -> float:
    p, r = s.precision, s.recall
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def _key(s: Skill) -> tuple[float, float, float]:
    return (_f1(s), -s.false_alarms, s.median_lead_min)


Scorer = Callable[[np.ndarray], Skill]


def _best_lambda(score: F64, rate: Scorer) -> tuple[float, tuple[float, float, float]]:
    """The log-middle of the λ range with the best key."""
    keys = [_key(rate(score >= lam)) for lam in LAMBDAS]  # (Part.rate holds them like Rule.alert)
    best = max(k[:2] for k in keys)  # F1 and false alarms: the lead would pull λ to the range's low end
    good = [i for i, k in enumerate(keys) if k[:2] == best]
    lam = float(np.sqrt(LAMBDAS[good[0]] * LAMBDAS[good[-1]]))
    return lam, max(k for k in keys if k[:2] == best)


def _delay(alert: np.ndarray, level: F64, threshold: float, gap: int, step: int) -> float:
    ev = find_events(level, threshold, gap).start
    out = []
    for s in ev:
        on = np.flatnonzero(alert[max(0, s - _steps(180, step)):s])
        if len(on):
            out.append((len(alert[max(0, s - _steps(180, step)):s]) - on[0]) * step / 60)
    return float(np.median(out)) if out else 30.0


@dataclass(frozen=True)
class Part:
    """One point's training part, as the fits see it."""

    ix: Index
    level: F64  # observed level, NaN beyond the training part
    threshold: float
    gap: int
    window: int
    step: int

    def rate(self, alert: np.ndarray) -> Skill:
        on = hold(alert.astype(bool), _steps(HOLD_MIN, self.step))
        return skill(on, self.level, self.threshold, self.gap, self.window, self.step)

    @property
    def events(self) -> int:
        return len(find_events(self.level, self.threshold, self.gap).start)

    @property
    def base(self) -> float:
        """The level's training median (the `rising` element's floor); NaN without readings."""
        lv = self.level[np.isfinite(self.level)]
        return float(np.median(lv)) if len(lv) else float("nan")


def fit_city(part: Part) -> Rule:
    """City defaults, raised just above the heaviest rain the point took without flooding."""
    s = part.ix.score(0.0)
    ev = find_events(part.level, part.threshold, part.gap)
    quiet = np.isfinite(part.level) & ~ev.running
    for st in ev.start:  # the rain that led to an event is not rain "taken without flooding"
        quiet[max(0, st - part.window):st] = False
    top = float(np.max(s[quiet])) if quiet.any() else 0.0
    return Rule("city", max(1.0, 1.05 * top), 0.0, events=0, base=part.base)


def fit_point(part: Part) -> Rule:
    """λ and w on the point's own events; the city's rule when it has none."""
    n = part.events
    if n == 0:
        return fit_city(part)
    best: tuple[tuple[float, float, float], float, float] | None = None
    for w in WETNESS:
        lam, key = _best_lambda(part.ix.score(w), part.rate)
        if best is None or key > best[0]:
            best = (key, lam, w)
    assert best is not None
    rule = Rule("fitted", best[1], best[2], events=n, base=part.base)
    return replace(rule, delay_min=_delay(rule.alert(part.ix, part.level, part.threshold, part.step) > 0, part.level,
                                          part.threshold, part.gap, part.step))


def fit_pooled(parts: Sequence[Part], shrink: float = 2.0) -> list[Rule]:
    """One λ, w across the points (best total F1), then each point's offset on log λ, shrunk
    by n / (n + shrink) for a point with n events; a point with none keeps the pooled λ
    (raised above the rain it took without flooding)."""
    best: tuple[float, float, float] | None = None
    for w in WETNESS:
        scores = [p.ix.score(w) for p in parts]
        for lam in LAMBDAS:
            tot = sum(_f1(p.rate(s >= lam)) for p, s in zip(parts, scores, strict=True))
            if best is None or tot > best[0] + 1e-9:
                best = (tot, float(lam), w)
    assert best is not None
    _, lam0, w0 = best
    out = []
    for p in parts:
        n = p.events
        if n == 0:
            city = fit_city(p)
            lam = max(lam0, city.lam if city.lam > 1.0 else 0.0)
            out.append(Rule("pooled", lam, w0, events=0, base=p.base))
            continue
        own, _ = _best_lambda(p.ix.score(w0), p.rate)
        k = n / (n + shrink)
        lam = float(np.exp((1 - k) * np.log(lam0) + k * np.log(own)))
        out.append(Rule("pooled", lam, w0, events=n, base=p.base))
    return out


def _episodes(s: F64, level: F64, horizon: int) -> list[tuple[float, float]]:
    """(largest s, rise it caused) for each rain episode: the rise is the highest level in the
    episode and `horizon` after it, less the level when it began."""
    wet = s > 0.02
    edges = np.flatnonzero(np.diff(np.concatenate([[0], wet.astype(np.int8), [0]])))
    out = []
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        before = level[max(0, a - 4):a + 1]
        before = before[np.isfinite(before)]
        after = level[a:min(len(level), b + horizon)]
        after = after[np.isfinite(after)]
        if len(before) and len(after):
            out.append((float(s[a:b].max()), float(after.max() - before[-1])))
    return out


def fit_response(part: Part, horizon: int) -> Rule | None:
    """c and p of rise = c · s^p over the training episodes (log-log least squares over the
    episodes that rose above the noise), then a margin on the training part like the ARX's."""
    w = 0.5
    s = part.ix.score(w)
    eps = _episodes(s, part.level, horizon)
    lv = part.level[np.isfinite(part.level)]
    if len(lv) < 10:
        return None
    noise = max(float(np.median(np.abs(np.diff(lv)))) * 2, 1e-6)
    pts = [(a, r) for a, r in eps if r > noise and a > 0]
    if not pts:
        return None
    x = np.log([a for a, _ in pts])
    y = np.log([r for _, r in pts])
    if len(pts) >= 3 and np.ptp(x) > 0.3:
        p = float(np.clip(np.polyfit(x, y, 1)[0], 0.7, 2.5))
    else:
        p = 1.0
    c = float(np.exp(np.median(y - p * x)))  # the typical response (the envelope over-warns)
    span = abs(part.threshold - float(np.median(lv))) or 1.0
    best: tuple[tuple[float, float, float], float] | None = None
    for frac in np.concatenate([[0.0], np.linspace(0.05, 0.6, 12), -np.linspace(0.05, 0.5, 10)]):
        rule = Rule("response", 0.0, w, c, p, float(frac * span))
        key = _key(part.rate(rule.alert(part.ix, part.level, part.threshold, part.step) > 0))
        if best is None or key > best[0]:
            best = (key, float(frac * span))
    margin = best[1] if best and best[0][0] > 0 else 0.0
    rule = Rule("response", 0.0, w, c, p, margin, events=part.events, base=part.base)
    return replace(rule, delay_min=_delay(rule.alert(part.ix, part.level, part.threshold, part.step) > 0, part.level,
                                          part.threshold, part.gap, part.step))
