"""The intel tables (migrations 0006, 0010), through a sqlite3 connection: models, triage, corrections."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import orjson

THRESHOLD_KEY = "intel.threshold"
DEFAULT_THRESHOLD = 0.6


@dataclass(frozen=True)
class ModelRow:
    version: int
    created_at: int
    file: str
    n_train: int
    n_corrections: int
    active: bool
    note: str


def models(conn: sqlite3.Connection) -> list[ModelRow]:
    rows = conn.execute("SELECT version, created_at, file, n_train, n_corrections, active, note "
                        "FROM intel_models ORDER BY version").fetchall()
    return [ModelRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6]) for r in rows]


def active(conn: sqlite3.Connection) -> ModelRow | None:
    return next((m for m in models(conn) if m.active), None)


def add_model(conn: sqlite3.Connection, created_at: int, file: str, n_train: int, n_corrections: int,
              note: str = "") -> int:
    version = int(conn.execute("SELECT coalesce(max(version), 0) + 1 FROM intel_models").fetchone()[0])
    conn.execute("UPDATE intel_models SET active = 0")
    conn.execute("INSERT INTO intel_models VALUES (?, ?, ?, ?, ?, 1, ?)",
                 (version, created_at, file, n_train, n_corrections, note))
    return version


def next_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT coalesce(max(version), 0) + 1 FROM intel_models").fetchone()[0])


def activate(conn: sqlite3.Connection, version: int) -> bool:
    if conn.execute("SELECT 1 FROM intel_models WHERE version = ?", (version,)).fetchone() is None:
        return False
    conn.execute("UPDATE intel_models SET active = CASE WHEN version = ? THEN 1 ELSE 0 END", (version,))
    return True


def threshold(conn: sqlite3.Connection) -> float:
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (THRESHOLD_KEY,)).fetchone()
    return float(row[0]) if row else DEFAULT_THRESHOLD


def set_threshold(conn: sqlite3.Connection, value: float) -> None:
    conn.execute("INSERT INTO settings(key, value) VALUES (?, ?) "
                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (THRESHOLD_KEY, repr(value)))


def add_triage(conn: sqlite3.Connection, at: int, text: str, lon: float | None, lat: float | None,
               source: str, address: str, reporter: str, result: dict[str, Any], reason: str,
               attributes: dict[str, Any] | None = None) -> int:
    cur = conn.execute(
        "INSERT INTO intel_triage (created_at, text, lon, lat, source, address, reporter, suggested, "
        "confidence, top_k, model_version, reason, attributes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (at, text, lon, lat, source, address, reporter, result.get("matter_code"), result["confidence"],
         orjson.dumps([[k["matter_code"], k["confidence"]] for k in result["top_k"]]).decode(),
         result.get("model_version"), reason, orjson.dumps(attributes or {}).decode()),
    )
    return int(cur.lastrowid or 0)


_TRIAGE_COLS = ("id", "created_at", "text", "lon", "lat", "source", "address", "reporter", "suggested",
                "confidence", "top_k", "model_version", "reason", "status", "matter_code", "case_id",
                "decided_by", "decided_at", "attributes")


def _triage(row: tuple[Any, ...]) -> dict[str, Any]:
    out = dict(zip(_TRIAGE_COLS, row, strict=True))
    out["top_k"] = orjson.loads(out["top_k"])
    out["attributes"] = orjson.loads(out["attributes"])
    return out


def triage(conn: sqlite3.Connection, item: int) -> dict[str, Any] | None:
    row = conn.execute(f"SELECT {', '.join(_TRIAGE_COLS)} FROM intel_triage WHERE id = ?", (item,)).fetchone()
    return None if row is None else _triage(row)


def triage_by_key(conn: sqlite3.Connection, idempotency_key: str) -> dict[str, Any] | None:
    """The item a request with this Idempotency-Key made, if any (indexed: migration 0013)."""
    row = conn.execute(f"SELECT {', '.join(_TRIAGE_COLS)} FROM intel_triage "
                       "WHERE json_extract(attributes, '$.idempotency_key') = ? ORDER BY id LIMIT 1",
                       (idempotency_key,)).fetchone()
    return None if row is None else _triage(row)


def open_triage(conn: sqlite3.Connection, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    total = int(conn.execute("SELECT count(*) FROM intel_triage WHERE status = 'open'").fetchone()[0])
    rows = conn.execute(f"SELECT {', '.join(_TRIAGE_COLS)} FROM intel_triage WHERE status = 'open' "
                        "ORDER BY id LIMIT ? OFFSET ?", (limit, offset)).fetchall()
    return [_triage(r) for r in rows], total


def triaged_imports(conn: sqlite3.Connection, source: str) -> set[str]:
    """External ids of an import source's records already in the triage queue (any status)."""
    rows = conn.execute("SELECT json_extract(attributes, '$.import.external_id') FROM intel_triage "
                        "WHERE source = ?", (source,)).fetchall()
    return {str(r[0]) for r in rows if r[0] is not None}


def close_triage(conn: sqlite3.Connection, item: int, matter_code: str, case_id: int, actor: str, at: int) -> None:
    conn.execute("UPDATE intel_triage SET status = 'done', matter_code = ?, case_id = ?, decided_by = ?, "
                 "decided_at = ? WHERE id = ?", (matter_code, case_id, actor, at, item))


def add_correction(conn: sqlite3.Connection, at: int, text: str, matter_code: str, predicted: str | None,
                   confidence: float | None, actor: str, origin: str) -> None:
    conn.execute("INSERT INTO intel_corrections (at, text, matter_code, predicted, confidence, actor, origin) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)", (at, text, matter_code, predicted, confidence, actor, origin))


def corrections(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in conn.execute("SELECT text, matter_code FROM intel_corrections ORDER BY id")]
