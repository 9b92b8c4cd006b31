"""Duplicate merging cost at 10k, 100k and 1M items (mixed reports and sensor events).

Run alone: `PYTHONPATH=src python benchmarks/bench_merge.py`. merge_N is the seconds for
signatures + candidate pairs + links + merge targets over N items. The baseline, measured in
the same run, is an all-pairs comparison (vectorised NumPy, distance and time only) timed on
5,000 items and scaled by (N / 5,000)², which is what O(n²) would cost. merge_precision and
merge_recall are the pairwise link scores against the stream's known truth at 100k.
merge_1M/merge_100k is the growth per 10× items, beside 10× (linear); the goal is ≤ 12×.
Each time is the least of REPEAT runs: the machine is shared, and the least is the run that
others disturbed least. merge_1M/merge_100k_cpu is the same growth in this process's CPU
seconds, which other processes on the machine disturb less than wall time (a short 100k run
more often finds a quiet moment than a long 1M run, which inflates the wall ratio under load).
The streams arrive at 50,000 items a day over a 50 km square (the issue's figure), so N items
span N / 50,000 days: density stays that of a real city, and so does the number of links.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import partial
from typing import TypeVar

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from cityops.intel import merge, streams  # noqa: E402

Row = tuple[str, float, str, float, str]
SIZES = {"merge_10k": 10_000, "merge_100k": 100_000, "merge_1M": 1_000_000}
BRUTE_N = 5_000
PER_DAY = 50_000
REPEAT = 3
T = TypeVar("T")


def brute_force(s: streams.Stream, params: merge.Params) -> int:
    x, y = merge.project(s.lon, s.lat)
    links = 0
    for a in range(0, len(x), 500):  # blocks of rows against all columns: O(n²) work
        d = np.hypot(x[a:a + 500, None] - x[None, :], y[a:a + 500, None] - y[None, :])
        dt = np.abs(s.t[a:a + 500, None] - s.t[None, :])
        links += int(((d <= params.radius_m) & (dt <= params.window_s)).sum())
    return links


def run() -> list[Row]:
    params = merge.Params()
    small = streams.mixed(BRUTE_N, seed=3, days=BRUTE_N / PER_DAY)
    brute_s, _, _ = least(lambda: brute_force(small, params))
    rows: list[Row] = []
    took_s: dict[str, float] = {}
    cpu_s: dict[str, float] = {}
    for name, n in SIZES.items():
        s = streams.mixed(n, seed=1, days=n / PER_DAY)
        took, cpu_s[name], p = least(partial(merge_all, s, params))
        took_s[name] = took
        rows.append((name, round(took, 3), "s", round(brute_s * (n / BRUTE_N) ** 2, 1), "s all-pairs (scaled from 5k)"))
        if n == 100_000:
            precision, recall = merge.pair_scores(s.truth, p.target)
            rows.append(("merge_precision_100k", round(100 * precision, 1), "%", 100.0, "% ideal"))
            rows.append(("merge_recall_100k", round(100 * recall, 1), "%", 100.0, "% ideal"))
    growth = took_s["merge_1M"] / took_s["merge_100k"]
    rows.append(("merge_1M/merge_100k", round(growth, 2), "×", 10.0, "× linear (goal ≤ 12×)"))
    cpu_growth = cpu_s["merge_1M"] / cpu_s["merge_100k"]
    rows.append(("merge_1M/merge_100k_cpu", round(cpu_growth, 2), "×", 10.0, "× linear"))
    return rows


def merge_all(s: streams.Stream, params: merge.Params) -> merge.Plan:
    """What merge_N times: signatures, matter groups, candidate pairs, links, merge targets."""
    sig = merge.signatures(s.texts)
    return merge.plan(s.lon, s.lat, s.t, merge.matter_groups(s.codes), sig, params)


def least(step: Callable[[], T]) -> tuple[float, float, T]:
    """The least wall and CPU seconds of REPEAT runs of step, and the last run's result."""
    wall = cpu = float("inf")
    for _ in range(REPEAT):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = step()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu, out


if __name__ == "__main__":
    from harness import print_rows

    print_rows(run())
