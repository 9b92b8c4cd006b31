"""The Parquet export the jobs read: `cityops jobs export --db X.db --to DIR`.

One Parquet file per table, written by Polars from columns (no Python loop per row):

* readings.parquet: datastream, t (ms since the epoch, UTC), result: the observation
  segments' JSON arrays decoded and exploded in Polars;
* datastreams.parquet: the gauges and detectors (kind, point, district, place, thresholds);
* cases.parquet: every case with its times (µs since the epoch), place, matter and text;
* case_history.parquet: every step of every case (the audit trail), for later jobs.

The shapes are the ones the JDBC reader (session.py) builds from PostgreSQL, so a job does
not know which it was given.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Final

import polars as pl

from cityops.sensing.store import in_both

CASE_COLUMNS: Final = ("id", "status", "matter_code", "description", "lon", "lat", "district", "grid",
                       "department", "reported_at", "registered_at", "dispatched_at", "accepted_at",
                       "due_at", "disposed_at", "closed_at", "rework_count", "overdue_disposed")
DATASTREAM_COLUMNS: Final = ("id", "name", "kind", "point", "district", "lon", "lat", "yellow", "red")
HISTORY_COLUMNS: Final = ("case_id", "seq", "at")

_CASE_SCHEMA: Final = {
    "id": pl.Int64, "status": pl.Utf8, "matter_code": pl.Utf8, "description": pl.Utf8,
    "lon": pl.Float64, "lat": pl.Float64, "district": pl.Utf8, "grid": pl.Utf8, "department": pl.Utf8,
    "reported_at": pl.Int64, "registered_at": pl.Int64, "dispatched_at": pl.Int64, "accepted_at": pl.Int64,
    "due_at": pl.Int64, "disposed_at": pl.Int64, "closed_at": pl.Int64, "rework_count": pl.Int64,
    "overdue_disposed": pl.Int64,
}
_DATASTREAM_SCHEMA: Final = {
    "id": pl.Int64, "name": pl.Utf8, "kind": pl.Utf8, "point": pl.Utf8, "district": pl.Utf8,
    "lon": pl.Float64, "lat": pl.Float64, "yellow": pl.Float64, "red": pl.Float64,
}
READINGS_SCHEMA: Final = {"datastream": pl.Int64, "t": pl.Int64, "result": pl.Float64}


def _query(conn: sqlite3.Connection, sql: str, schema: dict[str, type[pl.DataType] | pl.DataType]) -> pl.DataFrame:
    # Polars builds the columns from the cursor itself (no per-row code of ours).
    return pl.read_database(sql, conn, schema_overrides=schema).select(list(schema)).cast(schema)  # type: ignore[arg-type]


def readings_from_segments(segments: pl.DataFrame) -> pl.DataFrame:
    """Segments (datastream, data = JSON [[t, result], …]) to one row per reading, sorted."""
    if segments.is_empty():
        return pl.DataFrame(schema=READINGS_SCHEMA)
    pairs = (segments.select("datastream", pl.col("data").str.json_decode(pl.List(pl.List(pl.Float64))))
             .explode("data"))
    return (pairs.select(pl.col("datastream").cast(pl.Int64),
                         pl.col("data").list.get(0).cast(pl.Int64).alias("t"),
                         pl.col("data").list.get(1).alias("result"))
            .sort("datastream", "t"))


def export(db: str | Path, to: str | Path, zone: str) -> dict[str, int]:
    """Write the tables the jobs read as Parquet under `to`; returns rows per table."""
    out = Path(to)
    out.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(f"file:{Path(db).resolve()}?mode=ro", uri=True)
    try:
        segments = pl.read_database(in_both("SELECT datastream, data FROM {seg}")[0], conn,
                                    schema_overrides={"datastream": pl.Int64, "data": pl.Utf8})
        tables = {
            "readings": readings_from_segments(segments),
            "datastreams": _query(conn, f"SELECT {', '.join(DATASTREAM_COLUMNS)} FROM sta_datastream ORDER BY id",
                                  _DATASTREAM_SCHEMA),  # type: ignore[arg-type]
            "cases": _query(conn, f"SELECT {', '.join(CASE_COLUMNS)} FROM cases ORDER BY id",
                            _CASE_SCHEMA),  # type: ignore[arg-type]
            "case_history": _query(conn, f"SELECT {', '.join(HISTORY_COLUMNS)} FROM case_history "
                                         "ORDER BY case_id, seq",
                                   {"case_id": pl.Int64, "seq": pl.Int64, "at": pl.Int64}),
        }
    finally:
        conn.close()
    for name, frame in tables.items():
        frame.write_parquet(out / f"{name}.parquet")
    (out / "meta.json").write_text(json.dumps({"zone": zone, "source": str(db)}))
    return {name: frame.height for name, frame in tables.items()}
