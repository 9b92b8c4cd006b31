"""综合评价 indicators: counts, rates and average times per region, department or grid.

Pure: a case frame (one row per case, as the store produces it) goes in, one row per group
comes out. Everything is a Polars expression; no Python loop touches a case. The definitions
and their edge-case rules are written out in docs/indicators.md.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal, get_args

import polars as pl

GroupBy = Literal["district", "department", "grid", "city"]

# Key value of the whole-city row (by="city", or the total row appended with total=True).
TOTAL_KEY: Final = "city"

_UTC_TS: Final = pl.Datetime("us", "UTC")

# The case frame contract with the store.
CASE_SCHEMA: Final[dict[str, pl.DataType]] = {
    "case_id": pl.Int64(),
    "district": pl.Utf8(),
    "grid": pl.Utf8(),
    "department": pl.Utf8(),
    "status": pl.Utf8(),
    "reported_at": _UTC_TS,
    "registered_at": _UTC_TS,
    "dispatched_at": _UTC_TS,
    "due_at": _UTC_TS,
    "disposed_at": _UTC_TS,
    "closed_at": _UTC_TS,
    "rework_count": pl.Int64(),
    "accepted_at": _UTC_TS,
    "overdue_disposed": pl.Boolean(),
}

# Statuses in which a department holds the case and its deadline clock runs.
_HELD: Final = ("dispatched", "disposing")

COUNT_COLUMNS: Final = (
    "accepted",
    "registered",
    "dispatched",
    "to_dispose",
    "disposed",
    "disposed_on_time",
    "overdue_pending",
    "due_to_close",
    "closed",
    "closed_on_time",
    "reworked",
)
# rate column -> (numerator, denominator)
RATES: Final[dict[str, tuple[str, str]]] = {
    "close_rate": ("closed", "due_to_close"),
    "on_time_close_rate": ("closed_on_time", "due_to_close"),
    "rework_rate": ("reworked", "due_to_close"),
    "dispose_rate": ("disposed", "to_dispose"),
    "on_time_dispose_rate": ("disposed_on_time", "to_dispose"),
    "overdue_pending_rate": ("overdue_pending", "to_dispose"),
}
RATE_COLUMNS: Final = tuple(RATES)
HOUR_COLUMNS: Final = ("avg_accept_hours", "avg_handle_hours")
INDICATOR_COLUMNS: Final = COUNT_COLUMNS + RATE_COLUMNS + HOUR_COLUMNS

# column -> (zh, en) for display
LABELS: Final[dict[str, tuple[str, str]]] = {
    "district": ("区", "district"),
    "department": ("责任部门", "department"),
    "grid": ("单元网格", "grid"),
    "city": ("全市", "city"),
    "accepted": ("受理数", "accepted"),
    "registered": ("立案数", "registered"),
    "dispatched": ("派遣数", "dispatched"),
    "to_dispose": ("应处置数", "to dispose"),
    "disposed": ("处置数", "disposed"),
    "disposed_on_time": ("按期处置数", "disposed on time"),
    "overdue_pending": ("超期待处置数", "overdue pending"),
    "due_to_close": ("应结案数", "due to close"),
    "closed": ("结案数", "closed"),
    "closed_on_time": ("按期结案数", "closed on time"),
    "reworked": ("返工数", "reworked"),
    "close_rate": ("结案率", "close rate"),
    "on_time_close_rate": ("按期结案率", "on-time close rate"),
    "rework_rate": ("返工率", "rework rate"),
    "dispose_rate": ("处置率", "dispose rate"),
    "on_time_dispose_rate": ("按期处置率", "on-time dispose rate"),
    "overdue_pending_rate": ("超期待处置率", "overdue pending rate"),
    "avg_accept_hours": ("平均立案用时(小时)", "avg acceptance hours"),
    "avg_handle_hours": ("平均处置用时(小时)", "avg handling hours"),
}

_US_PER_HOUR: Final = 3_600_000_000


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} 须带时区 must be timezone-aware: {moment!r}")
    return moment.astimezone(UTC)


def _flags(as_of: datetime) -> dict[str, pl.Expr]:
    """One boolean (never null) per counted indicator, evaluated per case."""
    col = pl.col
    registered = col("registered_at").is_not_null()
    dispatched = col("dispatched_at").is_not_null()
    # Disposal only counts for dispatched cases, so disposed <= to_dispose always holds.
    disposed = dispatched & col("disposed_at").is_not_null()
    # The store's flag wins (it knows extensions and suspensions); without it, fall back to
    # comparing disposal, then closure, with the due time; no due time means not late.
    late = pl.coalesce(
        col("overdue_disposed"),
        col("disposed_at") > col("due_at"),
        col("closed_at") > col("due_at"),
        pl.lit(False),
    )
    # A merged case lives on in the case it joined; counting it would double the closure base.
    closable = registered & (col("status") != "merged").fill_null(True)
    closed = closable & col("closed_at").is_not_null()
    due_to_close = closable & (col("closed_at").is_not_null() | (col("due_at") <= as_of))
    # The same "overdue" as the case API (Case.is_overdue, the 超期督办 queue) and the map: a
    # department holds it now and its due time passed. A suspended case (clock stopped) and one
    # returned for re-dispatch are not waiting on a department, so they are not overdue.
    held = col("status").is_in(_HELD).fill_null(False)
    overdue_pending = dispatched & held & (col("due_at") < as_of)
    return {
        "registered": registered,
        "dispatched": dispatched,
        "to_dispose": dispatched,
        "disposed": disposed,
        "disposed_on_time": disposed & ~late,
        "overdue_pending": overdue_pending,
        "due_to_close": due_to_close,
        "closed": closed,
        "closed_on_time": closed & ~late,
        # Restricted to the closure base so that 返工率 stays a share of 应结案数.
        "reworked": due_to_close & (col("rework_count") > 0),
    }


def _aggregations(as_of: datetime) -> list[pl.Expr]:
    counts = [pl.len().cast(pl.Int64).alias("accepted")] + [
        flag.fill_null(False).sum().cast(pl.Int64).alias(name)
        for name, flag in _flags(as_of).items()
    ]
    # A difference is null unless both ends exist, so mean() covers exactly the right cases.
    accept = (pl.col("registered_at") - pl.col("reported_at")).dt.total_microseconds()
    handle = (pl.col("disposed_at") - pl.col("dispatched_at")).dt.total_microseconds()
    hours = [
        (accept / _US_PER_HOUR).mean().cast(pl.Float64).alias("avg_accept_hours"),
        (handle / _US_PER_HOUR).mean().cast(pl.Float64).alias("avg_handle_hours"),
    ]
    return counts + hours


def _rates() -> list[pl.Expr]:
    return [
        pl.when(pl.col(den) > 0)
        .then(pl.col(num) / pl.col(den))
        .otherwise(None)
        .cast(pl.Float64)
        .alias(rate)
        for rate, (num, den) in RATES.items()
    ]


def _city_row(cases: pl.DataFrame, as_of: datetime, key: str) -> pl.DataFrame:
    # select() on an empty frame still yields one row: zero counts and null rates.
    return cases.select(_aggregations(as_of)).with_columns(
        pl.lit(TOTAL_KEY, dtype=pl.Utf8).alias(key)
    )


def compute_indicators(
    cases: pl.DataFrame,
    by: GroupBy,
    as_of: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    total: bool = False,
) -> pl.DataFrame:
    """Indicators of the cases reported in [start, end), one row per group, sorted by key.

    ``as_of`` is the evaluation moment (what is due or overdue is judged against it).
    ``by="city"`` gives one row keyed ``TOTAL_KEY``; ``total=True`` appends that row after the
    groups. Cases with a null key (e.g. never dispatched, by department) form their own group,
    sorted last.
    """
    if by not in get_args(GroupBy):
        raise ValueError(f"未知分组 unknown grouping: {by!r}")
    missing = [name for name in CASE_SCHEMA if name not in cases.columns]
    if missing:
        raise ValueError(f"案卷表缺少列 case frame lacks columns: {missing}")
    as_of = _utc(as_of, "as_of")
    period = cases.lazy()
    if start is not None:
        period = period.filter(pl.col("reported_at") >= _utc(start, "start"))
    if end is not None:
        period = period.filter(pl.col("reported_at") < _utc(end, "end"))
    selected = period.collect()

    if by == "city":
        grouped = _city_row(selected, as_of, by)
    else:
        grouped = (
            selected.group_by(by)
            .agg(_aggregations(as_of))
            .with_columns(pl.col(by).cast(pl.Utf8))
            .sort(by, nulls_last=True)
        )
        if total:
            grouped = pl.concat([grouped, _city_row(selected, as_of, by).select(grouped.columns)])
    return grouped.with_columns(_rates()).select(by, *INDICATOR_COLUMNS)
