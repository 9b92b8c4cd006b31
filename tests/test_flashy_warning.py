"""Warnings for flashy points with short, gappy records (issue 22): rain intensity–duration
rules, gap alignment, nowcast input, model selection by inner validation, duty-officer figures."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cityops.cli import main
from cityops.sim.creek import creek_record
from cityops.sim.flashy import Flashy, flashy_record
from cityops.warning import backtest as bt
from cityops.warning import rainrule as rr
from cityops.warning.choose import Peer
from cityops.warning.score import Skill, find_events
from cityops.warning.series import Nowcast, Series, nowcast_ahead, read_nowcast, resample_observed

STEP = 300


def _flashy_grid(seed: int, nowcast: bool = False, family: str = "flashy") -> tuple[bt.Grid, bt.Options]:
    f = flashy_record(seed) if family == "flashy" else creek_record(seed)
    wet = f.rain > 0
    opts = bt.Options(threshold=f.threshold, train_fraction=0.4)
    nc = None
    if nowcast and isinstance(f, Flashy):
        nc = {"nowcast": Nowcast(f.nowcast[0].astype(np.int64), f.nowcast[1].astype(np.int64), f.nowcast[2])}
    g = bt.align(Series(f.level_t.astype(np.int64), f.level),
                 {"rain": Series(f.rain_t[wet].astype(np.int64), f.rain[wet])}, opts, nc)
    return g, opts


rain_arrays = st.lists(st.floats(0, 12), min_size=40, max_size=120).map(np.array)


@settings(max_examples=40, deadline=None)
@given(rain_arrays, st.integers(0, 39), st.floats(0.1, 10), st.sampled_from(rr.WETNESS))
def test_the_rain_index_never_falls_when_rain_is_added(rain: np.ndarray, at: int, extra: float, w: float) -> None:
    """More rain anywhere never lowers s(t) at any t (wetter antecedents lower the thresholds)."""
    more = rain.copy()
    more[at] += extra
    assert (rr.index(more, STEP).score(w) >= rr.index(rain, STEP).score(w) - 1e-9).all()


@settings(max_examples=40, deadline=None)
@given(rain_arrays, st.integers(0, 39), st.floats(0.1, 10), st.floats(0.05, 5), st.floats(-5, 5))
def test_rules_are_monotone_in_rain_and_level(rain: np.ndarray, at: int, extra: float, lam: float,
                                              bump: float) -> None:
    """A rule that fires keeps firing with more rain; the response rule also with a higher level."""
    more = rain.copy()
    more[at] += extra
    level = np.linspace(10, 20, len(rain))
    for rule in (rr.Rule("fitted", lam, 0.5), rr.Rule("fitted", lam, 0.5, base=12.0),
                 rr.Rule("response", 0.0, 0.5, c=2.0, p=1.3)):
        base = rule.alert(rr.index(rain, STEP), level, 25.0, STEP)
        assert (rule.alert(rr.index(more, STEP), level, 25.0, STEP) >= base).all()
    response = rr.Rule("response", 0.0, 0.5, c=2.0, p=1.3)
    higher = response.alert(rr.index(rain, STEP), level + abs(bump), 25.0, STEP)
    assert (higher >= response.alert(rr.index(rain, STEP), level, 25.0, STEP)).all()


@settings(max_examples=30, deadline=None)
@given(rain_arrays, st.integers(5, 35))
def test_the_index_is_causal_without_a_forecast(rain: np.ndarray, cut: int) -> None:
    later = rain.copy()
    later[cut:] = 50.0
    a, b = rr.index(rain, STEP).score(0.5), rr.index(later, STEP).score(0.5)
    assert np.array_equal(a[:cut], b[:cut])


def test_the_level_rising_to_its_line_fires_without_rain() -> None:
    """A long moderate rain that never reaches the city's rain defaults: the level climbs to the
    line and the rule fires on it before the crossing; a level that climbs in the lower half of
    its range, or stops rising short of the line, does not fire it."""
    t = np.arange(200)
    climb = np.clip(10 + 0.25 * (t - 100), 10, None)  # 10 cm, then +0.25 cm per 5 min from step 100
    rule = rr.Rule("city", 1.0, 0.0, base=10.0)
    dry = np.zeros(len(t))
    alert = rule.alert(rr.index(dry, STEP), climb, 30.0, STEP)
    cross = int(np.argmax(climb >= 30.0))
    assert alert[cross - 6:cross].any()  # within the half hour before the line
    assert not alert[:cross - 6].any()  # not while the climb is in the lower half of the range
    stalls = np.minimum(climb, 25.0)  # a near miss: up to 75 % of the way, then flat
    assert not rule.alert(rr.index(dry, STEP), stalls, 30.0, STEP)[cross - 6:].any()
    assert not rr.Rule("city", 1.0, 0.0).alert(rr.index(dry, STEP), climb, 30.0, STEP).any()  # no base: off


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0, 40), min_size=40, max_size=120).map(np.array), st.integers(5, 35))
def test_the_level_element_is_causal(level: np.ndarray, cut: int) -> None:
    later = level.copy()
    later[cut:] = 39.0
    a = rr.rising(level, 30.0, 10.0, STEP)
    b = rr.rising(later, 30.0, 10.0, STEP)
    assert np.array_equal(a[:cut], b[:cut])


def _part(level: np.ndarray, rain: np.ndarray, thr: float) -> rr.Part:
    return rr.Part(rr.index(rain, STEP), level, thr, gap=72, window=36, step=STEP)


def _storms(amounts: list[float], n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Rain bursts every 300 steps and a level that rises with each burst's rain."""
    rain = np.zeros(n)
    level = np.full(n, 10.0)
    for i, a in enumerate(amounts):
        s = 100 + 300 * i
        rain[s:s + 6] = a / 6
        level[s + 4:s + 30] += a / 2
    return rain, level


