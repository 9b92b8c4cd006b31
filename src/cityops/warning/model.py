"""The per-point early-warning model: a direct multi-horizon ARX fit by least squares.

For a point with level y (water depth or river stage) and drivers u_k on one regular step,
the forecast of the change over h steps is linear in features known at time t:

    ŷ(t+h) - y(t) = β_h · x(t),   h = 1 … H

x(t) holds, for each accumulating driver (rain), its sums over the last 1, 2, 3, 6, 12 … steps
(the response's lag and gain are learnt from which windows carry weight); for each state
driver (dam release, tide), its values at lags 0, 3, 6, 12 … and its recent change; and the
level's own state: y(t) and its changes over 1, 3, 6, 12 steps (rising limb, recession).
With a rain forecast (perfect: taken from the record) x(t) also holds the rain to come over
the next 1 … H steps. All horizons share one design matrix, so one ridge solve fits every β_h.

A warning is due at t when the forecast peak max_h ŷ(t+h) reaches threshold - margin; the
margin is chosen on the training part only (see `calibrate` in backtest.py).
Everything here is causal: x(t) uses data at or before t (and, in the perfect mode, rain
after t, which a forecast would give); nothing reads the level after t.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

RAIN_WINDOWS = (1, 2, 3, 6, 12, 24, 48, 96, 144)
STATE_LAGS = (0, 3, 6, 12, 24, 48)
LEVEL_DIFFS = (1, 3, 6, 12, 24)


def _shift(x: F64, k: int) -> F64:
    """x(t - k), NaN before the start (k > 0 looks back, k < 0 looks ahead)."""
    out = np.full_like(x, np.nan)
    if k == 0:
        return x.copy()
    if k > 0:
        out[k:] = x[:-k]
    else:
        out[:k] = x[-k:]
    return out


def trailing_sum(x: F64, w: int) -> F64:
    """Sum over (t - w, t]; the first w-1 steps sum what there is."""
    c = np.concatenate([[0.0], np.cumsum(np.nan_to_num(x))])
    n = len(x)
    hi = np.arange(1, n + 1)
    return np.asarray(c[hi] - c[np.maximum(hi - w, 0)], dtype=np.float64)


def leading_sum(x: F64, w: int) -> F64:
    """Sum over (t, t + w]: the rain a perfect forecast gives (NaN where the record ends)."""
    c = np.concatenate([[0.0], np.cumsum(np.nan_to_num(x))])
    n = len(x)
    lo = np.arange(1, n + 1)
    hi = lo + w
    out = np.full(n, np.nan)
    ok = hi <= n
    out[ok] = c[hi[ok]] - c[lo[ok]]
    return out


def features(level: F64, rain: Mapping[str, F64], state: Mapping[str, F64],
             horizon: int, forecast: bool, scale: float = 1.0) -> F64:
    """The design matrix (T × F), causal as described above; windows are in steps and
    scaled by `scale` (steps per 10 minutes) so the same windows mean the same time."""
    cols: list[F64] = [np.ones_like(level), level]
    cols += [level - _shift(level, max(1, round(k * scale))) for k in LEVEL_DIFFS]
    for x in rain.values():
        wins = sorted({max(1, round(w * scale)) for w in RAIN_WINDOWS})
        cols += [trailing_sum(x, w) for w in wins]
        if forecast:
            ahead = sorted({w for w in wins if w < horizon} | {horizon})
            cols += [leading_sum(x, w) for w in ahead]
    for x in state.values():
        lags = sorted({round(k * scale) for k in STATE_LAGS})
        cols += [_shift(x, k) for k in lags]
    return np.column_stack(cols)


MAX_HORIZONS = 36


def horizon_steps(horizon: int) -> list[int]:
    """The horizons fitted: every step up to 36 of them, else 36 spread evenly up to H (on
    1-minute data a 3-hour horizon would otherwise cost 180 target columns)."""
    if horizon <= MAX_HORIZONS:
        return list(range(1, horizon + 1))
    return sorted({int(round(h)) for h in np.linspace(1, horizon, MAX_HORIZONS)})


# The first columns of x are the intercept and the level's own state: without them there is no
# forecast. A driver missing at t (a gauge down) is taken at its training mean instead, so one
# silent input does not silence the warnings.
LEVEL_COLS = 2 + len(LEVEL_DIFFS)


def _standardise(x: F64, mean: F64, std: F64) -> F64:
    z = (x - mean) / std
    z[:, 0] = 1.0
    drivers = z[:, LEVEL_COLS:]
    drivers[~np.isfinite(drivers)] = 0.0
    return z


def targets(level: F64, horizon: int) -> F64:
    """Δ_h = y(t+h) - y(t) for each fitted horizon h (T × len), NaN past the end."""
    return np.column_stack([_shift(level, -h) - level for h in horizon_steps(horizon)])


@dataclass
class Model:
    """β for every horizon, with the feature standardisation it was fitted on."""

    beta: F64  # F × H
    mean: F64
    std: F64
    horizon: int
    forecast: bool
    scale: float
    resid_std: F64 = field(default_factory=lambda: np.zeros(0))

    def predict_delta(self, x: F64) -> F64:
        """Forecast changes (T × H); NaN rows where the level's own state is missing."""
        z = _standardise(x, self.mean, self.std)
        return np.asarray(z @ self.beta, dtype=np.float64)

    def peak(self, level: F64, x: F64) -> F64:
        """The forecast peak over the horizon, max_h ŷ(t+h)."""
        return np.asarray(level + np.max(self.predict_delta(x), axis=1), dtype=np.float64)


def fit(x: F64, level: F64, horizon: int, forecast: bool, scale: float,
        weight: F64 | None = None, ridge: float = 1e-3) -> Model:
    """Weighted ridge least squares on every row with the level's state and targets known
    (missing drivers are imputed at their mean, as in prediction)."""
    y = targets(level, horizon)
    ok = np.isfinite(x[:, :LEVEL_COLS]).all(axis=1) & np.isfinite(y).all(axis=1)
    if ok.sum() < x.shape[1] * 3:
        from cityops.errors import InvalidInput

        raise InvalidInput(f"too little complete history to fit the model ({int(ok.sum())} rows)",
                           f"完整历史数据太少，无法拟合模型（{int(ok.sum())} 行）")
    xs, ys = x[ok], y[ok]
    with np.errstate(invalid="ignore"):
        mean = np.nan_to_num(np.nanmean(np.where(np.isfinite(xs), xs, np.nan), axis=0))
        std = np.nan_to_num(np.nanstd(np.where(np.isfinite(xs), xs, np.nan), axis=0))
    std[std == 0] = 1.0
    mean[0], std[0] = 0.0, 1.0
    z = _standardise(xs, mean, std)
    w = np.ones(len(z)) if weight is None else weight[ok]
    zw = z * w[:, None]
    gram = zw.T @ z + ridge * len(z) * np.eye(z.shape[1])
    gram[0, 0] -= ridge * len(z)  # no shrinkage on the intercept
    beta = np.asarray(np.linalg.solve(gram, zw.T @ ys), dtype=np.float64)
    resid = ys - z @ beta
    return Model(beta, mean, std, horizon, forecast, scale, resid.std(axis=0))
