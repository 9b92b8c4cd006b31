"""Early warning on simulated storms with known truth: lead time, precision, recall, speed.

Run alone: `PYTHONPATH=src python benchmarks/bench_warning.py`. Ten waterlogging points,
90 days of 5-minute rain and depth from cityops.sim.storm; each point's model trains on the
first 45 days and replays the rest as if live; the event threshold is 20 cm (Wuhan's yellow
level), horizon and warning window 2 h, quiet gap 6 h. Goal (issue 8): median lead ≥ 30 min,
recall ≥ 0.9, precision ≥ 0.8. Baselines, same run: persistence (the current level as the
forecast; plain, and with a warning margin calibrated like the model's) and always-warn; for speed, a plain NumPy pass
over the same columns (trailing rain sums and a threshold test, no model).
"""

from __future__ import annotations

import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "POLARS_MAX_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from cityops.sim.storm import storm_series  # noqa: E402
from cityops.warning import backtest as bt  # noqa: E402
from cityops.warning import model as m  # noqa: E402
from cityops.warning.score import Skill  # noqa: E402

Row = tuple[str, float, str, float, str]
OPTS = bt.Options(threshold=20.0, horizon_min=120, gap_min=360)


def _pool(skills: list[Skill]) -> tuple[float, float, float]:
    events = sum(s.events for s in skills)
    warned = sum(s.warned for s in skills)
    warnings = sum(s.warnings for s in skills)
    true = warnings - sum(s.false_alarms for s in skills)
    leads = [s.median_lead_min for s in skills if s.warned]
    return (float(np.median(leads)) if leads else 0.0, warned / events if events else 0.0,
            true / warnings if warnings else 0.0)


def _numpy_pass(level: np.ndarray, rain: np.ndarray) -> np.ndarray:
    sums = [m.trailing_sum(rain, w) for w in (1, 2, 3, 6, 12, 24)]
    return np.asarray((level + sum(sums)) >= OPTS.threshold)


def run() -> list[Row]:
    storm = storm_series(seed=7, points=10, days=90)
    rows: list[Row] = []
    for mode in ("none", "perfect"):
        results = []
        for i in range(len(storm.depth)):
            g = bt.Grid(storm.t, storm.step_s, storm.depth[i], {"rain": storm.point_rain[i]}, {})
            results.append(bt.run(g, OPTS, mode))
        model = _pool([r.model for r in results])
        plain = _pool([r.persistence for r in results])
        pers = _pool([r.persistence_calibrated for r in results])
        always = _pool([r.always for r in results])
        label = "observed rain" if mode == "none" else "perfect rain forecast"
        rows += [
            (f"median lead, {label} (goal >= 30)", model[0], "min", pers[0], "min persistence+margin"),
            (f"recall %, {label} (goal >= 90)", 100 * model[1], "%", 100 * pers[1], "% persistence+margin"),
            (f"recall % vs plain persistence, {label}", 100 * model[1], "%", 100 * plain[1], "% persistence"),
            (f"precision %, {label} (goal >= 80)", 100 * model[2], "%", 100 * pers[2], "% persistence+margin"),
            (f"precision % vs always-warn, {label}", 100 * model[2], "%", 100 * always[2], "% always-warn"),
        ]
    # Replay speed: features + forecast + alert for one point's whole record, against a plain
    # NumPy pass over the same columns.
    g = bt.Grid(storm.t, storm.step_s, storm.depth[0], {"rain": storm.point_rain[0]}, {})
    horizon = 24
    x = m.features(g.level, g.rain, {}, horizon, False, g.scale)
    fitted = m.fit(x[: len(x) // 2], g.level[: len(x) // 2], horizon, False, g.scale)
    best_model = best_np = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        xx = m.features(g.level, g.rain, {}, horizon, False, g.scale)
        _ = fitted.peak(g.level, xx) >= OPTS.threshold
        best_model = min(best_model, time.perf_counter() - t0)
        t0 = time.perf_counter()
        _numpy_pass(g.level, storm.point_rain[0])
        best_np = min(best_np, time.perf_counter() - t0)
    n = len(g.level)
    rows.append(("replay speed (features, 24-step forecast, alert)", n / best_model, "steps/s",
                 n / best_np, "steps/s plain NumPy pass"))
    return rows


if __name__ == "__main__":
    from harness import print_rows

    print_rows(run())
