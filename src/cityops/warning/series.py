"""Reading `time,value` CSVs and putting them on one regular step, on columns.

Times are ISO 8601 with or without an offset (a time without one is taken as UTC, or as the
offset given by the caller); rows may be irregular, duplicated, out of order and have gaps.
Each grid time t holds what had *arrived by t*, never later data:

* accumulating drivers (rain: mm per interval) sum every reading in (t - step, t];
  no reading in a bin is 0 (a silent gauge reads as no rain, as it would live);
* states (levels, releases, tide) take the last reading at or before t, for at most
  `stale` steps; after that the value is missing (NaN) and no forecast is made from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from cityops.errors import InvalidInput

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
_OFFSET = r"(Z|[+-]\d{2}:?\d{2})$"


@dataclass(frozen=True)
class Series:
    """Readings as epoch seconds (UTC) and values, sorted by time."""

    t: I64
    v: F64


def parse_times(text: pl.Series, default_offset_min: int = 0) -> I64:
    """ISO 8601 strings to UTC epoch seconds, vectorised; raises InvalidInput on a bad one."""
    s = text.str.strip_chars()
    offset = s.str.extract(_OFFSET, 1)
    local = (s.str.replace(_OFFSET, "").str.replace(r"^(\d{4}-\d\d-\d\d)[ T]", "${1}T")
             .str.replace(r"^(\d{4}-\d\d-\d\d)$", "${1}T00:00")
             .str.replace(r"T(\d\d:\d\d)$", "T${1}:00"))
    parsed = local.str.to_datetime(format="%Y-%m-%dT%H:%M:%S%.f", time_unit="ms", strict=False)
    bad = parsed.is_null() & s.is_not_null()
    if bool(bad.any()):
        first = s.filter(bad)[0]
        raise InvalidInput(f"not an ISO 8601 time: {first!r}", f"不是 ISO 8601 时间：{first!r}")
    parts = pl.DataFrame({"o": offset}).select(
        sign=pl.when(pl.col("o").str.starts_with("-")).then(-1).otherwise(1),
        hh=pl.col("o").str.slice(1, 2).cast(pl.Int64, strict=False).fill_null(0),
        mm=pl.col("o").str.replace(":", "").str.slice(3, 2).cast(pl.Int64, strict=False).fill_null(0),
    )
    minutes = (parts["sign"] * (parts["hh"] * 60 + parts["mm"])).to_numpy().astype(np.int64)
    no_offset = offset.is_null().to_numpy()
    minutes[no_offset] = default_offset_min
    epoch_ms = parsed.dt.epoch("ms").to_numpy().astype(np.int64)
    return epoch_ms // 1000 - minutes * 60


def read_csv(path: str | Path, default_offset_min: int = 0) -> Series:
    """A `time,value` CSV (header required); empty values are dropped, bad numbers refused."""
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}", f"无法读取 {path}：{exc}") from None
    cols = [c.strip().lower() for c in frame.columns]
    if "time" not in cols or "value" not in cols:
        raise InvalidInput(f"{path}: the header must name columns time,value (found {frame.columns})",
                           f"{path}：表头必须包含 time,value 两列")
    frame.columns = cols
    frame = frame.select("time", "value").filter(
        pl.col("value").is_not_null() & (pl.col("value").str.strip_chars() != "")
        & pl.col("time").is_not_null())
    values = frame["value"].str.strip_chars().cast(pl.Float64, strict=False)
    if bool(values.is_null().any()):
        first = frame["value"].filter(values.is_null())[0]
        raise InvalidInput(f"{path}: not a number: {first!r}", f"{path}：不是数字：{first!r}")
    t = parse_times(frame["time"], default_offset_min)
    v = values.to_numpy().astype(np.float64)
    order = np.argsort(t, kind="stable")
    return Series(t[order], v[order])


def infer_step(series: Series) -> int:
    """The series' usual spacing, in whole minutes (at least one): the median gap between
    readings, so clock jitter and missing readings do not throw it off."""
    d = np.diff(np.unique(series.t))
    if len(d) == 0:
        return 600
    return max(60, int(round(float(np.median(d)) / 60)) * 60)


def grid_times(start: int, end: int, step: int) -> I64:
    first = -(-start // step) * step
    return np.arange(first, end + 1, step, dtype=np.int64)


def resample_state(series: Series, grid: I64, step: int, stale: int = 6) -> F64:
    """Last reading at or before each grid time, missing after `stale` steps without one."""
    idx = np.searchsorted(series.t, grid, side="right") - 1
    out = np.full(len(grid), np.nan)
    ok = idx >= 0
    safe = np.clip(idx, 0, None)
    fresh = ok & (grid - series.t[safe] <= stale * step)
    out[fresh] = series.v[safe][fresh]
    return out


def resample_sum(series: Series, grid: I64, step: int) -> F64:
    """Sum of the readings in (t - step, t] for each grid time t."""
    csum = np.concatenate([[0.0], np.cumsum(series.v)])
    hi = np.searchsorted(series.t, grid, side="right")
    lo = np.searchsorted(series.t, grid - step, side="right")
    return np.asarray(csum[hi] - csum[lo], dtype=np.float64)


def is_accumulating(name: str) -> bool:
    """Drivers named rain… (rain, rain_gauge2, rainfall) are amounts per interval, summed."""
    return name.lower().startswith(("rain", "precip"))


@dataclass(frozen=True)
class Nowcast:
    """Forecast rain: for each row, when it was issued, the end of the interval it is for and
    the mm expected in that interval (as a rain CSV's values), all epoch seconds (UTC)."""

    issued: I64
    t: I64
    v: F64


def read_nowcast(path: str | Path, default_offset_min: int = 0) -> Nowcast:
    """An `issued,time,value` CSV: a radar nowcast's next 1–2 hours, one row per interval."""
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}", f"无法读取 {path}：{exc}") from None
    frame.columns = [c.strip().lower() for c in frame.columns]
    if not {"issued", "time", "value"} <= set(frame.columns):
        raise InvalidInput(f"{path}: a nowcast needs columns issued,time,value (found {frame.columns})",
                           f"{path}：临近预报文件须包含 issued,time,value 三列")
    frame = frame.filter(pl.col("value").is_not_null() & (pl.col("value").str.strip_chars() != ""))
    values = frame["value"].str.strip_chars().cast(pl.Float64, strict=False)
    if bool(values.is_null().any()):
        first = frame["value"].filter(values.is_null())[0]
        raise InvalidInput(f"{path}: not a number: {first!r}", f"{path}：不是数字：{first!r}")
    issued = parse_times(frame["issued"], default_offset_min)
    t = parse_times(frame["time"], default_offset_min)
    if bool((t <= issued).any()):
        raise InvalidInput(f"{path}: a forecast interval ends before it was issued",
                           f"{path}：预报时段结束时间早于发布时间")
    order = np.lexsort((t, issued))
    return Nowcast(issued[order], t[order], values.to_numpy().astype(np.float64)[order])


