"""Duplicate linking of a province's reports on Spark: `cityops jobs merge`.

The reference is intel/merge.py's `plan` over all the reports at once (in reported order,
as intel/dedupe.py gives them). The job cuts the province into square tiles; each tile's
group holds the reports homed in it and every report within a margin of 2 × radius_m + 1 m
around it (a report is copied into each tile whose margin it lies in), and calls the same
`plan` on that group. So no pair is lost, and each result is kept by one tile only:

* a link (i, j) needs distance ≤ radius_m, so j is in i's home tile group: the link is kept
  by i's home tile (i the earlier in the global order);
* an item k's merge target is the earliest root linked to k; whether that root r (≤ radius
  from k) links to anything earlier depends on reports ≤ radius from r, so ≤ 2 × radius
  from k: all in k's home tile group. The target is kept by k's home tile.

`plan` measures distances in metres about the *mean latitude of its input*. A tile's mean
latitude is not the province's, so each group gets ballast: a few points of a matter group
no report has (they link to nothing), far to the north or south, which bring the group's
mean latitude to exactly the province's. Every distance, score and order is then computed
from the same numbers as in one process, and the results are equal, not merely close.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np
import polars as pl
import pyarrow as pa

from cityops.intel import merge

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

STATUSES_OPEN: Final = ("reported", "registered")  # open to merging, as intel/dedupe.py
LINK_SCHEMA: Final = pa.schema([("kind", pa.string()), ("a", pa.int64()), ("b", pa.int64()), ("score", pa.float64())])
SPARK_LINK_SCHEMA: Final = "kind string, a bigint, b bigint, score double"
DEFAULT: Final = merge.Params()
_BALLAST_SPREAD_DEG: Final = 40.0  # how far ballast may sit from the province's mean latitude
_BALLAST_STEP_DEG: Final = 0.02  # ballast points ~2 km apart: never in neighbouring cells


@dataclass(frozen=True)
class Links:
    """pairs: (case a, case b, score) for every link, a before b in reported order;
    target: (case, the case it merges into), for every report that merges."""

    pairs: pl.DataFrame
    target: pl.DataFrame

    def equals(self, other: Links) -> bool:
        return self.pairs.equals(other.pairs) and self.target.equals(other.target)


def reports(raw: pl.DataFrame, open_only: bool = False) -> pl.DataFrame:
    """The reports to link, in the global order `plan` sees: reported time, then id."""
    out = raw.filter(pl.col("lon").is_not_null() & pl.col("lat").is_not_null()
                     & pl.col("lon").is_not_nan() & pl.col("lat").is_not_nan())
    if open_only:
        out = out.filter(pl.col("status").is_in(STATUSES_OPEN))
    return out.sort("reported_at", "id").with_row_index("idx").with_columns(pl.col("idx").cast(pl.Int64))


def _plan(frame: pl.DataFrame, params: merge.Params, ballast: np.ndarray | None = None) -> merge.Plan:
    """merge.plan over the frame's rows (in idx order), with ballast latitudes appended."""
    extra = np.empty(0) if ballast is None else ballast
    k = len(extra)
    lon = np.concatenate([frame["lon"].to_numpy(), np.full(k, frame["lon"][0] if k else 0.0)])
    lat = np.concatenate([frame["lat"].to_numpy(), extra])
    t_s = frame["reported_at"].to_numpy() / 1e6
    t = np.concatenate([t_s, np.full(k, t_s.min() if k else 0.0)])
    groups = merge.matter_groups(frame["matter_code"].to_list())
    matter = np.concatenate([groups, np.full(k, (groups.max() + 1) if len(groups) else 0, np.int64)])
    sig = merge.signatures(frame["description"].to_list() + [""] * k)
    return merge.plan(lon, lat, t, matter, sig, params)


def _links(frame: pl.DataFrame, p: merge.Plan, n: int, keep_pair: np.ndarray, keep_item: np.ndarray) -> pa.Table:
    """Links and targets as case ids, those of the first n rows that this group keeps."""
    ids = frame["id"].to_numpy()
    i, j = p.pairs[:, 0], p.pairs[:, 1]
    real = (i < n) & (j < n)
    i, j, score = i[real], j[real], p.score[real]
    own = keep_pair[i]
    k = np.flatnonzero(keep_item & (p.target[:n] != np.arange(n)))
    return pa.table({
        "kind": pa.array(["pair"] * int(own.sum()) + ["target"] * len(k), pa.string()),
        "a": pa.array(np.concatenate([ids[i[own]], ids[k]]), pa.int64()),
        "b": pa.array(np.concatenate([ids[j[own]], ids[p.target[k]]]), pa.int64()),
        "score": pa.array(np.concatenate([score[own], np.full(len(k), np.nan)]), pa.float64()),
    }, schema=LINK_SCHEMA)


def _result(table: pa.Table | pl.DataFrame) -> Links:
    frame = table if isinstance(table, pl.DataFrame) else pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    pairs = frame.filter(pl.col("kind") == "pair").select("a", "b", "score").sort("a", "b")
    target = frame.filter(pl.col("kind") == "target").select(pl.col("a").alias("case"),
                                                             pl.col("b").alias("into")).sort("case")
    return Links(pairs, target)


