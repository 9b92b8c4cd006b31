"""The hash-chained history: verification catches edited, deleted and inserted entries."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import Api
from stores import connect, drop_history_guards


def run_verify(db: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cityops", "history", "verify", "--db", str(db)],
                          capture_output=True, text=True)


def make_cases(api: Api, n: int) -> list[int]:
    ids = []
    for _ in range(n):
        cid = api.report().json()["id"]
        api.act("acceptor", cid, "register")
        api.act("dispatcher", cid, "dispatch")
        ids.append(cid)
    return ids


def tamper(db: str, sql: str, *params: Any) -> None:
    with connect(db) as conn:  # someone with the database, bypassing the application
        drop_history_guards(conn)
        conn.execute(sql, params)


def test_intact_history_verifies(api: Api) -> None:
    make_cases(api, 3)
    out = run_verify(api.platform.store.path)
    assert out.returncode == 0 and "3 case histories intact" in out.stdout


def test_edited_entry_is_caught_and_named(api: Api) -> None:
    ids = make_cases(api, 3)
    db = api.platform.store.path
    tamper(db, "UPDATE case_history SET reason = '改过了' WHERE case_id = ? AND seq = 2", ids[1])
    out = run_verify(db)
    assert out.returncode != 0
    assert f"case {ids[1]}" in out.stdout and f"case {ids[0]}:" not in out.stdout
    assert api.get("admin", f"/api/v1/cases/{ids[1]}/history/verify").json()["intact"] is False


def test_deleted_last_entry_is_caught(api: Api) -> None:
    ids = make_cases(api, 2)
    db = api.platform.store.path
    tamper(db, "DELETE FROM case_history WHERE case_id = ? AND seq = 3", ids[0])
    out = run_verify(db)
    assert out.returncode != 0 and f"case {ids[0]}" in out.stdout


def test_deleted_middle_entry_is_caught(api: Api) -> None:
    ids = make_cases(api, 1)
    db = api.platform.store.path
    tamper(db, "DELETE FROM case_history WHERE case_id = ? AND seq = 2", ids[0])
    assert run_verify(db).returncode != 0


def test_history_is_append_only_in_the_database(api: Api) -> None:
    ids = make_cases(api, 1)
    with connect(api.platform.store.path) as conn:
        for sql in ("UPDATE case_history SET reason = 'x'", "DELETE FROM case_history"):
            try:
                conn.execute(sql)
            except sqlite3.DatabaseError as exc:
                assert "append-only" in str(exc)
            else:
                raise AssertionError(f"{sql} was allowed")
    assert ids