def nowcast_ahead(nc: Nowcast, grid: I64, step: int, lead_steps: int, stale: int) -> F64:
    """For each grid time t, the latest nowcast issued at or before t (at most `stale` seconds
    old) summed into the steps (t, t+step], … , (t+(L-1)step, t+L·step]; NaN where none."""
    out = np.full((len(grid), lead_steps), np.nan)
    if len(nc.issued) == 0:
        return out
    issues = np.unique(nc.issued)
    k = np.searchsorted(issues, grid, side="right") - 1
    ok = (k >= 0) & (grid - issues[np.clip(k, 0, None)] <= stale)
    # One sorted key per (issue, time): the sum over (a, b] of one issue is two searches.
    base = int(nc.t.min()) - 1
    rank = np.searchsorted(issues, nc.issued)
    key = rank.astype(np.int64) * (1 << 40) + (nc.t - base)
    csum = np.concatenate([[0.0], np.cumsum(nc.v)])
    kk = np.clip(k, 0, None).astype(np.int64) * (1 << 40)
    for j in range(lead_steps):
        a = kk + np.clip(grid + j * step - base, 0, None)
        b = kk + np.clip(grid + (j + 1) * step - base, 0, None)
        amount = csum[np.searchsorted(key, b, side="right")] - csum[np.searchsorted(key, a, side="right")]
        out[ok, j] = amount[ok]
    return out


def resample_observed(series: Series, grid: I64, step: int) -> F64:
    """The last reading in (t - step, t] for each grid time t, else missing: the level as it
    was observed, nothing carried across a gap (events and scoring use only this)."""
    idx = np.searchsorted(series.t, grid, side="right") - 1
    out = np.full(len(grid), np.nan)
    safe = np.clip(idx, 0, None)
    fresh = (idx >= 0) & (grid - series.t[safe] < step)
    out[fresh] = series.v[safe][fresh]
    return out
