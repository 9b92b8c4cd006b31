"""Citizen indicators: 回访率, 满意率, 解决率, 重办率, 响应时长 per district, department, matter or
channel. Pure Polars over two frames the store gives (revisits, and cases with their first
acceptance); the formulas are written out in docs/indicators.md ("Citizen indicators").
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Final, Literal, get_args

import polars as pl

CitizenBy = Literal["district", "department", "matter", "channel", "city"]
TOTAL_KEY: Final = "city"
_TS: Final = pl.Datetime("us", "UTC")
_US_PER_HOUR: Final = 3_600_000_000

COUNT_COLUMNS: Final = ("revisit_due", "revisited", "solved", "satisfied", "unsatisfied", "reopened")
RATES: Final[dict[str, tuple[str, str]]] = {
    "revisit_rate": ("revisited", "revisit_due"),
    "satisfaction_rate": ("satisfied", "revisited"),
    "solve_rate": ("solved", "revisited"),
    "reopen_rate": ("reopened", "revisited"),
}
HOUR_COLUMNS: Final = ("avg_response_hours",)
CITIZEN_COLUMNS: Final = (*COUNT_COLUMNS, *RATES, *HOUR_COLUMNS)
LABELS: Final[dict[str, tuple[str, str]]] = {
    "district": ("区", "district"), "department": ("责任部门", "department"),
    "matter": ("管理事项", "matter"), "channel": ("渠道", "channel"), "city": ("全市", "city"),
    "revisit_due": ("应回访数", "return visits due"), "revisited": ("回访数", "answered"),
    "solved": ("解决数", "solved"), "satisfied": ("满意数", "satisfied"),
    "unsatisfied": ("不满意数", "unsatisfied"), "reopened": ("重办数", "reopened"),
    "revisit_rate": ("回访率", "return-visit rate"), "satisfaction_rate": ("满意率", "satisfaction rate"),
    "solve_rate": ("解决率", "solve rate"), "reopen_rate": ("重办率", "reopen rate"),
    "avg_response_hours": ("平均响应时长(小时)", "avg response hours"),
}
_KEYS: Final = ("case_id", "district", "department", "matter", "channel", "reported_at")


def _frame(conn: sqlite3.Connection, sql: str, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    rows = conn.execute(sql).fetchall()
    data = {c: [r[i] for r in rows] for i, c in enumerate(schema)}
    frame = pl.DataFrame(data, schema={c: (pl.Int64() if t == _TS else t) for c, t in schema.items()}, orient="col")
    return frame.with_columns(
        pl.from_epoch(pl.col(c), time_unit="us").dt.replace_time_zone("UTC") for c, t in schema.items() if t == _TS
    )


_BASE: Final[dict[str, pl.DataType]] = {
    "case_id": pl.Int64(), "district": pl.Utf8(), "department": pl.Utf8(), "matter": pl.Utf8(),
    "channel": pl.Utf8(), "reported_at": _TS,
}


def revisit_frame(conn: sqlite3.Connection) -> pl.DataFrame:
    """One row per return visit (per closure), with its case's grouping keys."""
    schema = {**_BASE, "status": pl.Utf8(), "solved": pl.Int64(), "satisfaction": pl.Utf8(), "outcome": pl.Utf8()}
    return _frame(conn, "SELECT c.id, c.district, c.department, c.matter_code, c.source, c.reported_at,"
                        " r.status, r.solved, r.satisfaction, r.outcome"
                        " FROM revisits r JOIN cases c ON c.id = r.case_id", schema)


def response_frame(conn: sqlite3.Connection) -> pl.DataFrame:
    """One row per case, with the first time a department signed for it (签收)."""
    schema = {**_BASE, "first_accepted_at": _TS}
    return _frame(conn, "SELECT c.id, c.district, c.department, c.matter_code, c.source, c.reported_at, a.at"
                        " FROM cases c LEFT JOIN (SELECT case_id, min(at) AS at FROM case_history"
                        " WHERE action = 'accept' GROUP BY case_id) a ON a.case_id = c.id", schema)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        raise ValueError(f"须带时区 must be timezone-aware: {moment!r}")
    return moment.astimezone(UTC) if moment is not None else None


def _period(frame: pl.DataFrame, start: datetime | None, end: datetime | None) -> pl.DataFrame:
    s, e = _utc(start), _utc(end)
    if s is not None:
        frame = frame.filter(pl.col("reported_at") >= s)
    if e is not None:
        frame = frame.filter(pl.col("reported_at") < e)
    return frame


def _revisit_aggs() -> list[pl.Expr]:
    col = pl.col
    answered = col("status") != "pending"
    return [
        pl.len().cast(pl.Int64).alias("revisit_due"),
        answered.sum().cast(pl.Int64).alias("revisited"),
        (answered & (col("solved") == 1)).fill_null(False).sum().cast(pl.Int64).alias("solved"),
        (answered & col("satisfaction").is_in(["satisfied", "basic"])).fill_null(False).sum().cast(pl.Int64).alias("satisfied"),
        (answered & (col("satisfaction") == "unsatisfied")).fill_null(False).sum().cast(pl.Int64).alias("unsatisfied"),
        col("outcome").is_in(["reopened", "escalated"]).sum().cast(pl.Int64).alias("reopened"),
    ]


def _response_aggs() -> list[pl.Expr]:
    hours = (pl.col("first_accepted_at") - pl.col("reported_at")).dt.total_microseconds() / _US_PER_HOUR
    return [hours.mean().cast(pl.Float64).alias("avg_response_hours")]


def compute_citizen(revisits: pl.DataFrame, cases: pl.DataFrame, by: CitizenBy,
                    start: datetime | None = None, end: datetime | None = None,
                    *, total: bool = False) -> pl.DataFrame:
    """One row per group (sorted; a null key last), `total` appends the city row. Cases and
    their return visits belong to the period of the case's reported_at, like the other indicators."""
    if by not in get_args(CitizenBy):
        raise ValueError(f"未知分组 unknown grouping: {by!r}")
    rv, cs = _period(revisits, start, end), _period(cases, start, end)

    def grouped(key: str | None) -> pl.DataFrame:
        if key is None:
            a = rv.select(_revisit_aggs()).with_columns(pl.lit(TOTAL_KEY).alias(by))
            b = cs.select(_response_aggs()).with_columns(pl.lit(TOTAL_KEY).alias(by))
        else:
            a = rv.group_by(key).agg(_revisit_aggs())
            b = cs.group_by(key).agg(_response_aggs())
        return a.join(b, on=by, how="full", coalesce=True, nulls_equal=True)

    out = grouped(None if by == "city" else by)
    if by != "city":
        out = out.sort(by, nulls_last=True)
        if total:
            out = pl.concat([out.select(by, *out.columns[1:]), grouped(None).select(out.columns).cast(out.schema)])  # type: ignore[arg-type]
    rates = [pl.when(pl.col(d) > 0).then(pl.col(n) / pl.col(d)).otherwise(None).cast(pl.Float64).alias(r)
             for r, (n, d) in RATES.items()]
    return (out.with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in COUNT_COLUMNS)
            .with_columns(rates).select(by, *CITIZEN_COLUMNS))


def citizen_indicators(conn: sqlite3.Connection, by: CitizenBy, start: datetime | None = None,
                       end: datetime | None = None, department: str | None = None,
                       total: bool = False) -> pl.DataFrame:
    rv, cs = revisit_frame(conn), response_frame(conn)
    if department is not None:  # a department sees its own figures only
        rv, cs = rv.filter(pl.col("department") == department), cs.filter(pl.col("department") == department)
    return compute_citizen(rv, cs, by, start, end, total=total)
