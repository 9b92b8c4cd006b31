"""`cityops import`: a city's legacy service-request export becomes cases, all or nothing.

The whole file is read, validated and normalised in columns first (`prepare`); then every
importable row is inserted inside ONE write transaction, each case with one hash-chained
history entry ("import"). An error anywhere rolls the whole file back. Each record's external
id is remembered as the idempotency key `import:<source>:<id>`, so importing the same file
again adds nothing and reports those rows as "already imported".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import polars as pl

from cityops.cases.models import Case, Change, Status
from cityops.cases.routing import DepartmentLike
from cityops.errors import InvalidInput
from cityops.intake.mapping import CLASSIFY, ImportMapping
from cityops.intake.prepare import (
    ENDED,
    WITH_DEPARTMENT,
    Prepared,
    check_columns,
    prepare,
    skip_summary,
)
from cityops.intake.sources import ROW, read_records
from cityops.store.base import Repo

if TYPE_CHECKING:
    from cityops.core import Platform

ACTOR = "import"
Progress = Callable[[int], None]  # called with the number of rows just inserted


class StrictImportError(InvalidInput):
    """--strict and some rows would be skipped: nothing was imported."""


@dataclass(frozen=True)
class ImportResult:
    source: str
    file: str
    read: int
    imported: int
    skipped: pl.DataFrame  # _row, external_id, reason
    dry_run: bool
    case_ids: tuple[int, ...] = ()

    def summary(self, first: int = 5) -> pl.DataFrame:
        """Per skip reason: count and the first row numbers."""
        return skip_summary(self.skipped, first)


def department_for(department_type: str | None, agency: str | None,
                   departments: Sequence[DepartmentLike]) -> str | None:
    """The first city-wide department serving the type, else a synthetic `import:<agency>`."""
    if department_type:
        for d in departments:
            if d.district is None and department_type in d.serves:
                return d.code
    return f"import:{agency}" if agency else None


def locate(platform: Platform, lon: npt.NDArray[np.float64],
           lat: npt.NDArray[np.float64]) -> tuple[list[str], list[str], list[str]]:
    """(district, grid, area class) per point from the city pack; "" outside the city."""
    known = ~(np.isnan(lon) | np.isnan(lat))
    n = len(lon)
    district, grid, area = np.full(n, "", dtype=object), np.full(n, "", dtype=object), np.full(n, "", dtype=object)
    if known.any():
        where = platform.city.locate(lon[known], lat[known])
        district[known] = np.asarray(where.district_code, dtype=object)
        grid[known] = np.asarray(where.grid_code, dtype=object)
        area[known] = np.asarray(where.area_class, dtype=object)
    return list(district), list(grid), list(area)


def _with_place(platform: Platform, rows: pl.DataFrame) -> pl.DataFrame:
    """Add district/grid/area class: the city pack's where the point is inside the city,
    else the mapped district column (e.g. a NYC borough) and grid ""."""
    lon = rows["lon"].fill_null(np.nan).to_numpy().astype(np.float64)
    lat = rows["lat"].fill_null(np.nan).to_numpy().astype(np.float64)
    district, grid, area = locate(platform, lon, lat)
    located = pl.DataFrame({"_district": district, "grid": grid, "area_class": area},
                           schema={"_district": pl.Utf8, "grid": pl.Utf8, "area_class": pl.Utf8})
    inside = pl.col("_district") != ""
    return pl.concat([rows, located], how="horizontal").with_columns(
        pl.when(inside).then(pl.col("_district")).otherwise(pl.col("district")).alias("district"),
        pl.when(inside).then(pl.col("grid")).otherwise(pl.lit("")).alias("grid"),
        pl.when(inside).then(pl.col("area_class")).otherwise(pl.lit("")).alias("area_class"),
        inside.alias("in_city"),
    ).drop("_district")


@dataclass(frozen=True)
class Triaged:
    """Rows the model classified below the city's threshold, with its answers (same order)."""

    rows: pl.DataFrame
    results: list[dict[str, Any]]


