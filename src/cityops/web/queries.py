"""Reads for the dashboard, straight from the store's tables as columns (one query each).

Department operators see only their department's cases here as in the case API: every
function takes the department to scope to (None: the whole city).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

from cityops.cases.models import FINAL_STATUSES, Status
from cityops.store.codec import to_us

STATUSES: tuple[str, ...] = tuple(s.value for s in Status)
_STATUS_INDEX = {s: i for i, s in enumerate(STATUSES)}
_OPEN = tuple(s.value for s in Status if s not in FINAL_STATUSES)
_HELD = ("dispatched", "disposing")  # the deadline clock runs: these can be overdue


def _scope(department: str | None) -> tuple[str, list[Any]]:
    return ("AND department = ?", [department]) if department is not None else ("", [])


def open_cases(conn: sqlite3.Connection, now: datetime, department: str | None) -> dict[str, Any]:
    """Every open case as parallel columns: the live layer of the map."""
    where, args = _scope(department)
    marks = ",".join("?" * len(_OPEN))
    rows = conn.execute(
        f"SELECT id, status, lon, lat, matter_code, department, district, due_at, escalated "
        f"FROM cases WHERE status IN ({marks}) AND lon IS NOT NULL {where} ORDER BY id",
        [*_OPEN, *args],
    ).fetchall()
    # Open cases without a place are not on the map; the legend says how many, so its rows
    # still add up to the open cases the case API counts.
    unplaced = conn.execute(
        f"SELECT count(*), coalesce(sum(CASE WHEN status IN ('dispatched', 'disposing') AND due_at < ? THEN 1 ELSE 0 END), 0) "
        f"FROM cases WHERE status IN ({marks}) AND lon IS NULL {where}",
        [to_us(now) or 0, *_OPEN, *args],
    ).fetchone()
    return {**_columns(rows, to_us(now) or 0), "unplaced": int(unplaced[0]), "unplaced_overdue": int(unplaced[1])}


def _columns(rows: list[Any], now_us: int) -> dict[str, Any]:
    return {
        "statuses": STATUSES,
        "id": [r[0] for r in rows],
        "status": [_STATUS_INDEX[r[1]] for r in rows],
        "lon": [round(r[2], 5) for r in rows],
        "lat": [round(r[3], 5) for r in rows],
        "matter": [r[4] for r in rows],
        "department": [r[5] for r in rows],
        "district": [r[6] for r in rows],
        "overdue": [int(r[1] in _HELD and r[7] is not None and r[7] < now_us) for r in rows],
        "escalated": [int(r[8]) for r in rows],
    }


def cases_by_id(conn: sqlite3.Connection, ids: list[int], now: datetime) -> list[dict[str, Any]]:
    """The current state of the named cases, as the change feed sends them."""
    if not ids:
        return []
    now_us = to_us(now) or 0
    out: list[dict[str, Any]] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = conn.execute(
            f"SELECT id, status, lon, lat, matter_code, department, district, due_at, escalated "
            f"FROM cases WHERE id IN ({','.join('?' * len(chunk))})", chunk,
        ).fetchall()
        for r in rows:
            out.append({"id": r[0], "status": r[1], "lon": r[2], "lat": r[3], "matter": r[4],
                        "department": r[5], "district": r[6],
                        "overdue": bool(r[1] in _HELD and r[7] is not None and r[7] < now_us),
                        "escalated": bool(r[8])})
    return out


def snapshot(conn: sqlite3.Connection, at: datetime, department: str | None) -> dict[str, Any]:
    """The open cases as they stood at `at`, replayed from the history: each case's last
    entry at or before `at` gives its status then (the history slider).

    A case's department then is taken as its department now: a case that was returned and
    re-dispatched to another department shows under its last one."""
    where, args = _scope(department)
    at_us = to_us(at) or 0
    marks = ",".join("?" * len(_OPEN))
    # Each case's last entry at or before `at`: the row numbered 1 from the newest (portable,
    # where a bare column beside max() is SQLite-only).
    rows = conn.execute(
        f"""SELECT c.id, h.to_status, c.lon, c.lat, c.matter_code, c.department, c.district,
                   c.due_at, 0
            FROM (SELECT case_id, to_status,
                         ROW_NUMBER() OVER (PARTITION BY case_id ORDER BY seq DESC) AS n
                  FROM case_history WHERE at <= ?) h
            JOIN cases c ON c.id = h.case_id
            WHERE h.n = 1 AND h.to_status IN ({marks}) AND c.lon IS NOT NULL {where.replace('department', 'c.department')}
            ORDER BY c.id""",
        [at_us, *_OPEN, *args],
    ).fetchall()
    return {"at": at.isoformat(), **_columns(rows, at_us)}


def trend(conn: sqlite3.Connection, start: datetime, end: datetime, bucket: timedelta,
          department: str | None, now: datetime) -> dict[str, Any]:
    """Reported (受理), registered (立案) and closed (结案) per time bucket in [start, end).

    A bucket that has not begun at `now` is null (nothing to plot), and nothing stamped after
    `now` is counted: a time written ahead of the clock never shows as a future closure."""
    where, args = _scope(department)
    s, e, b = to_us(start) or 0, to_us(end) or 0, int(bucket.total_seconds() * 1_000_000)
    now_us = to_us(now) or 0
    n = max(1, -(-(e - s) // b))
    begun = 0 if now_us < s else min(n, (now_us - s) // b + 1)  # buckets whose start is at or before now
    until = min(e, now_us + 1)
    series: dict[str, list[int | None]] = {}
    for name, column in (("reported", "reported_at"), ("registered", "registered_at"), ("closed", "closed_at")):
        counts: list[int | None] = [0] * begun + [None] * (n - begun)
        for k, c in conn.execute(
            f"SELECT ({column} - ?) / ?, count(*) FROM cases WHERE {column} >= ? AND {column} < ? {where} GROUP BY 1",
            [s, b, s, until, *args],
        ):
            counts[int(k)] = c
        series[name] = counts
    return {"start": start.isoformat(), "bucket_s": int(bucket.total_seconds()), "begun": begun, **series}


def history_since(conn: sqlite3.Connection, at_us: int) -> list[tuple[int, int, int]]:
    """(case_id, seq, at) of history entries at or after `at_us` (the change feed's tail)."""
    return [(r[0], r[1], r[2]) for r in conn.execute(
        "SELECT case_id, seq, at FROM case_history WHERE at >= ? ORDER BY at", [at_us])]


def latest_at(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT max(at) FROM case_history").fetchone()
    return int(row[0] or 0)


def channels(conn: sqlite3.Connection, department: str | None) -> list[tuple[str, int]]:
    """The channels the cases came in by (a source up to its colon) with their counts, most first."""
    where, args = _scope(department)
    channel = "CASE WHEN instr(source, ':') > 0 THEN substr(source, 1, instr(source, ':') - 1) ELSE source END"
    return [(r[0], r[1]) for r in conn.execute(
        f"SELECT {channel} AS c, count(*) FROM cases WHERE 1 = 1 {where} GROUP BY c ORDER BY 2 DESC, 1", args)]
