"""Validate and normalise a whole export at once, in columns.

`prepare` turns the raw text frame into typed rows ready to become cases, and gives every row
it cannot take one reason, the first that applies in the order of REASONS. Pure: values in,
values out; nothing here touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from cityops.cases.models import Status
from cityops.intake.mapping import ISO, SKIP, ImportMapping, MappingError
from cityops.intake.sources import ROW

MAX_TEXT = 4000  # the case description limit
# Skip reasons, in the order they are tested: code -> (zh-CN, English).
REASONS: dict[str, tuple[str, str]] = {
    "missing_id": ("缺少外部编号", "missing external id"),
    "duplicate_id": ("文件内编号重复", "external id repeated in the file"),
    "bad_created": ("创建时间缺失或无法解析", "created time missing or unreadable"),
    "unknown_status": ("状态未在映射中", "status not in the mapping"),
    "missing_category": ("缺少类别", "missing category"),
    "category_skipped": ("类别按映射跳过", "category mapped to skip"),
    "unknown_category": ("类别未映射且无默认事项", "category not mapped and no default matter"),
    "bad_closed": ("结案时间缺失或无法解析", "closed record without a readable closed time"),
    "closed_before_created": ("结案早于创建", "closed before it was created"),
    "bad_location": ("坐标无法解析或越界", "coordinates unreadable or out of range"),
    "missing_location": ("缺少坐标", "missing coordinates"),
    "already_imported": ("此前已导入", "already imported"),
    "triaged": ("分类置信度低，已转人工分拣", "classified below the threshold: sent to triage"),
}
# Statuses whose records are over: their closed time becomes closed_at / disposed_at.
ENDED = frozenset({Status.CLOSED, Status.REJECTED})
# Statuses in which a department held the case.
WITH_DEPARTMENT = frozenset({Status.DISPATCHED, Status.DISPOSING, Status.REPORTED_BACK, Status.CLOSED})


@dataclass(frozen=True)
class Prepared:
    rows: pl.DataFrame  # one row per importable record, typed (see `prepare`)
    skipped: pl.DataFrame  # _row, external_id, reason
    total: int  # records read


def idempotency_key(source: str, external_id: str) -> str:
    return f"import:{source}:{external_id}"


def _text(frame: pl.DataFrame, cols: tuple[str, ...] | None, sep: str) -> pl.Expr:
    """Several columns joined by `sep`, blanks dropped; "" when none has a value."""
    if not cols:
        return pl.lit("")
    parts = [pl.col(c).str.strip_chars() for c in cols]
    return pl.concat_str(
        [pl.when(p.is_not_null() & (p != "")).then(p) for p in parts], separator=sep, ignore_nulls=True
    ).fill_null("")


def _blank(expr: pl.Expr) -> pl.Expr:
    stripped = expr.str.strip_chars()
    return pl.when(stripped == "").then(None).otherwise(stripped)


def parse_times(values: pl.Expr, date_format: str, timezone: str) -> pl.Expr:
    """Text to UTC datetimes; null where unreadable. Times without an offset are in `timezone`."""
    text = _blank(values)
    dt = pl.Datetime("us")

    def local(fmt: str) -> pl.Expr:
        naive = text.str.strptime(dt, fmt, strict=False)
        # At a DST change: take the earlier of two readings; a time that never existed is unreadable.
        return naive.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")

    if date_format == ISO:
        iso = text.str.replace(r"[Zz]$", "+00:00")
        return pl.coalesce(
            iso.str.strptime(dt, "%Y-%m-%dT%H:%M:%S%.f%z", strict=False),
            iso.str.strptime(dt, "%Y-%m-%d %H:%M:%S%.f%z", strict=False),
            local("%Y-%m-%dT%H:%M:%S%.f"),
            local("%Y-%m-%d %H:%M:%S%.f"),
        )
    if "%z" in date_format or "%:z" in date_format:
        return text.str.strptime(dt, date_format, strict=False).dt.convert_time_zone("UTC")
    return local(date_format)


def check_columns(frame: pl.DataFrame, mapping: ImportMapping, source: str) -> None:
    """Every column the mapping names must exist: a wrong name refuses the whole file."""
    missing = sorted({c for cols in mapping.columns.values() for c in cols} - set(frame.columns))
    if missing and frame.height:
        known = ", ".join(c for c in frame.columns if c != ROW)
        raise MappingError(
            f"{source}: the mapping names columns the file does not have: {', '.join(missing)}; "
            f"the file has: {known}",
            f"{source}：映射中的列在文件中不存在：{', '.join(missing)}",
        )


def prepare(frame: pl.DataFrame, mapping: ImportMapping) -> Prepared:
    """Typed rows and per-row skip reasons, without a Python loop over the rows.

    Output columns: _row, external_id, key, created, closed, updated, due (UTC datetimes),
    status, matter_code, category, agency, department_type, description, address, district,
    lon, lat (null when unknown).
    """
    if frame.height == 0:
        return Prepared(_empty_rows(), pl.DataFrame(schema={ROW: pl.Int64, "external_id": pl.Utf8,
                                                            "reason": pl.Utf8}), 0)
    m = mapping
    col = m.column

    def times(name: str) -> pl.Expr:
        c = col(name)
        return parse_times(pl.col(c), m.date_format, m.timezone) if c else pl.lit(None, pl.Datetime("us", "UTC"))

    def number(name: str) -> pl.Expr:
        c = col(name)
        return _blank(pl.col(c)).cast(pl.Float64, strict=False) if c else pl.lit(None, pl.Float64)

    def raw(name: str) -> pl.Expr:
        c = col(name)
        return _blank(pl.col(c)) if c else pl.lit(None, pl.Utf8)

    status_raw = raw("status")
    category = raw("category")
    agency = raw("agency")
    statuses = pl.DataFrame({"_status_key": list(m.statuses), "status": [s.value for s in m.statuses.values()]})
    categories = pl.DataFrame({"category": list(m.categories), "_matter": list(m.categories.values())},
                              schema={"category": pl.Utf8, "_matter": pl.Utf8})
    agencies = pl.DataFrame({"agency": list(m.agencies), "department_type": list(m.agencies.values())},
                            schema={"agency": pl.Utf8, "department_type": pl.Utf8})
    rows = frame.select(
        pl.col(ROW),
        raw("external_id").alias("external_id"),
        times("created").alias("created"),
        times("closed").alias("_closed"),
        raw("closed").is_not_null().alias("_closed_given"),
        times("updated").alias("updated"),
        times("due").alias("due"),
        status_raw.alias("status_raw"),
        status_raw.str.to_lowercase().alias("_status_key"),
        category.alias("category"),
        agency.alias("agency"),
        _text(frame, m.columns.get("description"), " — ").alias("description"),
        _text(frame, m.columns.get("address"), ", ").alias("address"),
        raw("district").fill_null("").alias("district"),
        number("lon").alias("lon"),
        number("lat").alias("lat"),
        (raw("lon").is_not_null() | raw("lat").is_not_null()).alias("_loc_given"),
    )
    rows = (
        rows.join(statuses, on="_status_key", how="left")
        .join(categories, on="category", how="left")
        .join(agencies, on="agency", how="left")
        .sort(ROW)
    )
    default_dept = pl.lit(m.default_department, pl.Utf8)
    rows = rows.with_columns(
        pl.col("_matter").fill_null(pl.when(pl.col("category").is_not_null()).then(pl.lit(m.default_matter))),
        pl.when(pl.col("agency").is_not_null()).then(pl.col("department_type").fill_null(default_dept))
        .alias("department_type"),
        pl.col("description").str.slice(0, MAX_TEXT),
        pl.col("address").str.slice(0, 500),
    )
    ended = pl.col("status").is_in([s.value for s in ENDED])
    # A closed record's end: the closed column, else its last update.
    closed = pl.when(ended).then(pl.coalesce(pl.col("_closed"), pl.col("updated")))
    rows = rows.with_columns(closed.alias("closed"))
    valid_point = (pl.col("lon").is_between(-180, 180) & pl.col("lat").is_between(-90, 90)
                   & ~((pl.col("lon") == 0) & (pl.col("lat") == 0)))
    tests: list[tuple[str, pl.Expr]] = [
        ("missing_id", pl.col("external_id").is_null()),
        ("duplicate_id", pl.col("external_id").is_duplicated() & (pl.col(ROW) != pl.col(ROW).min().over("external_id"))),
        ("bad_created", pl.col("created").is_null()),
        ("unknown_status", pl.col("status").is_null()),
        ("missing_category", pl.col("category").is_null()),
        ("category_skipped", pl.col("category").is_in(list(m.categories)) & (pl.col("_matter") == SKIP)),
        ("unknown_category", pl.col("_matter") == SKIP),
        ("bad_closed", ended & (pl.col("closed").is_null() | (pl.col("_closed_given") & pl.col("_closed").is_null()))),
        ("closed_before_created", ended & (pl.col("closed") < pl.col("created"))),
        ("bad_location", pl.col("_loc_given") & ~valid_point.fill_null(False)),
        ("missing_location", pl.lit(m.missing_location == "skip") & ~pl.col("_loc_given")),
    ]
    reason = pl.lit(None, pl.Utf8)
    for code, test in reversed(tests):  # the first reason that applies wins
        reason = pl.when(test.fill_null(False)).then(pl.lit(code)).otherwise(reason)
    rows = rows.with_columns(reason.alias("reason"))
    skipped = rows.filter(pl.col("reason").is_not_null()).select(ROW, "external_id", "reason")
    good = rows.filter(pl.col("reason").is_null()).with_columns(
        pl.concat_str(pl.lit(f"import:{m.source}:"), pl.col("external_id")).alias("key"),
        pl.col("_matter").alias("matter_code"),
        pl.when(pl.col("_loc_given")).then(pl.col("lon")).alias("lon"),
        pl.when(pl.col("_loc_given")).then(pl.col("lat")).alias("lat"),
    ).select(_ROW_COLUMNS)
    return Prepared(good, skipped, frame.height)


_ROW_COLUMNS = [ROW, "external_id", "key", "created", "closed", "updated", "due", "status", "status_raw",
                "matter_code", "category", "agency", "department_type", "description", "address",
                "district", "lon", "lat"]


def _empty_rows() -> pl.DataFrame:
    utc = pl.Datetime("us", "UTC")
    types: dict[str, pl.DataType] = {ROW: pl.Int64(), "created": utc, "closed": utc, "updated": utc,
                                     "due": utc, "lon": pl.Float64(), "lat": pl.Float64()}
    return pl.DataFrame(schema={c: types.get(c, pl.Utf8()) for c in _ROW_COLUMNS})


def skip_summary(skipped: pl.DataFrame, first: int = 5) -> pl.DataFrame:
    """Per reason: count and the first few row numbers, in the order of REASONS."""
    order = pl.DataFrame({"reason": list(REASONS), "_order": list(range(len(REASONS)))})
    return (
        skipped.sort(ROW)
        .group_by("reason")
        .agg(pl.len().alias("count"), pl.col(ROW).head(first).alias("first_rows"))
        .join(order, on="reason", how="left")
        .sort("_order")
        .drop("_order")
    )