def test_a_point_with_events_gets_its_own_threshold_between_floods_and_non_floods() -> None:
    rain, level = _storms([10, 40, 12, 45, 8, 42])  # floods (level > 25) at 40+ mm
    rule = rr.fit_point(_part(level, rain, 25.0))
    assert rule.kind == "fitted" and rule.events == 3
    s = rr.index(rain, STEP).score(rule.w)
    peaks = [s[100 + 300 * i:100 + 300 * i + 10].max() for i in range(6)]
    assert all(p >= rule.lam for p in peaks[1::2]) and all(p < rule.lam for p in peaks[::2])


def test_no_event_falls_back_to_the_city_raised_above_the_rain_taken() -> None:
    rain, level = _storms([10, 14, 8])  # nothing floods
    city = rr.fit_point(_part(level, rain, 100.0))
    assert city.kind == "city" and city.lam >= 1.0
    dry_rain, dry_level = _storms([30])  # 30 mm in 30 min exceeds the defaults: the point took it
    raised = rr.fit_city(_part(dry_level, dry_rain, 100.0))
    assert raised.lam > 1.0
    assert not raised.alert(rr.index(dry_rain, STEP), dry_level, 100.0, STEP).any()


def test_pooling_shrinks_each_point_towards_the_pool() -> None:
    rich_rain, rich_level = _storms([10, 40, 12, 45, 8, 42])
    rich = _part(rich_level, rich_rain, 25.0)
    poor_rain, poor_level = _storms([9, 11])
    poor = _part(poor_level, poor_rain, 25.0)
    rules = rr.fit_pooled([rich, poor])
    assert [r.kind for r in rules] == ["pooled", "pooled"]
    assert rules[1].events == 0 and rules[1].lam > 0
    own = rr.fit_point(rich)
    assert rules[0].lam == pytest.approx(own.lam, rel=1.0)  # a rich point keeps most of its own


