"""Two servers on one database, hammered with intake, workflow actions and reading batches while
one of them is killed with kill -9 and restarted, several times: every acknowledged write is
present exactly once, every history chain is intact, and the sweep ran at most once a minute.
On the PostgreSQL pass this is the several-servers guarantee of docs/postgresql.md."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from stores import connect
from test_servers import _city, _ready, _serve, _stop, _until

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from harness import cityops, free_port  # noqa: E402

CASE = {"matter_code": "06010", "lon": 114.3055, "lat": 30.5928}
KILLS = 3


def _post(urls: list[str], start: int, path: str, token: str, headers: dict[str, str] | None = None,
          **kw: Any) -> tuple[httpx.Response, int]:
    """POST to the servers in turn from `start` until one answers (a killed one refuses or 503s):
    a client's retry, the same request again, to whichever server is up."""
    for attempt in range(400):
        url = urls[(start + attempt) % len(urls)]
        try:
            r = httpx.post(url + path, headers={"Authorization": f"Bearer {token}", **(headers or {})}, timeout=10, **kw)
        except httpx.HTTPError:
            time.sleep(0.05)
            continue
        if r.status_code not in (502, 503):
            return r, attempt
        time.sleep(0.05)
    raise AssertionError(f"no server answered {path}")


@pytest.mark.timeout(600)
def test_kill_9_of_one_of_two_servers_loses_and_doubles_nothing(tmp_path: Path) -> None:
    db, token = _city(tmp_path, "two.db")
    cityops("sensing", "register-gauges", "--db", db)
    cityops("user", "create", "gw", "--role", "sensor", "--password-stdin", "--db", db, stdin="gw-password-1\n")
    gw = cityops("token", "gw", "--db", db)
    cityops("user", "create", "boss", "--role", "admin", "--password-stdin", "--db", db, stdin="boss-password-1\n")
    boss = cityops("token", "boss", "--db", db)
    conn = connect(db)
    try:
        gauge = int(conn.execute("SELECT min(id) FROM sta_datastream WHERE kind = 'water_depth'").fetchone()[0])
    finally:
        conn.close()
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    procs = [_serve(db, p) for p in ports]
    first_minute = int(time.time() // 60)
    cases: dict[str, int] = {}  # idempotency key → the case id acknowledged for it
    registered: set[int] = set()
    readings: set[int] = set()  # acknowledged reading times (ms) of the gauge
    stop = threading.Event()
    lock = threading.Lock()
    try:
        for url in urls:
            _until(lambda url=url: _ready(url), 180, "both servers ready", every=0.1)

        def writer(n: int) -> None:
            i = 0
            while not stop.is_set():
                key = f"kill-{n}-{i}"
                r, _ = _post(urls, i + n, "/api/v1/cases", token, headers={"Idempotency-Key": key},
                             json={**CASE, "description": key})
                if r.status_code == 409:  # the same key being stored by the other server: retry it
                    r, _ = _post(urls, i + n + 1, "/api/v1/cases", token, headers={"Idempotency-Key": key},
                                 json={**CASE, "description": key})
                if r.status_code in (200, 201):
                    with lock:
                        assert cases.setdefault(key, r.json()["id"]) == r.json()["id"], "one key, two cases"
                i += 1

        def reader_feed() -> None:
            t0 = int(time.time() * 1000) - 3_600_000
            k = 0
            while not stop.is_set():
                t = t0 + k * 1000
                at = datetime.fromtimestamp(t / 1000, UTC).isoformat(timespec="milliseconds")
                line = orjson.dumps({"datastream": gauge, "phenomenonTime": at, "result": 3.0})
                r, _ = _post(urls, k, "/api/v1/observations", gw, headers={"Content-Type": "application/x-ndjson"},
                             content=line)
                assert r.status_code in (200, 201) and r.json()["rejected"] == 0, r.text
                with lock:
                    readings.add(t)
                k += 1

        def registrar() -> None:  # workflow actions on acknowledged cases, through either server
            k = 0
            while not stop.is_set():
                with lock:
                    todo = [c for c in cases.values() if c not in registered][:1]
                if not todo:
                    time.sleep(0.05)
                    continue
                r, _ = _post(urls, k, f"/api/v1/cases/{todo[0]}/actions/register", boss, json={})
                if r.status_code in (200, 409):  # 409: a retry of one that had landed before the kill
                    with lock:
                        registered.add(todo[0])
                k += 1

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
        threads += [threading.Thread(target=reader_feed), threading.Thread(target=registrar)]
        for t in threads:
            t.start()
        for _ in range(KILLS):
            time.sleep(3)
            os.killpg(procs[0].pid, signal.SIGKILL)
            procs[0].wait()
            time.sleep(1)
            procs[0] = _serve(db, ports[0])
            _until(lambda: _ready(urls[0]), 180, "the killed server back", every=0.1)
        time.sleep(2)
        stop.set()
        for t in threads:
            t.join(timeout=60)
    finally:
        stop.set()
        for p in procs:
            _stop(p)
    assert len(cases) > 20 and len(readings) > 10, (len(cases), len(readings))
    conn = connect(db)
    try:
        stored = conn.execute("SELECT description, id, status FROM cases WHERE description LIKE 'kill-%'").fetchall()
        times = [r[0] for r in conn.execute("SELECT t FROM observation WHERE datastream = ?", (gauge,))]
        runs = conn.execute("SELECT value FROM settings WHERE key = 'jobs.sweep.runs'").fetchone()
    finally:
        conn.close()
    by_key: dict[str, list[int]] = {}
    for description, case_id, _ in stored:
        by_key.setdefault(description, []).append(case_id)
    assert all(len(ids) == 1 for ids in by_key.values()), "a request stored twice"
    assert {k: ids[0] for k, ids in by_key.items() if k in cases} == cases, "an acknowledged case lost or moved"
    status = {case_id: s for _, case_id, s in stored}
    assert all(status[c] != "reported" for c in registered), "an acknowledged registration lost"
    assert readings <= set(times) and len(times) == len(set(times)), "a reading lost or stored twice"
    minutes = int(time.time() // 60) - first_minute + 1
    assert runs is None or int(runs[0]) <= minutes, f"{runs[0]} sweeps in {minutes} minute(s)"
    verify = subprocess.run([sys.executable, "-m", "cityops", "history", "verify", "--db", db], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    print(f"{len(cases)} cases, {len(registered)} registrations, {len(readings)} readings acknowledged; "
          f"{KILLS} kill -9s; all present once")
