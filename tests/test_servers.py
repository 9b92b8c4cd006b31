"""Restarts and several servers: /healthz at once, an honest /readyz, one leader for the
once-only jobs (taken over within seconds of a kill -9), `serve --workers 2` writing into one
SQLite file, limits shared through Redis, and `cityops backup` with a restore."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from stores import PG_SERVER, POSTGRES, connect, new_db, sqlite_only

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from harness import cityops, free_port  # noqa: E402

CASE = {"matter_code": "06010", "lon": 114.3055, "lat": 30.5928}


def _serve(db: str, port: int, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "cityops", "serve", "--db", str(db), "--port", str(port), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


def _until(check: Any, timeout: float, what: str, every: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout} s")


def _city(tmp_path: Path, name: str = "s.db") -> tuple[str, str]:
    db = new_db(tmp_path, name)
    cityops("init", "--db", str(db))
    cityops("user", "create", "w", "--role", "collector", "--password-stdin", "--db", str(db), stdin="w-password-1\n")
    return db, cityops("token", "w", "--db", str(db))


def _ready(url: str) -> dict[str, Any] | None:
    r = _get(url + "/readyz")
    return r.json() if r is not None and r.status_code == 200 else None


@pytest.mark.timeout(300)
def test_healthz_answers_within_2s_and_readyz_waits_for_writes(tmp_path: Path) -> None:
    db, token = _city(tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    proc = _serve(db, port)
    try:
        alive = _until(lambda: (r := _get(url + "/healthz")) is not None and r.status_code == 200, 30, "/healthz")
        alive_after = time.monotonic() - started
        assert alive and alive_after < 2.0, f"/healthz first answered {alive_after:.2f} s after the start"
        early = httpx.get(url + "/readyz", timeout=2)
        assert early.status_code == 503 and early.headers["retry-after"] == "1", early.text
        write = httpx.post(url + "/api/v1/cases", json={**CASE, "description": "too early"},
                           headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert write.status_code in (201, 503), write.text  # never a 500 or a dropped connection
        body = _until(lambda: _ready(url), 120, "/readyz 200", every=0.1)
        ready_after = time.monotonic() - started
        print(f"/healthz after {alive_after:.2f} s, /readyz after {ready_after:.2f} s")
        assert body["status"] == "ready"
        r = httpx.post(url + "/api/v1/cases", json={**CASE, "description": "ready"},
                       headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 201, r.text
        assert _until(lambda: (_ready(url) or {}).get("leader"), 10, "a lone server leads", every=0.2)
    finally:
        _stop(proc)


def test_readyz_is_503_with_the_reason_when_the_database_is_read_only(api: Any) -> None:
    store = api.platform.store
    opener = store.connect
    fault = {"on": True}

    def read_only(*args: Any, **kwargs: Any) -> Any:
        conn = opener(*args, **kwargs)
        if fault["on"]:  # as a read-only file, mount or standby: "attempt to write a readonly database"
            conn.execute("SET default_transaction_read_only = on" if POSTGRES else "PRAGMA query_only = ON")
        return conn

    store.connect = read_only  # type: ignore[method-assign]
    r = api.client.get("/readyz")
    assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
    body = r.json()
    assert body["status"] == "not_ready" and body["error"] == "storage_unavailable", body
    assert ("readonly" in body["message"] or "read-only" in body["message"]) and body["message_zh"], body
    fault["on"] = False  # writable again: ready again, without a restart
    r = _until(lambda: (x := api.client.get("/readyz")).status_code == 200 and x, 10, "ready again", every=0.1)
    assert r.json()["status"] == "ready"


def test_leadership_is_held_by_one_and_passes_on_release(tmp_path: Path) -> None:
    from cityops.leader import Leadership

    db = str(tmp_path / "l.db")
    a, b = Leadership(db), Leadership(db)
    assert a.acquire() and a.renew()
    assert not b.acquire() and not b.is_leader
    a.release()
    assert not a.is_leader and b.acquire()
    b.release()


def test_the_sweep_runs_once_per_period_whoever_asks(platform: Any) -> None:
    from cityops.core import utcnow
    from cityops.leader_jobs import RUNS_KEY, SWEPT_KEY, minute_sweep

    now = utcnow().replace(second=1)
    assert platform.store.write(lambda repo: minute_sweep(repo, platform, now, 60)) == []
    # A second server (or a new leader just after a failover) in the same minute: nothing done.
    assert platform.store.write(lambda repo: minute_sweep(repo, platform, now + timedelta(seconds=50), 60)) is None
    assert platform.store.write(lambda repo: minute_sweep(repo, platform, now + timedelta(seconds=60), 60)) == []
    with platform.store.read() as repo:
        assert int(repo.get_setting(SWEPT_KEY)) == int((now + timedelta(seconds=60)).timestamp() // 60)
        assert repo.get_setting(RUNS_KEY) == "2"


@pytest.mark.timeout(300)
def test_a_killed_leader_is_replaced_within_5_s(tmp_path: Path) -> None:
    db, _ = _city(tmp_path)
    ports = [free_port(), free_port()]
    first_minute = int(time.time() // 60)
    procs = [_serve(db, p) for p in ports]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        for url in urls:
            _until(lambda url=url: _ready(url), 120, "both servers ready", every=0.1)

        def one_leader() -> int | None:
            flags = [(_ready(u) or {}).get("leader") for u in urls]
            return flags.index(True) if flags.count(True) == 1 and flags.count(False) == 1 else None

        leader = _until(lambda: one_leader() is not None, 10, "exactly one leader", every=0.2) and one_leader()
        assert leader is not None
        other = 1 - leader
        os.killpg(procs[leader].pid, signal.SIGKILL)
        procs[leader].wait()
        killed = time.monotonic()
        _until(lambda: (_ready(urls[other]) or {}).get("leader"), 5, "the other server leads", every=0.1)
        print(f"taken over {time.monotonic() - killed:.2f} s after kill -9")
        time.sleep(1)  # the new leader's first sweep (or its refusal: same minute) is done
        conn = connect(db)
        try:
            runs = conn.execute("SELECT value FROM settings WHERE key = 'jobs.sweep.runs'").fetchone()
        finally:
            conn.close()
        minutes = int(time.time() // 60) - first_minute + 1
        assert runs is not None and 1 <= int(runs[0]) <= minutes, f"{runs} sweeps in {minutes} minute(s)"
    finally:
        for p in procs:
            _stop(p)


@pytest.mark.timeout(400)
def test_two_workers_write_every_acknowledged_case_once(tmp_path: Path) -> None:
    db, token = _city(tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _serve(db, port, "--workers", "2")
    acknowledged: list[tuple[int, str]] = []
    lock = threading.Lock()
    try:
        _until(lambda: _ready(url), 120, "ready", every=0.1)

        def writer(n: int) -> None:
            with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:
                for i in range(25):
                    text = f"worker test {n}-{i}"
                    for _ in range(100):  # a worker still starting answers 503: nothing stored, retry
                        r = client.post(url + "/api/v1/cases", json={**CASE, "description": text})
                        if r.status_code != 503:
                            break
                        time.sleep(0.2)
                    assert r.status_code == 201, r.text
                    with lock:
                        acknowledged.append((r.json()["id"], text))

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out = subprocess.run(["pgrep", "-f", f"cityops write-process --db {db} "], capture_output=True, text=True)
        assert len(out.stdout.split()) == 2, "two workers, each with its write process"
    finally:
        _stop(proc)
    assert len(acknowledged) == 200
    ids = [i for i, _ in acknowledged]
    assert len(set(ids)) == len(ids), "case ids unique across the workers"
    conn = connect(db)
    try:
        stored = {r[0]: r[1] for r in conn.execute("SELECT id, description FROM cases WHERE description LIKE 'worker test %'")}
    finally:
        conn.close()
    assert stored == dict(acknowledged), "every acknowledged case stored once, under its id"
    verify = subprocess.run([sys.executable, "-m", "cityops", "history", "verify", "--db", str(db)],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def _redis() -> Any:
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url("redis://127.0.0.1:6379/15", socket_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    client.flushdb()
    return client


def test_login_throttle_and_open311_limit_are_shared_through_redis(platform: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from cityops.api.app import create_app
    from cityops.auth.service import new_user
    from cityops.core import utcnow
    from cityops.security import limits

    client = _redis()
    monkeypatch.setenv(limits.ENV, "redis://127.0.0.1:6379/15")
    platform.store.write(lambda repo: repo.add_user(new_user("ann", "collector", None, "ann-password-1", set()),
                                                    utcnow()))
    # Two application instances (as two servers would be), one Redis.
    with TestClient(create_app(platform)) as one, TestClient(create_app(platform)) as two:
        for i in range(5):  # the account's limit: 5 failures, spread over both servers
            r = (one, two)[i % 2].post("/api/v1/auth/token", json={"username": "ann", "password": "wrong-password"})
            assert r.status_code == 401
        for c in (one, two):
            r = c.post("/api/v1/auth/token", json={"username": "ann", "password": "ann-password-1"})
            assert r.status_code == 429 and int(r.headers["retry-after"]) > 0, r.text
    # The Open311 bucket: a burst of 4 at 1 per second is spent across two limiters.
    a = limits.RedisRateLimiter(limits.connect("redis://127.0.0.1:6379/15"), rate=1.0, burst=4.0)
    b = limits.RedisRateLimiter(limits.connect("redis://127.0.0.1:6379/15"), rate=1.0, burst=4.0)
    taken = [x.allow("key-1", 0.0) for x in (a, b, a, b, a, b)]
    assert taken.count(True) == 4 and taken[-2:] == [False, False], taken
    assert b.allow("key-2", 0.0), "buckets are per key"
    client.flushdb()


def test_limits_stay_in_memory_without_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    from cityops.auth.throttle import LoginThrottle
    from cityops.intake.open311.keys import RateLimiter
    from cityops.security import limits

    monkeypatch.delenv(limits.ENV, raising=False)
    assert type(limits.login_throttle()) is LoginThrottle
    assert type(limits.open311_limiter()) is RateLimiter


def test_an_unreachable_redis_lets_requests_through() -> None:
    from cityops.security import limits

    dead = limits.connect(f"redis://127.0.0.1:{free_port()}/0")
    throttle = limits.RedisLoginThrottle(dead)
    throttle.failed("x", "1.2.3.4", 0.0)
    throttle.check("x", "1.2.3.4", 0.0)  # no exception: not counted, logged
    assert limits.RedisRateLimiter(dead, 1.0, 1.0).allow("k", 0.0)


@sqlite_only
def test_backup_while_writing_then_restore(tmp_path: Path) -> None:
    from cityops.cases.models import Actor, Role
    from cityops.cases.service import NewReport, intake
    from cityops.core import open_platform, utcnow
    from cityops.errors import Conflict
    from cityops.store.backup import backup

    db = tmp_path / "live.db"
    platform = open_platform(db)
    collector = Actor("c", Role.COLLECTOR)
    stop = threading.Event()
    acked: list[int] = []

    def report(repo: Any, i: int) -> int:
        return int(intake(repo, platform, NewReport("06010", f"backup {i}", 114.3055, 30.5928), collector, utcnow()).id)

    def writer() -> None:  # as the server's write process: its own connection, committing all along
        i = 0
        while not stop.is_set():
            i += 1
            acked.append(platform.store.write(lambda repo, i=i: report(repo, i)))

    for i in range(30):
        acked.append(platform.store.write(lambda repo, i=i: report(repo, -i)))
    thread = threading.Thread(target=writer)
    thread.start()
    copy = tmp_path / "copy.db"
    try:
        _until(lambda: len(acked) >= 40, 60, "the writer is writing", every=0.01)
        for n in range(3):  # each backup taken, and verified, while the writer commits
            before = set(acked)
            done = backup(db, copy, force=n > 0)
            with sqlite3.connect(copy) as conn:
                in_copy = {r[0] for r in conn.execute("SELECT id FROM cases")}
            assert before <= in_copy, "every write acknowledged before the backup began is in it"
            assert len(in_copy) == done.cases and done.rows > 0
        during = len(acked) - len(before)
    finally:
        stop.set()
        thread.join()
    print(f"backup of {done.cases} cases; {during} more written during the last backup; {len(acked)} in all")
    assert len(acked) > len(in_copy), "writes went on while the backups were taken"
    with pytest.raises(Conflict):
        backup(db, copy)
    assert backup(db, copy, force=True).cases >= done.cases
    platform.close()

    # Restore (docs/operations.md): server stopped, WAL and shared memory removed, file copied back.
    for leftover in (f"{db}-wal", f"{db}-shm"):
        Path(leftover).unlink(missing_ok=True)
    shutil.copyfile(copy, db)
    verify = subprocess.run([sys.executable, "-m", "cityops", "history", "verify", "--db", str(db)],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    with sqlite3.connect(db) as conn, sqlite3.connect(copy) as c2:
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            assert conn.execute(f'SELECT count(*) FROM "{table}"').fetchone() == \
                c2.execute(f'SELECT count(*) FROM "{table}"').fetchone(), table


@sqlite_only
def test_backup_command_refuses_to_overwrite(tmp_path: Path) -> None:
    db, _ = _city(tmp_path)
    target = tmp_path / "b.db"
    first = subprocess.run([sys.executable, "-m", "cityops", "backup", "--db", str(db), "--to", str(target)],
                           capture_output=True, text=True)
    assert first.returncode == 0 and "备份完成并已校验" in first.stdout, first.stdout + first.stderr
    again = subprocess.run([sys.executable, "-m", "cityops", "backup", "--db", str(db), "--to", str(target)],
                           capture_output=True, text=True)
    assert again.returncode == 2 and "--force" in again.stderr


PG = f"{PG_SERVER}/postgres"


def test_leadership_on_postgresql_passes_when_the_leaders_session_ends() -> None:
    psycopg = pytest.importorskip("psycopg")
    from cityops.leader import Leadership

    try:
        psycopg.connect(PG, connect_timeout=2).close()
    except psycopg.Error:
        pytest.skip(f"no PostgreSQL at {PG}")
    a, b = Leadership(PG), Leadership(PG)
    try:
        assert a.acquire() and a.renew()
        assert not b.acquire()
        # The leader's session ends (its host died, its connection was cut): the lock goes with it.
        pid = a._conn.info.backend_pid
        with psycopg.connect(PG, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert not a.renew() and not a.is_leader, "the old leader notices it lost the lock"
        assert _until(lambda: b.acquire(), 5, "the other takes over", every=0.1)
    finally:
        a.release()
        b.release()


@pytest.mark.timeout(300)
def test_a_revoked_credential_is_refused_by_every_server_at_once(tmp_path: Path) -> None:
    """On PostgreSQL each server remembers who holds a token or an API key (auth/tokencache.py);
    disabling the user (revoking the key) from the CLI must still be refused by both servers,
    each of which had the answer cached."""
    db, token = _city(tmp_path)
    ports = [free_port(), free_port()]
    procs = [_serve(db, port) for port in ports]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    headers = {"Authorization": f"Bearer {token}"}
    try:
        for url in urls:
            _until(lambda url=url: _ready(url), 120, "ready", every=0.1)
            for _ in range(3):  # looked up once, then remembered
                assert httpx.get(url + "/api/v1/me", headers=headers).status_code == 200
        cityops("user", "disable", "w", "--db", str(db))
        for url in urls:
            _until(lambda url=url: httpx.get(url + "/api/v1/me", headers=headers).status_code == 401,
                   2, "the disabled user's token refused")
        cityops("user", "enable", "w", "--db", str(db))
        fresh = cityops("token", "w", "--db", str(db))
        for url in urls:
            assert httpx.get(url + "/api/v1/me", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
            assert httpx.get(url + "/api/v1/me", headers=headers).status_code == 401, "the old token stays revoked"
        # An Open311 API key, the same way.
        key = cityops("apikey", "create", "app", "--db", str(db)).strip()
        form = {"api_key": key, "service_code": "06010", "lat": "30.5928", "long": "114.3055", "description": "路灯"}
        for url in urls:
            for _ in range(2):
                assert httpx.post(url + "/open311/v2/requests.json", data=form).status_code == 200
        cityops("apikey", "revoke", "app", "--db", str(db))
        for url in urls:
            _until(lambda url=url: httpx.post(url + "/open311/v2/requests.json", data=form).status_code == 403,
                   2, "the revoked API key refused")
    finally:
        for proc in procs:
            _stop(proc)


def test_the_token_cache_keeps_no_answer_looked_up_across_a_change() -> None:
    from datetime import UTC, datetime

    from cityops.auth.tokencache import CredentialCache
    from cityops.cases.models import Actor, Role

    cache, who, now = CredentialCache(live=True), Actor("w", Role.COLLECTOR, None), datetime.now(UTC)
    started = cache.generation
    cache.forget_all()  # a change heard while the lookup was in flight
    cache.put("d", who, started, None, now)
    assert cache.get("d") is None
    cache.put("d", who, cache.generation, now + timedelta(seconds=-1), now)
    assert cache.get("d") is None, "an expired token is not kept"
    cache.put("d", who, cache.generation, None, now)
    assert cache.get("d") == who
    cache.live = False
    assert cache.get("d") is None, "without the LISTEN connection every lookup goes to the database"
