"""Indicator history: every national indicator per district and department, month by month,
over the whole record (`cityops jobs indicators`).

A month's figures are exactly `cityops indicators --by district|department --from <first
day> --to <first day of the next month>` evaluated at one moment (`as_of`): the cases reported
that month, judged by evaluate/indicators.py. The in-process runner asks that of the whole
case frame month after month; the Spark job gives each month its own group (applyInArrow)
and calls the same `month_indicators` there.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa

from cityops.evaluate.indicators import (
    COUNT_COLUMNS,
    HOUR_COLUMNS,
    INDICATOR_COLUMNS,
    RATE_COLUMNS,
    compute_indicators,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_UTC_US: Final = pl.Datetime("us", "UTC")
_TIMES: Final = ("reported_at", "registered_at", "dispatched_at", "accepted_at", "due_at", "disposed_at", "closed_at")
GROUPINGS: Final = ("district", "department")
ARROW_SCHEMA: Final = pa.schema([("month", pa.string()), ("by", pa.string()), ("key", pa.string())]
                                + [(c, pa.int64()) for c in COUNT_COLUMNS]
                                + [(c, pa.float64()) for c in (*RATE_COLUMNS, *HOUR_COLUMNS)])
SPARK_SCHEMA: Final = ", ".join(["month string", "by string", "key string"]
                                + [f"{c} bigint" for c in COUNT_COLUMNS]
                                + [f"{c} double" for c in (*RATE_COLUMNS, *HOUR_COLUMNS)])


def case_frame(raw: pl.DataFrame) -> pl.DataFrame:
    """The store's case frame (SqliteRepo.case_frame) from the exported columns: times in µs
    become UTC datetimes, the overdue flag a boolean."""
    return raw.sort("id").select(  # in id order, as the store gives it: sums add up alike
        pl.col("id").cast(pl.Int64).alias("case_id"), "district", "grid", "department", "status",
        *[pl.from_epoch(pl.col(c).cast(pl.Int64), time_unit="us").cast(_UTC_US) for c in _TIMES],
        pl.col("rework_count").cast(pl.Int64), pl.col("overdue_disposed").cast(pl.Boolean), "matter_code",
    )


def month_key(raw: pl.DataFrame, zone: str) -> pl.Series:
    """The city-time month (YYYY-MM) each case was reported in."""
    return (pl.from_epoch(raw["reported_at"].cast(pl.Int64), time_unit="us").dt.replace_time_zone("UTC")
            .dt.convert_time_zone(zone).dt.strftime("%Y-%m").alias("month"))


def month_bounds(month: str, zone: str) -> tuple[datetime, datetime]:
    """The first instant of the month and of the next, in the city's zone."""
    y, m = (int(x) for x in month.split("-"))
    tz = ZoneInfo(zone)
    start = date(y, m, 1)
    end = date(y + m // 12, m % 12 + 1, 1)
    return (datetime(start.year, start.month, 1, tzinfo=tz), datetime(end.year, end.month, 1, tzinfo=tz))


def month_indicators(frame: pl.DataFrame, month: str, as_of: datetime, zone: str) -> pl.DataFrame:
    """One month: the district rows with the city total, then the department rows."""
    start, end = month_bounds(month, zone)
    # The month's cases as one contiguous, id-ordered block, however they arrived: a mean over
    # several chunks adds up in another order and may differ in the last bit.
    frame = frame.filter((pl.col("reported_at") >= start.astimezone(UTC)) & (pl.col("reported_at") < end.astimezone(UTC)))\
        .sort("case_id").rechunk()
    parts = []
    for by in GROUPINGS:
        out = compute_indicators(frame, by, as_of, start, end, total=by == "district")  # type: ignore[arg-type]
        parts.append(out.rename({by: "key"}).select(pl.lit(month).alias("month"), pl.lit(by).alias("by"),
                                                    "key", *INDICATOR_COLUMNS))
    return pl.concat(parts)


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("month", "by", "key", nulls_last=True)


def history_in_process(raw: pl.DataFrame, as_of: datetime, zone: str) -> pl.DataFrame:
    """The reference: `cityops indicators` month after month over the whole case frame."""
    frame = case_frame(raw)
    months = sorted(month_key(raw, zone).unique().to_list())
    if not months:
        return _empty()
    return _sorted(pl.concat([month_indicators(frame, m, as_of, zone) for m in months]))


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema={"month": pl.Utf8, "by": pl.Utf8, "key": pl.Utf8,
                                **dict.fromkeys(COUNT_COLUMNS, pl.Int64),
                                **dict.fromkeys((*RATE_COLUMNS, *HOUR_COLUMNS), pl.Float64)})


def history_job(spark: SparkSession, source: str, as_of: datetime, zone: str) -> pl.DataFrame:
    """The same, one Spark group per month."""
    from cityops.jobs.session import extend, load, to_polars

    cases = load(spark, source, "cases")

    def with_month(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in batches:
            raw = pl.from_arrow(b)
            assert isinstance(raw, pl.DataFrame)
            keyed = raw.with_columns(month_key(raw, zone)).to_arrow()
            yield from keyed.cast(b.schema.append(pa.field("month", pa.string()))).to_batches()

    def per_month(table: pa.Table) -> pa.Table:
        raw = pl.from_arrow(table)
        assert isinstance(raw, pl.DataFrame)
        out = month_indicators(case_frame(raw), str(raw["month"][0]), as_of, zone)
        return out.to_arrow().cast(ARROW_SCHEMA)

    keyed = cases.mapInArrow(with_month, extend(cases.schema, month="string"))
    rows = keyed.groupBy("month").applyInArrow(per_month, SPARK_SCHEMA)
    result = to_polars(rows)
    return _sorted(result) if result.height else _empty()
