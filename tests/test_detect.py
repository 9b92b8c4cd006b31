"""Detectors: waterlogging levels and faults, congestion persistence and recurrence, rain
signals; each checked against a per-reading reference on generated data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityops.detect.columns import MS_PER_HOUR, Columns
from cityops.detect.congestion import detect_congestion, learn_profile
from cityops.detect.rainfall import accumulation, rainfall_signals, signal_levels
from cityops.detect.waterlogging import GaugeTable, detect_silent, detect_waterlogging

T0 = 1_767_225_600_000  # 2026-01-01T00:00Z
STEP = 300_000  # 5 minutes
GAUGES = GaugeTable.of([(1, None, None, "P1"), (2, 10.0, 15.0, "P2"), (3, None, None, "P3")])


def series(ds: int, values: list[float], start: int = T0) -> Columns:
    return Columns.of([ds] * len(values), [start + i * STEP for i in range(len(values))], values)


def cat(*parts: Columns) -> Columns:
    return Columns.of(np.concatenate([p.datastream for p in parts]), np.concatenate([p.t for p in parts]),
                      np.concatenate([p.result for p in parts]))


def test_levels_rate_and_recession() -> None:
    found = detect_waterlogging(series(1, [5, 12, 21, 25, 28, 26, 19]), GAUGES)
    assert len(found) == 1
    d = found[0]
    assert (d.kind, d.key, d.level, d.value) == ("waterlogging", "wl:P1", "red", 28.0)
    assert d.at == T0 + 4 * STEP  # first reading over 27 cm
    assert d.detail["receding"] and d.detail["cleared"] and d.detail["rate_cm_per_h"] == pytest.approx(-84.0)


def test_per_point_thresholds() -> None:
    found = detect_waterlogging(cat(series(2, [9, 12]), series(1, [9, 12])), GAUGES)
    assert [(d.key, d.level) for d in found] == [("wl:P2", "yellow")]


def test_frozen_and_jumping_gauges_are_faults_not_floods() -> None:
    frozen = series(1, [23.0] * 12)
    jump = series(3, [0, 0, 45, 0])
    found = detect_waterlogging(cat(frozen, jump), GAUGES)
    assert sorted((d.kind, d.level, d.datastream) for d in found) == [
        ("device_fault", "frozen", 1), ("device_fault", "jump", 3)]
    dry = series(1, [0.0] * 50)  # a dry road reads 0 for hours: no fault
    assert detect_waterlogging(dry, GAUGES) == []


def test_silent_gauge() -> None:
    now = T0 + 2 * MS_PER_HOUR
    found = detect_silent(np.array([1, 2, 9]), np.array([T0, now - 60_000, T0]), GAUGES, now)
    assert [(d.datastream, d.level) for d in found] == [(1, "silent")]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3), st.integers(0, 40), st.floats(0, 40, allow_nan=False)),
                min_size=1, max_size=120))
def test_flood_levels_match_a_reference(rows: list[tuple[int, int, float]]) -> None:
    """Any order, duplicates and all: a point's level is that of its deepest reading, unless
    its gauge is flagged faulty."""
    cols = Columns.of([r[0] for r in rows], [T0 + r[1] * STEP for r in rows], [r[2] for r in rows])
    found = detect_waterlogging(cols, GAUGES)
    faulty = {d.datastream for d in found if d.kind == "device_fault"}
    got = {d.datastream: d.level for d in found if d.kind == "waterlogging"}
    for ds, yellow, red in ((1, 20, 27), (2, 10, 15), (3, 20, 27)):
        values = [r[2] for r in rows if r[0] == ds]
        top = max(values, default=0)
        want = "red" if top > red else "yellow" if top > yellow else None
        if ds in faulty:
            assert ds not in got
        else:
            assert got.get(ds) == want


def _traffic(days: int = 14, incident_day: int = 9) -> Columns:
    """Two detectors with a morning rush every weekday; an incident on one afternoon."""
    n = days * 288
    slot = np.arange(n) % 288
    weekday = ((T0 // 86_400_000 + np.arange(n) // 288 + 3) % 7) < 5
    # 08:00 city time is slot 96 (city time = UTC+8: T0 is 08:00 local).
    rush = weekday & (np.abs(slot - 6) <= 6)
    base = np.where(rush, 30.0, 90.0)
    cols = []
    for ds in (1, 2):
        v = base.copy()
        if ds == 2:
            v[incident_day * 288 + 80: incident_day * 288 + 86] = 20.0  # 30 minutes jammed
        cols.append(Columns.of(np.full(n, ds), T0 + np.arange(n) * STEP, v))
    return cat(*cols)


def test_congestion_recurrent_and_non_recurrent() -> None:
    cols = _traffic()
    profile = learn_profile(cols, {1: "三环线-A", 2: "三环线-B"})
    found = detect_congestion(cols, profile)
    incidents = [d for d in found if d.level == "non_recurrent"]
    assert len(incidents) == 1 and incidents[0].key == "cong:三环线-B:2" and incidents[0].detail["intervals"] == 6
    assert incidents[0].at == T0 + (9 * 288 + 82) * STEP  # confirmed at the third interval
    assert all(d.level == "recurrent" for d in found if d.datastream == 1)
    assert len([d for d in found if d.datastream == 1]) == 10  # ten weekdays' rush hours


def test_congestion_needs_persistence() -> None:
    cols = _traffic()
    profile = learn_profile(cols)
    assert [d.level for d in detect_congestion(cols, profile, persist=7) if d.datastream == 2] == ["recurrent"] * 10
    assert all(d.detail["intervals"] >= 7 for d in detect_congestion(cols, profile, persist=7))


def test_rain_accumulation_matches_a_loop() -> None:
    rng = np.random.default_rng(2)
    ds = rng.integers(1, 4, 500)
    t = T0 + rng.integers(0, 300, 500) * STEP
    cols = Columns.of(ds, t, rng.uniform(0, 5, 500)).sorted()
    acc = accumulation(cols, 3 * MS_PER_HOUR)
    for i in range(0, 500, 37):
        same = (cols.datastream == cols.datastream[i]) & (cols.t > cols.t[i] - 3 * MS_PER_HOUR)
        upto = np.arange(500) <= i
        assert acc[i] == pytest.approx(cols.result[same & upto].sum())


def test_rain_signals() -> None:
    # 10 mm per 5 minutes for 1 h: 120 mm in 3 h → red. 0.75 mm for 12 h: 54 mm in 6 h → yellow
    # (27 mm in 3 h: not orange). 0.4 mm for 12 h: 57.6 mm in 12 h → blue (28.8 in 6 h).
    cols = cat(series(1, [10.0] * 12), series(2, [0.75] * 144), series(3, [0.4] * 144))
    got = {d.datastream: d.level for d in rainfall_signals(cols)}
    assert got == {1: "red", 2: "yellow", 3: "blue"}
    _, level = signal_levels(series(4, [2.0] * 36))
    assert level.max() == 3  # 72 mm in 3 h: orange (50 mm in 3 h), not red (100 mm)


@given(st.lists(st.tuples(st.integers(-3, 2**23), st.integers(-2**45, 2**45), st.floats(-1e3, 1e3)), max_size=80),
       st.booleans())
def test_sorted_is_a_stable_sort_by_datastream_and_time(rows: list[tuple[int, int, float]], narrow: bool) -> None:
    """Columns.sorted (a combined-key argsort where the values fit, a lexsort otherwise) keeps
    equal keys in the order given, as the duplicate rule needs."""
    if narrow:  # ids and times that fit the combined key, with repeats
        rows = [(abs(d) % 5, t % 7, r) for d, t, r in rows]
    cols = Columns.of([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]).sorted()
    expect = sorted(rows, key=lambda r: (r[0], r[1]))  # Python's sort is stable
    assert cols.datastream.tolist() == [r[0] for r in expect] and cols.t.tolist() == [r[1] for r in expect]
    assert cols.result.tolist() == [r[2] for r in expect]
