"""The early-warning model, scoring rules and storm simulator (pure functions)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityops.sim.storm import depth_response, rainstorm_day, storm_series
from cityops.warning import backtest as bt
from cityops.warning import model as m
from cityops.warning.score import find_events, issue_times, skill
from cityops.warning.series import parse_times


def test_parse_times_with_and_without_offsets() -> None:
    t = parse_times(pl.Series(["2020-05-01 00:10", "2020-05-01T09:20:00+09:00", "2020-05-01T00:30Z",
                               "2020-05-01T00:50-01:30"]))
    base = 1588291200  # 2020-05-01T00:00Z
    assert list(t - base) == [600, 1200, 1800, 8400]
    assert parse_times(pl.Series(["2020-05-01 08:00"]), default_offset_min=480)[0] == base


def test_events_follow_the_quiet_gap() -> None:
    level = np.array([0, 5, 0, 0, 5, 5, 0, 0, 0, 0, 0, 5, 0], dtype=float)
    ev = find_events(level, 5, gap=3)
    # the dip of two steps at 2–3 joins the first event; the one of five steps does not
    assert list(ev.start) == [1, 11]
    assert ev.running[1:9].all() and not ev.running[9:11].any()


def test_an_alert_left_on_is_reissued_every_window() -> None:
    level = np.zeros(20)
    ev = find_events(level, 1, 2)
    alert = np.ones(20, dtype=bool)
    assert list(issue_times(alert, level, 1, ev, 6)) == [0, 6, 12, 18]


def test_skill_counts_by_hand() -> None:
    level = np.zeros(40)
    level[20:23] = 10  # one event starting at step 20
    alert = np.zeros(40, dtype=bool)
    alert[15:17] = True  # warned 5 steps ahead
    alert[2] = True  # a false alarm
    s = skill(alert, level, 5, gap=4, window=8, step_s=600)
    assert (s.events, s.warned, s.false_alarms, s.warnings) == (1, 1, 1, 2)
    assert s.recall == 1.0 and s.precision == 0.5 and s.median_lead_min == 50.0


def test_the_fit_learns_lag_and_gain() -> None:
    """On a linear response to rain, the forecast 1 h ahead is far better than persistence."""
    rng = np.random.default_rng(3)
    n = 6000
    rain = np.where(rng.random(n) < 0.05, rng.exponential(3, n), 0.0)
    kernel = np.exp(-0.5 * ((np.arange(30) - 9) / 3) ** 2)  # peak 9 steps after the rain
    level = np.convolve(rain, kernel)[:n] * 2.0
    x = m.features(level, {"rain": rain}, {}, horizon=6, forecast=False)
    fitted = m.fit(x[:4000], level[:4000], 6, False, 1.0)
    pred = level + fitted.predict_delta(x)[:, 5]
    truth = np.roll(level, -6)
    err = np.abs(pred - truth)[4100:5900]
    persistence = np.abs(level - truth)[4100:5900]
    assert np.mean(err) < 0.25 * np.mean(persistence)


@settings(max_examples=25, deadline=None)
@given(cut=st.integers(200, 900), scale=st.floats(-50, 50), seed=st.integers(0, 1000))
def test_features_are_causal(cut: int, scale: float, seed: int) -> None:
    """Changing anything after `cut` changes no feature at or before `cut` (no forecast)."""
    rng = np.random.default_rng(seed)
    rain = rng.exponential(1, 1000)
    level = np.cumsum(rng.normal(0, 1, 1000))
    dam = rng.normal(0, 1, 1000)
    x1 = m.features(level, {"rain": rain}, {"dam": dam}, 12, False)
    level2, rain2, dam2 = level.copy(), rain.copy(), dam.copy()
    level2[cut + 1:] += scale
    rain2[cut + 1:] *= 3
    dam2[cut + 1:] -= scale
    x2 = m.features(level2, {"rain": rain2}, {"dam": dam2}, 12, False)
    np.testing.assert_array_equal(x1[: cut + 1], x2[: cut + 1])


def test_storms_are_deterministic_with_known_truth() -> None:
    a, b = storm_series(seed=5, points=3, days=5), storm_series(seed=5, points=3, days=5)
    np.testing.assert_array_equal(a.depth, b.depth)
    assert a.depth.shape == (3, 5 * 288) and (a.depth >= 0).all()
    # the truth alone reproduces the noiseless response
    clean = depth_response(a.point_rain[0], a.truth[0], a.step_s)
    assert np.abs(clean - a.depth[0]).max() < 3
    day = rainstorm_day()
    assert day.depth.max() > 20  # the demo's storm floods some points


def test_model_beats_both_baselines_on_simulated_storms() -> None:
    s = storm_series(seed=7, points=4, days=60)
    opts = bt.Options(threshold=20, horizon_min=120, gap_min=360)
    totals = np.zeros((3, 3))  # model, persistence, always × events, warned, true warnings
    leads: list[list[float]] = [[], [], []]
    for i in range(4):
        g = bt.Grid(s.t, s.step_s, s.depth[i], {"rain": s.point_rain[i]}, {})
        r = bt.run(g, opts, "none")
        for k, sk in enumerate((r.model, r.persistence_calibrated, r.always)):
            totals[k] += (sk.events, sk.warned, sk.warnings - sk.false_alarms)
            if sk.warned:
                leads[k].append(sk.median_lead_min)
    assert totals[0, 0] >= 10
    recall = totals[:, 1] / totals[:, 0]
    assert recall[0] >= 0.85
    assert np.median(leads[0]) >= 30 and np.median(leads[0]) > np.median(leads[1]) + 30
    r_always = bt.run(bt.Grid(s.t, s.step_s, s.depth[3], {"rain": s.point_rain[3]}, {}), opts, "none")
    r_model = r_always.model
    assert r_model.precision > 10 * r_always.always.precision


@pytest.mark.parametrize("forecast", [False, True])
def test_forecast_features_have_the_right_shape(forecast: bool) -> None:
    level = np.arange(100, dtype=float)
    x = m.features(level, {"rain": np.ones(100)}, {"tide": np.ones(100)}, 6, forecast)
    assert x.shape[0] == 100 and np.isfinite(x[60]).all()


def test_a_silent_driver_does_not_silence_the_forecast() -> None:
    """Half the dam readings missing: the forecast still exists wherever the level is known."""
    rng = np.random.default_rng(4)
    n = 3000
    rain = np.where(rng.random(n) < 0.05, rng.exponential(3, n), 0.0)
    dam = np.convolve(rng.normal(0, 1, n), np.ones(50) / 50, "same")
    level = np.convolve(rain, np.exp(-np.arange(30) / 8))[:n] + 3 * dam
    gappy = dam.copy()
    gappy[rng.random(n) < 0.5] = np.nan
    x = m.features(level, {"rain": rain}, {"dam": gappy}, 6, False)
    fitted = m.fit(x[:2000], level[:2000], 6, False, 1.0)
    pred = fitted.predict_delta(x)
    assert np.isfinite(pred[200:]).all()
    level_gap = level.copy()
    level_gap[2500] = np.nan
    assert not np.isfinite(fitted.predict_delta(m.features(level_gap, {"rain": rain}, {"dam": gappy}, 6, False))[2500]).any()
