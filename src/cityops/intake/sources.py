"""Read a legacy export into one frame of text columns, one row per record.

CSV is read with every column as text so that nothing is guessed; Open311 JSON (an array of
GeoReport v2 service requests) is flattened: nested objects become `parent.child` columns and
`notes[]` becomes `notes.<type>`, the time of the last note of that type (`notes.closed`).
Every frame gets `_row`, the record's 1-based position in the file, for skip reports.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from cityops.errors import InvalidInput

ROW = "_row"


def _unreadable(path: Path, why: str) -> InvalidInput:
    return InvalidInput(f"{path}: cannot read the records ({why})", f"{path}：无法读取记录（{why}）")


def read_csv(path: Path) -> pl.DataFrame:
    try:
        frame = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
    except (OSError, pl.exceptions.PolarsError, pl.exceptions.ComputeError) as exc:
        raise _unreadable(path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc
    return frame.with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.Int64))


def _flatten(frame: pl.DataFrame) -> pl.DataFrame:
    """Unnest struct columns (recursively) into `parent.child` text columns."""
    while True:
        structs = [n for n, t in frame.schema.items() if isinstance(t, pl.Struct)]
        if not structs:
            return frame
        name = structs[0]
        fields = frame[name].struct.fields
        frame = frame.with_columns(
            pl.col(name).struct.field(f).alias(f"{name}.{f}") for f in fields
        ).drop(name)


def _note_times(frame: pl.DataFrame) -> pl.DataFrame:
    """notes[] -> one column per note type: the datetime of the last note of that type."""
    notes = frame.select(ROW, "notes").explode("notes").drop_nulls("notes")
    if notes.is_empty():
        return frame.drop("notes")
    flat = notes.with_columns(
        pl.col("notes").struct.field("type").cast(pl.Utf8).alias("type"),
        pl.col("notes").struct.field("datetime").cast(pl.Utf8).alias("datetime"),
    ).drop_nulls(["type", "datetime"])
    last = flat.group_by(ROW, "type").agg(pl.col("datetime").last())
    wide = last.pivot(on="type", index=ROW, values="datetime")
    wide = wide.rename({c: f"notes.{c}" for c in wide.columns if c != ROW})
    return frame.drop("notes").join(wide, on=ROW, how="left")


def read_open311_json(path: Path) -> pl.DataFrame:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _unreadable(path, str(exc)) from exc
    if isinstance(records, dict) and isinstance(records.get("service_requests"), list):
        records = records["service_requests"]  # the XML-style wrapper some servers also use in JSON
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise _unreadable(path, "expected a JSON array of service requests")
    if not records:
        return pl.DataFrame({ROW: pl.Series([], dtype=pl.Int64)})
    try:
        frame = pl.DataFrame(records, infer_schema_length=None)
    except (pl.exceptions.PolarsError, TypeError, ValueError) as exc:
        raise _unreadable(path, f"inconsistent record fields: {exc}") from exc
    frame = frame.with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.Int64))
    if "notes" in frame.columns and isinstance(frame.schema["notes"], pl.List):
        frame = _note_times(frame)
    frame = _flatten(frame)
    nested = [n for n, t in frame.schema.items() if t.is_nested()]
    text = [pl.col(n).cast(pl.Utf8) for n, t in frame.schema.items() if n != ROW and not t.is_nested()]
    return frame.drop(nested).with_columns(text)


def read_records(path: Path, fmt: str) -> pl.DataFrame:
    return read_csv(path) if fmt == "csv" else read_open311_json(path)
