"""Duplicate merging cost at 10k, 100k and 1M items (mixed reports and sensor events).

Run alone: `PYTHONPATH=src python benchmarks/bench_merge.py`. merge_N is the seconds for
signatures + candidate pairs + links + merge targets over N items. The baseline, measured in
the same run, is an all-pairs comparison (vectorised NumPy, distance and time only) timed on
5,000 items and scaled by (N / 5,000)², which is what O(n²) would cost. merge_precision and
merge_recall are the pairwise link scores against the stream's known truth at 100k.
The streams arrive at 50,000 items a day over a 50 km square (the issue's figure), so N items
span N / 50,000 days: density stays that of a real city, and so does the number of links.
"""

from __future__ import annotations

import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from cityops.intel import merge, streams  # noqa: E402

Row = tuple[str, float, str, float, str]
SIZES = {"merge_10k": 10_000, "merge_100k": 100_000, "merge_1M": 1_000_000}
BRUTE_N = 5_000
PER_DAY = 50_000


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
    start = time.perf_counter()
    brute_force(small, params)
    brute_s = time.perf_counter() - start
    rows: list[Row] = []
    for name, n in SIZES.items():
        s = streams.mixed(n, seed=1, days=n / PER_DAY)
        start = time.perf_counter()
        sig = merge.signatures(s.texts)
        p = merge.plan(s.lon, s.lat, s.t, merge.matter_groups(s.codes), sig, params)
        took = time.perf_counter() - start
        rows.append((name, round(took, 3), "s", round(brute_s * (n / BRUTE_N) ** 2, 1), "s all-pairs (scaled from 5k)"))
        if n == 100_000:
            precision, recall = merge.pair_scores(s.truth, p.target)
            rows.append(("merge_precision_100k", round(100 * precision, 1), "%", 100.0, "% ideal"))
            rows.append(("merge_recall_100k", round(100 * recall, 1), "%", 100.0, "% ideal"))
    return rows


if __name__ == "__main__":
    from harness import print_rows

    print_rows(run())