def links_in_process(raw: pl.DataFrame, params: merge.Params = DEFAULT, open_only: bool = False) -> Links:
    """The reference: `merge.plan` over the whole province in one process."""
    items = reports(raw, open_only)
    n = items.height
    if n == 0:
        return _result(LINK_SCHEMA.empty_table())
    p = _plan(items, params)
    return _result(_links(items, p, n, np.ones(n, bool), np.ones(n, bool)))


def ballast(lat: np.ndarray, lat0: float) -> np.ndarray:
    """Latitudes which, appended to `lat`, make np.nanmean exactly `lat0` (see the module note)."""
    n = len(lat)
    if n and float(np.nanmean(lat)) == lat0:
        return np.empty(0)
    mean = float(np.nanmean(lat))
    for k in range(max(1, math.ceil(n * abs(lat0 - mean) / _BALLAST_SPREAD_DEG)), n + 64):
        extra = lat0 + n * (lat0 - mean) / k + (np.arange(k) - (k - 1) / 2) * _BALLAST_STEP_DEG
        buf = np.concatenate([lat, extra])

        def at(v: float, buf: np.ndarray = buf) -> float:
            buf[-1] = v
            return float(np.nanmean(buf))

        lo, hi = extra[-1] - 1.0, extra[-1] + 1.0  # the mean rises with the last value
        while at(lo) > lat0:
            lo -= 1.0
        while at(hi) < lat0:
            hi += 1.0
        for _ in range(200):
            mid = (lo + hi) / 2
            if mid in (lo, hi):
                break
            m = at(mid)
            if m == lat0:
                return buf[n:].copy()
            lo, hi = (mid, hi) if m < lat0 else (lo, mid)
        for v in (lo, hi):
            if at(v) == lat0:
                return buf[n:].copy()
        # no float hits lat0 exactly with k points: one more ballast point moves the steps
    raise ArithmeticError("no ballast brings the tile's mean latitude to the province's")


def tile_size_m(params: merge.Params) -> float:
    return max(20_000.0, 20 * params.radius_m)


def _spread(lat0: float, tile_m: float, margin_m: float) -> object:
    """mapInArrow: each report to its home tile and to every tile within the margin."""
    east = merge.EARTH_M_PER_DEG * math.cos(math.radians(lat0))

    def spread(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in batches:
            x = b.column("lon").to_numpy() * east
            y = b.column("lat").to_numpy() * merge.EARTH_M_PER_DEG
            hx, hy = np.floor(x / tile_m).astype(np.int64), np.floor(y / tile_m).astype(np.int64)
            x0, x1 = np.floor((x - margin_m) / tile_m).astype(np.int64), np.floor((x + margin_m) / tile_m).astype(np.int64)
            y0, y1 = np.floor((y - margin_m) / tile_m).astype(np.int64), np.floor((y + margin_m) / tile_m).astype(np.int64)
            for dx in range(int((x1 - x0).max(initial=0)) + 1):
                for dy in range(int((y1 - y0).max(initial=0)) + 1):
                    tx, ty = x0 + dx, y0 + dy
                    inside = np.flatnonzero((tx <= x1) & (ty <= y1))
                    if len(inside) == 0:
                        continue
                    part = b.take(pa.array(inside))
                    yield (part.append_column("tx", pa.array(tx[inside]))
                           .append_column("ty", pa.array(ty[inside]))
                           .append_column("home", pa.array((tx[inside] == hx[inside]) & (ty[inside] == hy[inside]))))

    return spread


def _per_tile(lat0: float, params: merge.Params) -> object:
    def link(table: pa.Table) -> pa.Table:
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        frame = frame.sort("idx")
        home = frame["home"].to_numpy()
        if not home.any():
            return LINK_SCHEMA.empty_table()
        p = _plan(frame, params, ballast(frame["lat"].to_numpy(), lat0))
        return _links(frame, p, frame.height, home, home)

    return link


def links_job(spark: SparkSession, source: str, params: merge.Params = DEFAULT,
              open_only: bool = False) -> Links:
    """The same links, one Spark group per tile of the province."""
    from pyspark.sql import functions as F

    from cityops.jobs.session import extend, load, to_polars

    cases = load(spark, source, "cases").where(
        F.col("lon").isNotNull() & F.col("lat").isNotNull() & ~F.isnan("lon") & ~F.isnan("lat"))
    if open_only:
        cases = cases.where(F.col("status").isin(*STATUSES_OPEN))
    # The global order and the province's mean latitude, on the driver: three numbers a report.
    order = reports(to_polars(cases.select("id", "reported_at", "lat", "lon", "status")))
    if order.is_empty():
        return _result(LINK_SCHEMA.empty_table())
    lat0 = float(np.nanmean(order["lat"].to_numpy()))
    ranks = spark.createDataFrame(order.select("id", "idx").to_arrow())
    items = cases.select("id", "lon", "lat", "reported_at", "matter_code", "description").join(ranks, "id")
    margin = 2 * params.radius_m + 1.0
    spread = items.mapInArrow(_spread(lat0, tile_size_m(params), margin),  # type: ignore[arg-type]
                              extend(items.schema, tx="bigint", ty="bigint", home="boolean"))
    rows = spread.groupBy("tx", "ty").applyInArrow(_per_tile(lat0, params), SPARK_LINK_SCHEMA)  # type: ignore[arg-type]
    return _result(to_polars(rows))
