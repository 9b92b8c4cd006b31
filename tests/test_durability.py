"""kill -9 of a real server during a burst of writes: no acknowledged write is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from harness import cityops, free_port, wait_ready  # noqa: E402
from stores import connect, new_db


def write_processes(db: Path) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"cityops write-process --db {db} "], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


def start(db: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "cityops", "serve", "--db", str(db), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.timeout(500)
def test_kill_9_loses_no_acknowledged_write(tmp_path: Path) -> None:
    db = new_db(tmp_path, "crash.db")
    cityops("init", "--db", str(db))
    cityops("user", "create", "burst", "--role", "collector", "--password-stdin", "--db", str(db),
            stdin="burst-password\n")
    token = cityops("token", "burst", "--db", str(db))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start(db, port)
    wait_ready(url, timeout=180)
    acknowledged: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(n: int) -> None:
        with httpx.Client(timeout=5, headers={"Authorization": f"Bearer {token}"}) as client:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    r = client.post(url + "/api/v1/cases", json={
                        "matter_code": "06010", "description": f"burst {n}-{i}",
                        "lon": 114.3055, "lat": 30.5928})
                except httpx.HTTPError:
                    return  # the server died mid-request: that write was never acknowledged
                if r.status_code == 201:
                    with lock:
                        acknowledged.append(r.json()["id"])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    # Count writes, not seconds: on a busy machine 2.5 s may acknowledge almost nothing.
    deadline = time.monotonic() + 150
    while len(acknowledged) < 120 and time.monotonic() < deadline and any(t.is_alive() for t in threads):
        time.sleep(0.05)
    children = write_processes(db)
    assert len(children) == 1, "cityops serve runs its writes in one write process"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stop.set()
    for t in threads:
        t.join()
    assert len(acknowledged) >= 120, "the burst was too small to mean anything"
    deadline = time.monotonic() + 30
    while write_processes(db) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not write_processes(db), "the write process outlived its killed server"

    proc = start(db, port)  # restart on the same file: recovery replays the WAL
    try:
        wait_ready(url, timeout=180)
        with connect(db) as conn:
            stored = {row[0] for row in conn.execute("SELECT id FROM cases")}
        lost = set(acknowledged) - stored
        assert not lost, f"{len(lost)} acknowledged writes lost"
        out = subprocess.run([sys.executable, "-m", "cityops", "history", "verify", "--db", str(db)],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
    finally:
        proc.terminate()
        proc.wait()


def test_loop_writer_answers_its_batch_when_cancelled_mid_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from cityops.store import writer
    from cityops.store.sqlite import SqliteRepo, SqliteStore

    store = SqliteStore(new_db(tmp_path, "w.db"))
    original = writer.finish

    def slow_finish(conn: Any, outcomes: Any) -> Any:
        time.sleep(0.3)  # the COMMIT waits for the disk
        return original(conn, outcomes)

    monkeypatch.setattr(writer, "finish", slow_finish)

    async def main() -> None:
        lw = writer.LoopWriter(store.connect, SqliteRepo)
        call = asyncio.ensure_future(lw.arun(lambda repo: repo.set_setting("k", "v")))
        await asyncio.sleep(0.05)
        assert lw._flusher is not None
        lw._flusher.cancel()  # e.g. the server shutting down
        with pytest.raises(asyncio.CancelledError):  # answered, not left waiting forever
            await asyncio.wait_for(call, timeout=5)
        lw.close()

    asyncio.run(main())
    store.close()


@pytest.mark.timeout(400)
def test_a_killed_write_process_is_replaced_while_serving(tmp_path: Path) -> None:
    db = new_db(tmp_path, "child.db")
    cityops("init", "--db", str(db))
    cityops("user", "create", "c", "--role", "collector", "--password-stdin", "--db", str(db), stdin="c-password-1\n")
    token = cityops("token", "c", "--db", str(db))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start(db, port)
    try:
        wait_ready(url, timeout=180)
        [first] = write_processes(db)
        os.kill(first, signal.SIGKILL)
        body = {"matter_code": "06010", "description": "after the crash", "lon": 114.3055, "lat": 30.5928}
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "after-crash"}
        statuses = []
        for _ in range(3):  # a write caught in flight is told 503 and retried; the next one starts a new child
            r = httpx.post(url + "/api/v1/cases", json=body, headers=headers, timeout=60)
            statuses.append(r.status_code)
            if r.status_code == 201:
                break
            assert r.status_code == 503 and r.json()["error"] == "writer_unavailable", r.text
            assert r.headers["retry-after"] == "1"
        assert statuses[-1] == 201, statuses
        assert write_processes(db) and write_processes(db) != [first]
        with connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM cases").fetchone()[0] == 1
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert not write_processes(db), "the write process outlived its server's shutdown"
