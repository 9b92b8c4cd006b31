"""Duplicate merging: links are exactly the brute-force ones, merges are transitive-safe and
never span far distances, the result does not depend on input order, and on mixed streams
with known truth precision and recall are high."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cityops.intel import merge, streams

PARAMS = merge.Params(radius_m=100.0, window_s=3600.0, min_text=0.25, near_m=40.0)
CODES = ("06010", "06011", "01004", "09009")
WORDS = ("垃圾", "积水", "停车", "很臭", "没人管", "路口", "")


@st.composite
def items(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[str]]:
    n = draw(st.integers(0, 30))
    # a 600 m square and 4 hours: plenty of near and far pairs
    lon = np.array(draw(st.lists(st.floats(114.300, 114.306), min_size=n, max_size=n)))
    lat = np.array(draw(st.lists(st.floats(30.590, 30.595), min_size=n, max_size=n)))
    t = np.array(draw(st.lists(st.integers(0, 4 * 3600), min_size=n, max_size=n, unique=True)), dtype=float)
    codes = draw(st.lists(st.sampled_from(CODES), min_size=n, max_size=n))
    texts = ["".join(draw(st.lists(st.sampled_from(WORDS), max_size=3))) for _ in range(n)]
    return lon, lat, t, codes, texts


def brute_links(lon: np.ndarray, lat: np.ndarray, t: np.ndarray, codes: list[str], texts: list[str]) -> set[tuple[int, int]]:
    x, y = merge.project(lon, lat)
    g = merge.matter_groups(codes)
    sig = merge.signatures(texts)
    out = set()
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            d = float(np.hypot(x[i] - x[j], y[i] - y[j]))
            empty = not sig[i].any() or not sig[j].any()
            sim = float((sig[i] == sig[j]).mean())
            if (d <= PARAMS.radius_m and abs(t[i] - t[j]) <= PARAMS.window_s and g[i] == g[j]
                    and (empty or sim >= PARAMS.min_text or d <= PARAMS.near_m)):
                out.add((i, j))
    return out


def run(lon: np.ndarray, lat: np.ndarray, t: np.ndarray, codes: list[str], texts: list[str]) -> merge.Plan:
    return merge.plan(lon, lat, t, merge.matter_groups(codes), merge.signatures(texts), PARAMS)


@settings(max_examples=60, deadline=None)
@given(items())
def test_links_are_exactly_the_brute_force_ones(data: tuple) -> None:
    p = run(*data)
    assert {(int(a), int(b)) for a, b in p.pairs} == brute_links(*data)


@settings(max_examples=60, deadline=None)
@given(items())
def test_merges_are_direct_links_to_roots_never_far(data: tuple) -> None:
    lon, lat, t, codes, texts = data
    p = run(*data)
    links = {(int(a), int(b)) for a, b in p.pairs}
    x, y = merge.project(lon, lat)
    for k, root in enumerate(p.target.tolist()):
        if root == k:
            continue
        assert p.target[root] == root  # merged into a root, never into a merged item
        assert (min(k, root), max(k, root)) in links  # backed by a direct link
        assert np.hypot(x[k] - x[root], y[k] - y[root]) <= PARAMS.radius_m + 1e-6
        assert t[root] <= t[k]  # the case is the earliest report


@settings(max_examples=40, deadline=None)
@given(items(), st.randoms(use_true_random=False))
def test_order_of_input_does_not_matter(data: tuple, rnd) -> None:  # type: ignore[no-untyped-def]
    lon, lat, t, codes, texts = data
    perm = list(range(len(lon)))
    rnd.shuffle(perm)
    a = run(*data).target
    b = run(lon[perm], lat[perm], t[perm], [codes[i] for i in perm], [texts[i] for i in perm]).target
    # the same partition: item perm[k] went where perm^-1 of b says
    pa = {frozenset(np.flatnonzero(a == r).tolist()) for r in np.unique(a)}
    pb = {frozenset(perm[i] for i in np.flatnonzero(b == r).tolist()) for r in np.unique(b)}
    assert pa == pb


@st.composite
def crowded(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[str]]:
    """Items on a coarse lattice, so cells hold several items and many pairs tie in place or time."""
    n = draw(st.integers(0, 40))
    spots = st.integers(0, 12)
    lon = 114.300 + 0.0005 * np.array(draw(st.lists(spots, min_size=n, max_size=n)), dtype=float)
    lat = 30.590 + 0.0005 * np.array(draw(st.lists(spots, min_size=n, max_size=n)), dtype=float)
    t = 900.0 * np.array(draw(st.lists(st.integers(0, 16), min_size=n, max_size=n)))
    codes = draw(st.lists(st.sampled_from(CODES), min_size=n, max_size=n))
    texts = ["".join(draw(st.lists(st.sampled_from(WORDS), max_size=3))) for _ in range(n)]
    return lon, lat, t, codes, texts


@settings(max_examples=60, deadline=None)
@given(crowded(), st.integers(1, 9))
def test_blocks_do_not_change_the_plan(data: tuple, block: int) -> None:
    """Pairs are made a block of cells at a time: any block size gives the same links, scores
    and merges, each link once, as brute force finds them, and merges go to earlier roots."""
    lon, lat, t, codes, texts = data
    whole = run(*data)
    saved = merge.BLOCK
    merge.BLOCK = block
    try:
        small = run(*data)
    finally:
        merge.BLOCK = saved
    links = {(int(a), int(b)): float(s) for (a, b), s in zip(whole.pairs, whole.score, strict=True)}
    assert len(links) == len(whole.pairs) and all(a < b for a, b in links)
    assert set(links) == brute_links(*data)
    assert {(int(a), int(b)): float(s) for (a, b), s in zip(small.pairs, small.score, strict=True)} == links
    assert small.target.tolist() == whole.target.tolist()
    for k, root in enumerate(whole.target.tolist()):  # a merge never points at a later item
        assert (t[root], root) <= (t[k], k) and whole.target[root] == root


def test_far_items_never_link() -> None:
    lon = np.array([114.30, 114.30 + 0.01])  # about 960 m apart
    lat = np.array([30.59, 30.59])
    p = run(lon, lat, np.array([0.0, 60.0]), ["06010", "06010"], ["路边垃圾没人清理"] * 2)
    assert len(p.pairs) == 0 and p.target.tolist() == [0, 1]


def test_sensor_event_joins_citizen_report() -> None:
    lon = np.array([114.30, 114.3003])
    lat = np.array([30.59, 30.5901])
    p = run(lon, lat, np.array([0.0, 600.0]), ["01004", "01004"], ["路面积水很深", ""])
    assert p.target.tolist() == [0, 0]


def test_mixed_stream_precision_and_recall() -> None:
    s = streams.mixed(20_000, seed=11)
    p = merge.plan(s.lon, s.lat, s.t, merge.matter_groups(s.codes), merge.signatures(s.texts))
    precision, recall = merge.pair_scores(s.truth, p.target)
    assert precision > 0.9 and recall > 0.8, (precision, recall)


def test_dedupe_merges_stored_duplicates_through_the_merge_action(platform, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from cityops.cases.models import SYSTEM_ACTOR
    from cityops.cases.service import NewReport, intake
    from cityops.cli import main
    from cityops.core import utcnow

    now = utcnow()
    reports = [("06010", "路边暴露垃圾很臭", 114.3055, 30.5928), ("06010", "路边垃圾很臭没人清", 114.3056, 30.5928),
               ("06010", "路边暴露垃圾很臭", 114.3355, 30.5928), ("01037", "路灯不亮了", 114.3055, 30.5929)]

    def add(repo):  # type: ignore[no-untyped-def]
        return [intake(repo, platform, NewReport(c, d, lon, lat), SYSTEM_ACTOR, now).id for c, d, lon, lat in reports]

    ids = platform.store.write(add)
    out = CliRunner().invoke(main, ["intel", "dedupe", "--db", platform.store.path, "--apply"])
    assert out.exit_code == 0, out.output
    assert f"merged  case {ids[1]} -> {ids[0]}" in out.output and "1 links, 1 merged" in out.output
    with platform.store.read() as repo:
        merged = repo.get_case(ids[1])
        assert merged.status == "merged"
        assert repo.get_case(ids[0]).report_count == 2
        assert repo.get_case(ids[2]).status == "reported"  # 2.9 km away
        assert repo.get_case(ids[3]).status == "reported"  # another matter


def test_matter_groups_number_compatible_codes_alike() -> None:
    g = merge.matter_groups(["06010", "01004", "10003", "06011", "01037", "06010", "01037"]).tolist()
    assert g[0] == g[3] == g[5] and g[1] == g[2] and g[4] == g[6] and len(set(g)) == 3
    assert merge.matter_groups([]).tolist() == []