def test_a_response_rule_needs_no_event() -> None:
    rain, level = _storms([5, 10, 15, 20])  # rises of 2.5 … 10, threshold 30 never reached
    rule = rr.fit_response(_part(level, rain, 30.0), horizon=24)
    assert rule is not None and rule.c > 0 and 0.7 <= rule.p <= 2.5
    big, big_level = _storms([5, 10, 15, 20, 60])
    alert = rule.alert(rr.index(big, STEP), big_level, 30.0, STEP)
    assert alert[1300:1306].any()  # the 60 mm burst: the expected rise reaches the line


# --- gaps -------------------------------------------------------------------------------------


def test_alignment_invents_no_level_and_reports_coverage() -> None:
    t = np.arange(0, 86400, 900, dtype=np.int64)  # 15-minute levels over a day
    v = np.where((t > 30000) & (t < 45000), 50.0, 10.0)  # one rise…
    keep = ~((t >= 32000) & (t < 44000))  # … mostly inside a gap
    level = Series(t[keep], v[keep])
    rain_t = np.arange(300, 86400, 300, dtype=np.int64)  # 5-minute rain
    rain = Series(rain_t, np.ones(len(rain_t)))
    g = bt.align(level, {"rain": rain}, bt.Options(threshold=30))
    assert g.step == 300 and g.level_step == 900  # the rain's finer step
    assert np.isfinite(g.truth).sum() == keep.sum()  # one reading, one step: nothing in between
    assert g.coverage is not None and g.coverage["level"] == pytest.approx(keep.mean(), abs=0.02)
    obs = resample_observed(level, np.arange(0, 86400, 300, dtype=np.int64), 300)
    assert np.isnan(obs[(np.arange(0, 86400, 300) > 33000) & (np.arange(0, 86400, 300) < 43000)]).all()
    ev = find_events(g.truth, 30, 12)
    assert len(ev.start) == 1  # one event: the gap neither ends it nor starts another


def test_gaps_in_the_flashy_record_are_reported() -> None:
    g, _ = _flashy_grid(3)
    assert g.coverage is not None and 0.6 < g.coverage["level"] < 0.99
    assert g.step == 300 and g.level_step == 900


# --- nowcast ----------------------------------------------------------------------------------


def test_nowcast_is_read_and_summed_into_the_steps_ahead(tmp_path: Path) -> None:
    p = tmp_path / "nowcast.csv"
    p.write_text("issued,time,value\n"
                 "2026-07-01T00:00:00Z,2026-07-01T00:05:00Z,1\n2026-07-01T00:00:00Z,2026-07-01T00:10:00Z,2\n"
                 "2026-07-01T00:00:00Z,2026-07-01T00:15:00Z,4\n2026-07-01T00:10:00Z,2026-07-01T00:15:00Z,8\n")
    nc = read_nowcast(p)
    t0 = int(datetime(2026, 7, 1, tzinfo=UTC).timestamp())
    grid = np.array([t0, t0 + 300, t0 + 600], dtype=np.int64)
    ahead = nowcast_ahead(nc, grid, 300, 3, stale=1800)
    assert ahead[0].tolist() == [1, 2, 4]  # issued at t0: its own rows
    assert ahead[1].tolist() == [2, 4, 0]  # still the t0 issue (the next is not out yet)
    assert ahead[2].tolist() == [8, 0, 0]  # the 00:10 issue replaces it
    bad = tmp_path / "bad.csv"
    bad.write_text("issued,time,value\n2026-07-01T00:10:00Z,2026-07-01T00:05:00Z,1\n")
    out = CliRunner().invoke(main, ["warnings", "backtest", "--level", str(p), "--input", f"rain={p}",
                                    "--input", f"nowcast={bad}", "--threshold", "1"])
    assert out.exit_code == 2


def test_a_nowcast_gains_lead() -> None:
    """Seeds 2 and 6: the same rule kind warns earlier with the nowcast than without."""
    for seed in (2, 6):
        g, opts = _flashy_grid(seed)
        gn, _ = _flashy_grid(seed, nowcast=True)
        plain, ahead = bt.run(g, opts), bt.run(gn, opts)
        assert ahead.model.warned >= plain.model.warned
        assert ahead.model.median_lead_min >= plain.model.median_lead_min + 20


# --- model selection --------------------------------------------------------------------------


