"""Abuse: wrong passwords are throttled per account and per address (429 + Retry-After);
the database and its WAL are created readable by this user only."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from cityops.auth.throttle import LoginThrottle, TooManyAttempts
from stores import new_db, sqlite_only


def test_throttle_per_account_and_address_is_pure_and_bounded() -> None:
    t = LoginThrottle(per_account=3, per_address=5, window=60)
    for i in range(3):
        t.check("ann", "1.1.1.1", i)
        t.failed("ann", "1.1.1.1", i)
    try:
        t.check("ann", "2.2.2.2", 10)
        raise AssertionError("locked")
    except TooManyAttempts as exc:
        assert exc.status == 429 and exc.retry_after == 50 and "秒后再试" in exc.message_zh
    t.check("ann", "2.2.2.2", 60.5)  # the oldest failure left the window
    t.check("bob", "1.1.1.1", 10)
    t.failed("bob", "1.1.1.1", 11)
    t.failed("cy", "1.1.1.1", 12)
    try:
        t.check("dee", "1.1.1.1", 13)  # 5 failures from this address, whoever they named
        raise AssertionError("address locked")
    except TooManyAttempts:
        pass
    t.succeeded("bob")
    t.check("bob", "9.9.9.9", 14)


def test_login_is_throttled_over_http(api: Any) -> None:
    c = api.client
    wrong = {"username": "ＡＤＭＩＮ", "password": "wrong-password"}
    for _ in range(5):
        assert c.post("/api/v1/auth/token", json=wrong).status_code == 401
    r = c.post("/api/v1/auth/token", json={"username": "admin", "password": "test-password-1"})
    assert r.status_code == 429, "the account is locked, whatever the spelling and even with the right password"
    assert int(r.headers["retry-after"]) > 0 and r.json()["error"] == "too_many_requests"
    assert "秒后再试" in r.json()["message_zh"]
    ok = c.post("/api/v1/auth/token", json={"username": "acceptor", "password": "test-password-1"})
    assert ok.status_code == 200, "other accounts from the same address are not locked by five failures"


@sqlite_only
def test_database_and_wal_are_private(tmp_path: Path) -> None:
    from cityops.core import open_platform

    old = os.umask(0o022)
    try:
        platform = open_platform(new_db(tmp_path, "p.db"))
        platform.store.write(lambda repo: repo.set_setting("k", "v"))
        files = [p for p in tmp_path.iterdir() if p.name.startswith("p.db")]
        assert {p.name for p in files} >= {"p.db", "p.db-wal"}
        for p in files:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p.name
        platform.close()
        wal = tmp_path / "p.db-wal"
        assert not wal.exists() or wal.stat().st_size == 0, "closing checkpoints the WAL"
    finally:
        os.umask(old)


def test_unwritable_database_is_503_then_recovers_by_itself(api: Any) -> None:
    store = api.platform.store
    connect = store.connect
    fault = {"on": True}

    def full_disk(*args: Any, **kwargs: Any) -> Any:
        conn = connect(*args, **kwargs)
        if fault["on"] and store.dialect.postgres:  # the database refuses writes, as a full or read-only one does
            conn.execute("SET default_transaction_read_only = on")
        elif fault["on"]:  # the file may not grow: SQLite's "database or disk is full"
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {pages}")
        return conn

    store.connect = full_disk  # type: ignore[method-assign]
    statuses = []
    for i in range(40):
        r = api.report("acceptor", description=f"{i} " + "水" * 3000)
        statuses.append(r.status_code)
        if r.status_code == 503:
            assert r.json()["error"] == "storage_unavailable" and r.headers["retry-after"] == "1"
            assert "数据库暂时无法写入" in r.json()["message_zh"]
            break
    assert statuses[-1] == 503, statuses
    assert set(statuses) <= {201, 503}, "never a 500, never a false 2xx"
    stored = api.get("admin", "/api/v1/cases").json()["total"]
    assert stored == statuses.count(201), "every 2xx was stored, nothing else"
    fault["on"] = False  # the disk has room again: no restart needed
    assert api.report("acceptor").status_code == 201


def test_the_write_process_warms_its_point_index_before_ready(platform: Any) -> None:
    from cityops.core import warm

    warm(platform)
    assert "locator" in platform.city.__dict__, "built before the first write, not on it"
