"""Which model warns for a point: each candidate fitted, then judged by inner validation.

Candidates, in the order that breaks ties (fewer fitted parameters first; the city's
defaults last, as they are not fitted): `pooled` (a rain threshold across the given peer
points with this point's offset), `fitted` (the point's own rain threshold), `response`
(the rain–rise curve of its own rises), `arx` (the forecast model, model.py), `city` (the
city's rain defaults, raised above the rain the point took without flooding). rainrule.py
has the rain rules.

Inner validation uses the training part only: it is cut into three blocks; each candidate
is fitted on two and warns on the third (peers lose the same hours, as the storm is in
theirs too), and the three blocks' warnings are scored together. With fewer than two events
over the threshold in the training part, the validation is run at a lower *proxy*
threshold, the highest at which the training part has two events: it still says which
kind of model follows this point's water. The chosen kind is then fitted on the whole
training part at the real threshold; nothing from the test part is used. A point with
RICH (4) or more events in its training part keeps the ARX forecast without a contest: the
rules are for short records, and on long ones (the simulated storms, Seoul) the forecast
warns an hour earlier than a rule that waits for the rain.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cityops.errors import InvalidInput
from cityops.warning import model as m
from cityops.warning import rainrule as rr
from cityops.warning.score import F64, Skill, find_events, skill

if TYPE_CHECKING:
    from cityops.warning.backtest import Grid, Options

ORDER = ("pooled", "fitted", "response", "arx", "city")  # ties: the fewer parameters first
FOLDS = 3


@dataclass(frozen=True)
class Peer:
    """Another point of the same kind: its grid and its threshold."""

    grid: Grid
    threshold: float


@dataclass(frozen=True)
class Fitted:
    name: str
    alert: m.B
    margin: float = 0.0
    peak: F64 | None = None
    rule: rr.Rule | None = None

    def describe(self) -> str:
        if self.rule is None:
            return f"ARX forecast (margin {self.margin:.3g})"
        return self.rule.describe()


def rain_index(g: Grid, forecast: str) -> rr.Index:
    rain = g.rain_mean
    if forecast == "perfect":  # the record's own future rain, as a perfect nowcast
        lead = max(1, round(rr.LEAD_MIN * 60 / g.step))
        ahead = np.column_stack([m._shift(rain, -j) for j in range(1, lead + 1)])
        return rr.index(rain, g.step, ahead)
    return rr.index(rain, g.step, g.ahead)


def _arx(g: Grid, opts: Options, forecast: str, fit_level: F64, split: int, thr: float) -> Fitted:
    from cityops.warning.backtest import calibrate, train_weights

    step = g.step
    horizon = max(1, round(opts.horizon_min * 60 / step))
    x = m.features(g.level, g.rain, g.state, horizon, forecast == "perfect", g.scale)
    mdl = m.fit(x[:split], fit_level[:split], horizon, forecast == "perfect", g.scale,
                weight=train_weights(fit_level[:split], horizon, thr))
    peak = mdl.peak(g.level, x)
    finite = fit_level[:split][np.isfinite(fit_level[:split])]
    span = abs(thr - float(np.median(finite)) if len(finite) else 1.0) or 1.0
    gap = max(1, round(opts.gap_min * 60 / step))
    margin = calibrate(peak, fit_level, opts, gap, opts.window(step), step, split, span, thr)
    # On a grid finer than the level's readings the forecast's state is held between them and
    # its alert flickers with the rain: it holds for an hour, as a rule's. On the level's own
    # step (Seoul, the simulated storms) nothing changes.
    held = max(1, round(rr.HOLD_MIN * 60 / step)) if g.level_step > step else 1
    return Fitted("arx", rr.hold(peak >= thr - margin, held), margin, peak)


def _part(g: Grid, ix: rr.Index, level: F64, thr: float, opts: Options) -> rr.Part:
    gap = max(1, round(opts.gap_min * 60 / g.step))
    return rr.Part(ix, level, thr, gap, opts.window(g.step), g.step)


def fit_all(g: Grid, opts: Options, forecast: str, split: int, thr: float, keep: m.B,
            peers: Sequence[Peer] = (), only: Collection[str] | None = None) -> dict[str, Fitted]:
    """Every candidate (or those named in `only`) fitted on the rows `keep` (within the
    training part) at `thr`."""
    out: dict[str, Fitted] = {}
    state = g.level.copy()
    state[~keep] = np.nan
    truth = g.truth.copy()
    truth[~keep] = np.nan
    if only is None or "arx" in only:
        with contextlib.suppress(InvalidInput):  # too little history in this block: no ARX here
            out["arx"] = _arx(g, opts, forecast, state, split, thr)
    ix = rain_index(g, forecast)
    part = _part(g, ix, truth, thr, opts)
    horizon = max(1, round(opts.horizon_min * 60 / g.step))
    rules: dict[str, rr.Rule | None] = {}
    if peers and (only is None or "pooled" in only):
        t_keep = g.t[keep]
        parts = [part]
        for p in peers:
            lv = p.grid.truth.copy()
            inside = (p.grid.t <= t_keep.max()) if len(t_keep) else np.zeros(len(lv), bool)
            drop = np.isin(np.searchsorted(g.t, p.grid.t), np.flatnonzero(~keep))
            lv[~inside | drop] = np.nan
            parts.append(_part(p.grid, rain_index(p.grid, forecast), lv, p.threshold * thr / opts.threshold, opts))
        rules["pooled"] = rr.fit_pooled(parts)[0]
    if only is None or "fitted" in only:
        rules["fitted"] = rr.fit_point(part)
    if only is None or "response" in only:
        rules["response"] = rr.fit_response(part, horizon)
    if only is None or "city" in only:
        rules["city"] = rr.fit_city(part)
    for name, rule in rules.items():
        if rule is not None:
            out[name] = Fitted(name, rule.alert(ix, g.level, thr, g.step) > 0, rule.margin, None, rule)
    return out


def proxy_threshold(level: F64, thr: float, gap: int) -> float | None:
    """`thr` when the training part has two events over it, else the highest lower level
    where it has two (above the noise); None when there is none."""
    if len(find_events(level, thr, gap).start) >= 2:
        return thr
    lv = level[np.isfinite(level)]
    if len(lv) < 10:
        return None
    med = float(np.median(lv))
    noise = 3 * max(float(np.median(np.abs(np.diff(lv)))), 1e-9)
    for q in np.linspace(thr, med, 41)[1:-1]:
        if abs(q - med) > noise and len(find_events(level, float(q), gap).start) >= 2:
            return float(q)
    return None


def _key(s: Skill) -> tuple[float, float]:
    """F1, then fewer false alarms. Not the lead: on a handful of validation events it is
    noise, and the order of ORDER settles ties instead."""
    f1 = 2 * s.precision * s.recall / (s.precision + s.recall) if s.precision + s.recall else 0.0
    return (round(f1, 9), -s.false_alarms)


@dataclass(frozen=True)
class Choice:
    name: str
    threshold: float  # the threshold the validation ran at (the real one or a proxy)
    scores: dict[str, Skill]
    reason: str = "inner validation"


RICH = 4  # training events from which a point's record is long enough for the forecast model
SHORT_DAYS = 14.0  # a training part shorter than this, with no event over the line, gets the city rule


def choose(g: Grid, opts: Options, forecast: str, split: int, peers: Sequence[Peer] = ()) -> Choice:
    """The candidate whose out-of-block warnings scored best on the training part."""
    gap = max(1, round(opts.gap_min * 60 / g.step))
    train = g.truth[:split]
    n_events = len(find_events(train, opts.threshold, gap).start)
    if n_events >= RICH:  # the rules are for short records; a long one has earned the forecast
        return Choice("arx", opts.threshold, {}, f"{n_events} training events: a long record keeps the forecast")
    days = float(g.t[split - 1] - g.t[0]) / 86400
    if n_events == 0 and days < SHORT_DAYS and not peers:
        # Nothing in a few days' record says how this point's water meets its line: a fit at a
        # lower proxy line (the response curve, the ARX) extrapolates, and on unseen records
        # (benchmarks/bench_flashy.py) it warned for every long rain. The city's defaults,
        # raised above the rain the point took without flooding, are the prior that holds.
        return Choice("city", opts.threshold, {},
                      f"no event over the threshold in {days:.1f} days of training: the city's rain defaults")
    thr_v = proxy_threshold(train, opts.threshold, gap)
    if thr_v is None:  # nothing to judge by: the forecast model
        return Choice("arx", opts.threshold, {}, "no event in the training part to validate on")
    n = len(g.level)
    oof = {name: np.zeros(n, dtype=bool) for name in ORDER}
    bounds = np.linspace(0, split, FOLDS + 1).astype(int)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        keep = np.zeros(n, dtype=bool)
        keep[:split] = True
        keep[a:b] = False
        for name, f in fit_all(g, opts, forecast, split, thr_v, keep, peers).items():
            oof[name][a:b] = f.alert[a:b]
    # Without an event at the real threshold the point's own threshold cannot be fitted there
    # (it would be the city's rule, which competes as itself): validating it at the proxy
    # would judge a model that is not the one that then warns. Nor does the city's rule compete
    # at a proxy: raised above the rain taken below a lower line and firing on the level rising
    # to that line, it is not the rule that would warn at the real one (at 한강대교 500 cm it won
    # at the proxy, F1 0.80 against the ARX's 0.67, then gave 9 false alarms at the real line).
    present = [k for k in ORDER if (k != "pooled" or peers) and (k != "fitted" or n_events > 0)
               and (k != "city" or thr_v == opts.threshold)]
    scores = {k: skill(oof[k][:split], train, thr_v, gap, opts.window(g.step), g.step) for k in present}
    best = max(present, key=lambda k: (_key(scores[k]), -present.index(k)))
    if _key(scores[best])[0] == 0:  # no candidate warned of a validation event: fewer false
        best = present[0]  # alarms would only pick the quietest; the fewest parameters go first
    return Choice(best, thr_v, scores)
