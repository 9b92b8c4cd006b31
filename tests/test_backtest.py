"""`cityops warnings backtest` on generated records and on the Seoul 2020 record."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cityops.cli import main
from cityops.sim.storm import storm_series
from cityops.warning import backtest as bt
from cityops.warning.series import Series
from conftest import shared_file

KEYS = ("events", "warned", "false_alarms", "recall", "precision", "median_lead_min")


def _write(path: Path, t: np.ndarray, v: np.ndarray, offset: str = "") -> Path:
    """A `time,value` CSV, times ISO 8601 (local time with `offset`, or UTC when none)."""
    from datetime import timedelta

    shift = 0
    if offset:
        sign = -1 if offset[0] == "-" else 1
        shift = sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)
    lines = ["time,value"]
    for ti, vi in zip(t.tolist(), v.tolist(), strict=True):
        local = datetime.fromtimestamp(ti + shift, UTC).replace(tzinfo=None)
        stamp = (local + timedelta(0)).isoformat(sep="T" if offset else " ")
        lines.append(f"{stamp}{offset},{'' if np.isnan(vi) else round(vi, 3)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _record(tmp_path: Path, days: float = 40) -> tuple[Path, Path]:
    """An irregular, gappy record: level readings jittered and thinned, rain on its own clock."""
    s = storm_series(seed=1, points=1, days=days)
    rng = np.random.default_rng(1)
    keep = rng.random(len(s.t)) > 0.05  # 5 % of readings lost
    keep[5000:5030] = False  # and a gap of 2.5 h
    jitter = rng.integers(-40, 40, len(s.t))
    t = (s.t + jitter)[keep]
    level = _write(tmp_path / "level.csv", t, s.depth[0][keep], "+08:00")
    rain = _write(tmp_path / "rain.csv", s.t[s.point_rain[0] > 0], s.point_rain[0][s.point_rain[0] > 0])
    return level, rain


def _parse(out: str, prefix: str = "") -> dict[str, float]:
    return {k: float(re.search(rf"^{prefix}{k}: (\S+)$", out, re.M).group(1)) for k in KEYS}  # type: ignore[union-attr]


def test_backtest_prints_the_figures_and_beats_the_baselines(tmp_path: Path) -> None:
    level, rain = _record(tmp_path)
    result = CliRunner().invoke(main, ["warnings", "backtest", "--level", str(level), "--input", f"rain={rain}",
                                       "--threshold", "20", "--forecast", "both", "--horizon", "120",
                                       "--gap", "360", "--step", "5", "--list"])
    assert result.exit_code == 0, result.output
    model, perfect = _parse(result.output), _parse(result.output, "perfect ")
    persistence, always = _parse(result.output, "persistence_margin "), _parse(result.output, "always_warn ")
    assert _parse(result.output, "persistence ")["recall"] == 0.0  # it never sees the water coming
    assert model["events"] >= 5
    assert model["recall"] >= 0.8 and model["precision"] >= 0.6
    assert model["median_lead_min"] >= persistence["median_lead_min"] + 30
    assert model["precision"] > 10 * always["precision"]
    assert perfect["events"] == model["events"] and perfect["recall"] >= 0.8
    # --list names every event and every false alarm
    listed = [ln for ln in result.output.splitlines() if ln.startswith("#   event ")]
    assert len(listed) == model["events"]
    assert sum("NOT warned" not in ln for ln in listed) == model["warned"]
    assert sum(ln.startswith("#   warning ") for ln in result.output.splitlines()) == model["false_alarms"]
    # the model's lines come first, unprefixed
    assert result.output.splitlines()[1].startswith("events: ")


def test_bad_input_is_refused_with_a_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("time,value\nyesterday,3\n")
    result = CliRunner().invoke(main, ["warnings", "backtest", "--level", str(bad), "--input", f"rain={bad}",
                                       "--threshold", "1"])
    assert result.exit_code == 2 and "ISO 8601" in result.output


@settings(max_examples=6, deadline=None)
@given(cut_frac=st.floats(0.55, 0.95), scale=st.floats(-30, 30), seed=st.integers(0, 99))
def test_perturbing_the_future_never_changes_past_warnings(cut_frac: float, scale: float, seed: int) -> None:
    s = storm_series(seed=2, points=1, days=12)
    opts = bt.Options(threshold=20, horizon_min=120, gap_min=360)
    g = bt.Grid(s.t, s.step_s, s.depth[0], {"rain": s.point_rain[0]}, {})
    cut = int(len(s.t) * cut_frac)
    rng = np.random.default_rng(seed)
    level, rain = s.depth[0].copy(), s.point_rain[0].copy()
    level[cut + 1:] = np.maximum(0, level[cut + 1:] + scale + rng.normal(0, 5, len(level) - cut - 1))
    rain[cut + 1:] = rng.exponential(2, len(rain) - cut - 1)
    g2 = bt.Grid(s.t, s.step_s, level, {"rain": rain}, {})
    a, b = bt.run(g, opts, "none"), bt.run(g2, opts, "none")
    np.testing.assert_array_equal(a.alert[: cut + 1], b.alert[: cut + 1])
    assert a.margin == b.margin  # calibrated on the training part only


def test_resampling_sees_only_what_had_arrived() -> None:
    from cityops.warning.series import resample_state, resample_sum

    s = Series(np.array([0, 290, 610, 1300]), np.array([1.0, 2.0, 3.0, 4.0]))
    grid = np.array([300, 600, 900, 1200])
    np.testing.assert_array_equal(resample_state(s, grid, 300, stale=1), [2.0, np.nan, 3.0, np.nan])
    np.testing.assert_array_equal(resample_sum(s, grid, 300), [2.0, 0.0, 3.0, 0.0])


def test_a_year_of_five_minute_data_backtests_in_seconds() -> None:
    s = storm_series(seed=9, points=1, days=365)
    g = bt.Grid(s.t, s.step_s, s.depth[0], {"rain": s.point_rain[0]}, {"other": s.rain})
    started = time.perf_counter()
    bt.run(g, bt.Options(threshold=20), "none")
    assert time.perf_counter() - started < 20  # typically 2–4 s on one shared core


def test_seoul_2020_record(tmp_path: Path) -> None:
    """The protocol in examples/backtest/seoul2020.py, one case, against both baselines."""
    data = shared_file("hydro/han_river_seoul_2020/water_10min_2020.csv").parent
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "examples" / "backtest"))
    import seoul2020

    seoul2020.extract(data, tmp_path)
    args = seoul2020.command(tmp_path, "wl_1018680", 550.0)
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120,
                         env={"PYTHONPATH": str(root / "src"), "PATH": "/usr/bin:/bin"}).stdout
    model, pers, always = _parse(out), _parse(out, "persistence "), _parse(out, "always_warn ")
    assert model["events"] >= 3
    assert model["recall"] > pers["recall"]
    assert model["precision"] > 10 * always["precision"]


@settings(max_examples=4, deadline=None)
@given(cut_frac=st.floats(0.6, 0.9), seed=st.integers(0, 99))
def test_no_look_ahead_from_the_raw_readings(cut_frac: float, seed: int) -> None:
    """Through resampling too: readings after a time never change alerts up to that time."""
    s = storm_series(seed=2, points=1, days=12)
    rng = np.random.default_rng(seed)
    t = s.t.astype(np.int64) + rng.integers(-60, 60, len(s.t))
    t.sort()
    level, rain = Series(t, s.depth[0].copy()), Series(s.t.astype(np.int64), s.point_rain[0].copy())
    cut_t = int(t[int(len(t) * cut_frac)])
    later = level.t > cut_t
    level2 = Series(level.t, np.where(later, level.v + rng.normal(5, 5, len(t)), level.v))
    rain2 = Series(rain.t, np.where(rain.t > cut_t, rng.exponential(2, len(rain.t)), rain.v))
    opts = bt.Options(threshold=20, horizon_min=120, gap_min=360, step_s=300)
    g1, g2 = bt.align(level, {"rain": rain}, opts), bt.align(level2, {"rain": rain2}, opts)
    a, b = bt.run(g1, opts, "none"), bt.run(g2, opts, "none")
    upto = int(np.searchsorted(g1.t, cut_t, side="right"))
    np.testing.assert_array_equal(a.alert[:upto], b.alert[:upto])
