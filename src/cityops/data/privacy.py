"""What may leave when a product is built on citizens' data: de-identified rows, or counts
with small cells suppressed and, where the grant says, differentially private noise.

The noise comes from OpenDP (the Laplace mechanism over integers, i.e. the discrete Laplace /
geometric mechanism), never from a home-made noise function. One case counts in exactly one
cell of a grouping, so the counts' L1 sensitivity is 1 and noise of scale 1/ε gives ε-DP;
suppressing small noisy cells afterwards is post-processing and costs no budget.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import polars as pl

MIN_CELL_FLOOR = 5  # no grant may publish a cell smaller than this
DEFAULT_MIN_CELL = 10


@dataclass(frozen=True)
class Released:
    frame: pl.DataFrame  # the cells that may leave
    suppressed: int  # cells withheld as too small
    epsilon: float  # privacy budget this release spent (0: none)


def suppress(counts: pl.DataFrame, min_cell: int) -> tuple[pl.DataFrame, int]:
    """Drop the cells whose count is under `min_cell` (the release never shows a total from
    which a dropped cell could be recovered by subtraction)."""
    small = counts["count"] < max(min_cell, MIN_CELL_FLOOR)
    return counts.filter(~small), int(small.sum())


def laplace_counts(values: list[int], epsilon: float) -> list[int]:
    """The counts with OpenDP's integer Laplace noise of scale 1/ε (sensitivity 1)."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    measurement = dp.m.make_laplace(dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int),
                                    scale=1.0 / epsilon)
    assert measurement.map(1) <= epsilon + 1e-9  # type: ignore[no-untyped-call]  # what OpenDP proves it costs
    return list(measurement(values))


def release(counts: pl.DataFrame, min_cell: int, epsilon: float | None) -> Released:
    """Counts (a `count` column beside the grouping columns) fit to leave.

    A cell leaves only if both its true and its noisy count reach the threshold: a small cell
    is never published, not even when noise lifted it (the issue's rule, and what statistical
    offices do); the noise then protects the cells that do leave.
    """
    floor = max(min_cell, MIN_CELL_FLOOR)
    small = counts["count"] < floor
    counts = counts.filter(~small)
    if epsilon and len(counts):
        noisy = laplace_counts([int(v) for v in counts["count"].to_list()], epsilon)
        counts = counts.with_columns(pl.Series("count", noisy, dtype=pl.Int64))
    kept, lowered = suppress(counts, floor)
    return Released(kept, int(small.sum()) + lowered, float(epsilon or 0.0))


def pseudonym(secret: bytes, value: object) -> str:
    """A stable pseudonym under one grant's secret: rows of two grants cannot be joined on it."""
    return hmac.new(secret, str(value).encode(), hashlib.sha256).hexdigest()[:16]