def test_the_choice_never_reads_the_test_part() -> None:
    g, opts = _flashy_grid(2)
    r = bt.run(g, opts)
    split = r.train_steps
    rng = np.random.default_rng(0)
    level, obs = g.level.copy(), g.truth.copy()
    level[split:] = rng.uniform(0, 60, len(level) - split)
    obs[split:] = level[split:]
    rain = {"rain": g.rain["rain"].copy()}
    rain["rain"][split:] = rng.exponential(2, len(level) - split)
    other = bt.Grid(g.t, g.step, level, rain, {}, obs, None, None, g.level_step)
    r2 = bt.run(other, opts)
    assert (r2.chosen, r2.rule, r2.validation_threshold) == (r.chosen, r.rule, r.validation_threshold)
    assert np.array_equal(r.alert[:split], r2.alert[:split])


def test_flashy_points_are_warned_ahead_and_better_than_the_baselines() -> None:
    """The issue's bar on three generated points (of seeds 1–24, 17 pass; docs/warning.md)."""
    for seed in (6, 9, 18):
        g, opts = _flashy_grid(seed)
        r = bt.run(g, opts)
        m = r.model
        assert r.chosen != "arx", seed
        assert m.recall >= 0.5 and m.precision >= 0.5 and m.median_lead_min > 0, (seed, m)
        for base in (r.persistence_calibrated, r.always):  # beaten on F1
            assert _f1(m) > _f1(base), (seed, m, base)


def _f1(s: Skill) -> float:
    return 2 * s.precision * s.recall / (s.precision + s.recall) if s.precision + s.recall else 0.0


def _meets_bar(r: bt.Result) -> bool:
    """Issue 22's rule for one record: recall and precision >= 0.5, a positive median lead,
    and a better F1 than persistence-with-margin and always-warn on the same run."""
    m = r.model
    return (m.events > 0 and m.recall >= 0.5 and m.precision >= 0.5 and m.median_lead_min > 0
            and _f1(m) > _f1(r.persistence_calibrated) and _f1(m) > _f1(r.always))


def _pool(skills: list[Skill]) -> Skill:
    ev, warned = sum(s.events for s in skills), sum(s.warned for s in skills)
    n, fa = sum(s.warnings for s in skills), sum(s.false_alarms for s in skills)
    leads = [s.median_lead_min for s in skills if s.warned]
    return Skill(ev, warned, fa, n, warned / ev if ev else 0.0, (n - fa) / n if n else 0.0,
                 float(np.median(leads)) if leads else 0.0)


UNSEEN = range(131, 143)  # seeds never looked at while the rules and the choice were built


@pytest.mark.parametrize(("family", "floor"), [("flashy", 11), ("creek", 4)])
def test_the_issue_bar_on_unseen_seeds_of_two_families(family: str, floor: int) -> None:
    """Seeds 131–142 of sim.flashy and of sim.creek (built differently: SCS curve number,
    reservoir cascade, level in metres) on the CLI's path. Measured: 11/12 and 4/12 meet the
    bar (benchmarks/bench_flashy.py, docs/warning.md); the floors are those counts. Pooled
    over the seeds the model meets the whole bar in both families (flashy: recall 0.86,
    precision 0.57; creek: 0.71, 0.58 since the level element; before it creek pooled 0.35 and
    0.48)."""
    results = [bt.run(*_flashy_grid(seed, family=family)) for seed in UNSEEN]
    passed = [seed for seed, r in zip(UNSEEN, results, strict=True) if _meets_bar(r)]
    assert len(passed) >= floor, passed
    model = _pool([r.model for r in results])
    for base in (_pool([r.persistence_calibrated for r in results]), _pool([r.always for r in results])):
        assert _f1(model) > _f1(base), (model, base)
    assert model.median_lead_min > 0, model
    assert model.recall >= 0.5 and model.precision >= 0.5, model