def classify_unmapped(platform: Platform, rows: pl.DataFrame) -> tuple[pl.DataFrame, Triaged]:
    """Rows whose category mapped to `classify` get the city's model's matter code from their
    description (else their category); those at or above the threshold stay, with their
    `confidence`, the others leave for the triage queue."""
    from cityops.intel import service as intel

    todo = (rows["matter_code"] == CLASSIFY).to_numpy()
    conf = np.full(rows.height, np.nan)
    rows = rows.with_columns(pl.lit(None, pl.Float64).alias("confidence"), pl.lit(None, pl.Int64).alias("model"))
    if not todo.any():
        return rows, Triaged(rows.clear(), [])
    texts = rows.filter(todo).select(
        pl.when(pl.col("description").str.strip_chars() != "").then(pl.col("description"))
        .otherwise(pl.col("category"))
    ).to_series().to_list()
    results = intel.classify_many(platform, texts)
    codes = rows["matter_code"].to_numpy().astype(object)
    codes[todo] = [r["matter_code"] for r in results]
    conf[todo] = [r["confidence"] for r in results]
    rows = rows.with_columns(pl.Series("matter_code", codes, pl.Utf8),
                             pl.Series("confidence", conf).fill_nan(None),
                             pl.when(pl.lit(todo)).then(pl.lit(results[0]["model_version"])).alias("model"))
    unsure = todo & (conf < intel.threshold(platform))
    by_row = dict(zip(np.flatnonzero(todo).tolist(), results, strict=True))
    return rows.filter(~unsure), Triaged(rows.filter(unsure), [by_row[i] for i in np.flatnonzero(unsure).tolist()])


def _origin(row: dict[str, Any], mapping: ImportMapping, file: str) -> dict[str, Any]:
    return {
        "source": mapping.source, "file": file, "row": row[ROW], "external_id": row["external_id"],
        "category": row["category"], "agency": row["agency"], "status": row["status_raw"],
        "department_type": row["department_type"],
    }


def _to_triage(repo: Any, triaged: Triaged, mapping: ImportMapping, file: str, now: datetime,
               present: set[str]) -> None:
    """Inside the import's transaction: one triage item per unsure row (the intel tables are
    SQLite's), keeping where it came from, and its import key, for the case a person's pick
    creates (`resolve_triage` records the key, so a later import of the file skips the row).
    Rows already imported as cases, or already waiting, are left alone."""
    from cityops.intel import store

    waiting = store.triaged_imports(repo.conn, f"import:{mapping.source}")  # an earlier import of the file
    for row, result in zip(triaged.rows.iter_rows(named=True), triaged.results, strict=True):
        if row["external_id"] in waiting or row["key"] in present:
            continue
        attributes = {"import": _origin(row, mapping, file), **({"idempotency_key": row["key"]} if row["key"] else {})}
        store.add_triage(repo.conn, int(now.timestamp()), row["description"] or row["category"], row["lon"],
                         row["lat"], f"import:{mapping.source}", row["address"] or "", ACTOR, result,
                         "low_confidence", attributes)


def build_case(row: dict[str, Any], mapping: ImportMapping, file: str, department: str | None,
               now: datetime) -> tuple[Case, Change]:
    """One prepared row as a case in its historical state, and its "import" history entry."""
    status = Status(row["status"])
    created: datetime = row["created"]
    closed: datetime | None = row["closed"] if status in ENDED else None
    held = status in WITH_DEPARTMENT
    due: datetime | None = row["due"]
    located = row["lon"] is not None
    origin = _origin(row, mapping, file)
    attributes: dict[str, Any] = {"import": origin, "located": located, "in_city": row["in_city"]}
    if row.get("confidence") is not None:  # the matter code is the model's (default_matter: classify)
        attributes["intel"] = {"confidence": row["confidence"], "model_version": row["model"]}
    case = Case(
        id=0, status=status, source=f"import:{mapping.source}", matter_code=row["matter_code"],
        description=row["description"] or row["category"], lon=row["lon"] if located else None,
        lat=row["lat"] if located else None, district=row["district"], grid=row["grid"],
        area_class=row["area_class"], reported_at=created, address=row["address"],
        reporter=ACTOR, department=department if held else None,
        registered_at=created, dispatched_at=created if held else None,
        accepted_at=created if held and status is not Status.DISPATCHED else None,
        due_at=due if held else None,
        disposed_at=closed if status is Status.CLOSED else None,
        overdue_disposed=(closed > due) if status is Status.CLOSED and closed and due else None,
        closed_at=closed, updated_at=row["updated"] or closed or created,
        attributes=attributes,
    )
    change = Change(
        case_id=0, at=now, actor=ACTOR, role="system", action="import", from_status=None,
        to_status=status.value, reason=f"导入历史记录 / imported from {file}",
        data={k: origin[k] for k in ("file", "external_id", "category", "agency", "status")},
    )
    return case, change