def test_peers_pool_through_the_cli(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "flashy_example", Path(__file__).resolve().parents[1] / "examples" / "backtest" / "flashy.py")
    assert spec and spec.loader
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    write = example.write
    paths = []
    for seed in (6, 8):
        d = tmp_path / str(seed)
        thr = write(d, seed)
        paths.append((d, thr))
    (d, thr), (peer, peer_thr) = paths
    out = CliRunner().invoke(main, [
        "warnings", "backtest", "--level", str(d / "level.csv"), "--input", f"rain={d / 'rain.csv'}",
        "--threshold", str(thr), "--train-fraction", "0.4",
        "--peer", f"{peer / 'level.csv'},{peer / 'rain.csv'},{peer_thr}"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].startswith("# model: ") and lines[1].startswith("events: ")
    assert "pooled F1" in out.output and re.search(r"^# coverage .*level \d+%", out.output, re.M)
    bad = CliRunner().invoke(main, ["warnings", "backtest", "--level", str(d / "level.csv"), "--input",
                                    f"rain={d / 'rain.csv'}", "--threshold", "1", "--peer", "x.csv"])
    assert bad.exit_code == 2 and "LEVEL_PATH,RAIN_PATH,THRESHOLD" in bad.output


def test_peer_hours_after_the_split_are_not_used() -> None:
    g, opts = _flashy_grid(6)
    peer_g, _ = _flashy_grid(8)
    thr8 = flashy_record(8).threshold
    r = bt.run(g, opts, peers=[Peer(peer_g, thr8)])
    split = r.train_steps
    lv = peer_g.truth.copy()
    lv[split:] = 0.0  # the peer's later record changed beyond recognition
    changed = bt.Grid(peer_g.t, peer_g.step, peer_g.level, peer_g.rain, {}, lv, None, None, peer_g.level_step)
    r2 = bt.run(g, opts, peers=[Peer(changed, thr8)])
    assert r2.chosen == r.chosen and np.array_equal(r.alert, r2.alert)


# --- the duty officer's figures ---------------------------------------------------------------


def test_a_rule_warning_says_what_fired_the_rain_the_time_and_the_skill(api: Any) -> None:
    from cityops.sim.storm import rainstorm_day, storm_series
    from cityops.warning.glue import PointModel, draft_op, fit_point, warn_points

    platform = api.platform
    hist = storm_series(seed=7, points=1, days=10)
    arx = fit_point(hist.t, hist.depth[0], hist.point_rain[0])
    skill = Skill(events=4, warned=3, false_alarms=1, warnings=4, recall=0.75, precision=0.75, median_lead_min=25)
    rule = rr.Rule("fitted", 0.5, 0.0, events=2, delay_min=20)
    pm = PointModel(arx.model, arx.margin, arx.step_s, rule=rule, skill=skill)
    day = rainstorm_day(points=1)
    code = platform.city.waterlogging_points[0].code
    drafts = []
    for k in range(150, 200):
        drafts = warn_points(platform, [code], day.t[:k], day.point_rain[:, :k], day.depth[:, :k], {code: pm})
        if drafts:
            break
    assert drafts, "the rule should fire in the demo storm"
    params = dict(drafts[0].params)
    assert params["model"] == "fitted" and float(params["rain_60min_mm"]) > 0
    assert params["minutes_to_threshold"] == "20" and params["skill_hits"] == "3"
    assert params["skill_misses"] == "1" and params["skill_false_alarms"] == "1"
    assert "命中 3" in drafts[0].description_zh and "3 hits" in drafts[0].description_en
    wid = platform.store.write(lambda repo: draft_op(repo, platform, drafts[0], datetime.now(UTC)))
    shown = api.get("supervisor", f"/api/v1/warnings/{wid}").json()  # the API gives them back
    assert shown["params"]["model"] == "fitted" and shown["params"]["skill_median_lead_min"] == "25"
    assert "本点回测" in shown["description_zh"]
    plain = warn_points(platform, [code], day.t[:150], day.point_rain[:, :150], day.depth[:, :150],
                        {code: PointModel(arx.model, 50.0, arx.step_s, skill=skill)})
    assert plain and dict(plain[0].params)["model"] == "arx"