def already_imported(repo: Repo, keys: Sequence[str]) -> set[str]:
    return set(repo.idempotent_cases(keys))


def _insert(repo: Repo, platform: Platform, rows: pl.DataFrame, mapping: ImportMapping, file: str,
            now: datetime, progress: Progress | None, fail_after: int | None,
            triaged: Triaged | None = None) -> tuple[list[int], set[str]]:
    """Inside the write transaction: drop rows already imported, insert the rest; unsure
    classified rows (not imported before) go to the triage queue."""
    present = already_imported(repo, rows["key"].to_list())
    if triaged is not None and triaged.rows.height:
        _to_triage(repo, triaged, mapping, file, now, already_imported(repo, triaged.rows["key"].to_list()))
    fresh = rows.filter(~pl.col("key").is_in(list(present)))
    departments = platform.city.departments
    wanted = fresh.select("department_type", "agency").unique()
    dept_of = {
        (t, a): department_for(t, a, departments)
        for t, a in wanted.iter_rows()
    }
    ids: list[int] = []
    for i, row in enumerate(fresh.iter_rows(named=True)):
        if fail_after is not None and i == fail_after:
            raise RuntimeError(f"injected failure after {i} rows")
        case, change = build_case(row, mapping, file, dept_of[(row["department_type"], row["agency"])], now)
        stored = repo.insert_case(case, change)
        repo.remember_idempotent(row["key"], stored.id, now)
        ids.append(stored.id)
        if progress is not None and (i + 1) % 100 == 0:
            progress(100)
    if progress is not None and len(ids) % 100:
        progress(len(ids) % 100)
    return ids, present


def _already(rows: pl.DataFrame, present: Iterable[str]) -> pl.DataFrame:
    return rows.filter(pl.col("key").is_in(list(present))).select(
        ROW, "external_id", pl.lit("already_imported").alias("reason")
    )


def plan(path: Path, mapping: ImportMapping) -> Prepared:
    """Read and validate the whole file (no database)."""
    frame = read_records(path, mapping.format)
    check_columns(frame, mapping, path.name)
    return prepare(frame, mapping)


def import_file(
    platform: Platform,
    path: Path,
    mapping: ImportMapping,
    now: datetime,
    *,
    dry_run: bool = False,
    strict: bool = False,
    progress: Progress | None = None,
    on_start: Callable[[int], None] | None = None,
    fail_after: int | None = None,  # tests: raise after this many inserts, to prove the rollback
) -> ImportResult:
    prepared = plan(path, mapping)
    rows, triaged = classify_unmapped(platform, _with_place(platform, prepared.rows))
    sent = triaged.rows.select(ROW, "external_id", pl.lit("triaged").alias("reason"))
    refused = pl.concat([prepared.skipped, sent]).sort(ROW)
    if strict and refused.height:
        first = refused.row(0, named=True)
        raise StrictImportError(
            f"{path.name}: {refused.height} rows cannot be imported (first: row {first[ROW]}, "
            f"{first['reason']}); --strict imports nothing",
            f"{path.name}：{refused.height} 行无法导入（首个：第 {first[ROW]} 行，{first['reason']}）；"
            "严格模式下不导入任何记录",
        )
    if dry_run:
        with platform.store.read() as repo:
            present = already_imported(repo, rows["key"].to_list())
        skipped = pl.concat([refused, _already(rows, present)]).sort(ROW)
        return ImportResult(mapping.source, path.name, prepared.total, rows.height - len(present), skipped, True)
    if on_start is not None:
        on_start(rows.height)

    def work(repo: Any) -> tuple[list[int], set[str]]:
        return _insert(repo, platform, rows, mapping, path.name, now, progress, fail_after, triaged)

    ids, present = platform.store.write(work)
    skipped = pl.concat([refused, _already(rows, present)]).sort(ROW)
    return ImportResult(mapping.source, path.name, prepared.total, len(ids), skipped, False, tuple(ids))
