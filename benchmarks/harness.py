"""Shared benchmark harness: a real `cityops serve` on a free port, and an HTTP load generator.

The load comes from `wrk` (Debian package `wrk`) when installed, since a C load generator
leaves the server's core to the server; otherwise from an asyncio client (slower, noted).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

Row = tuple[str, float, str, float, str]  # name, value, unit, baseline value, baseline unit


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cityops(*args: str, stdin: str | None = None) -> str:
    out = subprocess.run([sys.executable, "-m", "cityops", *args], input=stdin, capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


@dataclass
class Server:
    url: str
    db: str  # a SQLite file's path or a postgresql:// URL
    token: str
    proc: subprocess.Popen[bytes]
    alive_s: float = float("nan")  # from the process's start to its first /healthz 200
    ready_s: float = float("nan")  # ... to its first /readyz 200 (writes can succeed)


def fresh_postgres(name: str) -> str:
    """A new, empty PostgreSQL database on $CITYOPS_BENCH_PG (default the local server)."""
    import psycopg

    server = os.environ.get("CITYOPS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return f"{server}/{name}"


def count(db: str, sql: str) -> int:
    """One number from the database, bypassing the server (either store)."""
    from cityops.store.dialect import PgConnection, is_postgres

    conn = PgConnection(db) if is_postgres(db) else sqlite3.connect(db)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def prepared_db(db: str) -> str:
    """`db` made, with an admin user `bench`; its token."""
    cityops("init", "--db", db)
    cityops("user", "create", "bench", "--role", "admin", "--password-stdin", "--db", db, stdin="bench-password\n")
    return cityops("token", "bench", "--db", db)


def serve(db: str, token: str) -> Server:
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "cityops", "serve", "--db", db, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        alive = wait_ready(url, path="/healthz", every=0.02)
        ready = wait_ready(url, every=0.05)
    except BaseException:
        proc.terminate()
        raise
    return Server(url, db, token, proc, alive - started, ready - started)


def stop(server: Server) -> None:
    server.proc.terminate()
    server.proc.wait(timeout=20)


@contextmanager
def running_server(workdir: Path | None = None, db: str | None = None) -> Iterator[Server]:
    """Start `cityops serve` over a fresh database (a file in `workdir`, or `db`) with an
    admin user and token."""
    if db is None:
        db = str(Path(workdir or tempfile.mkdtemp(prefix="cityops-bench-")) / "bench.db")
    server = serve(db, prepared_db(db))
    try:
        yield server
    finally:
        stop(server)


def wait_ready(url: str, timeout: float = 60, path: str = "/readyz", every: float = 0.2) -> float:
    """Wait until `path` answers 200 (/readyz: writes can succeed); when it did (monotonic)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + path, timeout=1).status_code == 200:
                return time.monotonic()
        except httpx.HTTPError:
            pass
        time.sleep(every)
    raise RuntimeError(f"server at {url} did not answer within {timeout} s")


@dataclass
class Load:
    rps: float
    p99_ms: float
    ok: int  # requests answered with the expected status
    errors: int
    tool: str


_LUA = """
wrk.method = "POST"
wrk.body = {body}
{headers}
local ok, bad = 0, 0
function response(status, headers, body)
  if status == {status} then ok = ok + 1 else bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %f\\n", summary.requests, summary.errors.status, latency:percentile(99)))
end
"""


def post_load(url: str, body: bytes, headers: dict[str, str], status: int, seconds: float = 8,
              connections: int = 16) -> Load:
    """POST the same body for `seconds` over `connections` connections."""
    if shutil.which("wrk"):
        return _wrk(url, body, headers, status, seconds, connections)
    return asyncio.run(_asyncio_load(url, body, headers, status, seconds, connections))


def _lua_str(data: bytes) -> str:
    return '"' + "".join(f"\\{b}" for b in data) + '"'


def _wrk(url: str, body: bytes, headers: dict[str, str], status: int, seconds: float, conns: int) -> Load:
    lines = "\n".join(f"wrk.headers[{_lua_str(k.encode())}] = {_lua_str(v.encode())}" for k, v in headers.items())
    return run_wrk(_LUA.format(body=_lua_str(body), headers=lines, status=status), url, conns, seconds)


def run_wrk(script: str, url: str, conns: int, seconds: float) -> Load:
    """Run wrk with a Lua script whose `done` writes `RESULT <requests> <bad> <p99 µs>`."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", f.name, url],
            capture_output=True, text=True, check=True, timeout=seconds + 60,
        ).stdout
    finally:
        os.unlink(f.name)
    m = re.search(r"RESULT (\d+) (\d+) ([\d.]+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m or not rps:
        raise RuntimeError("could not read wrk's output:\n" + out)
    total, bad = int(m.group(1)), int(m.group(2))
    return Load(float(rps.group(1)), float(m.group(3)) / 1000, total - bad, bad, "wrk")


async def _asyncio_load(url: str, body: bytes, headers: dict[str, str], status: int, seconds: float,
                        conns: int) -> Load:
    import httpx

    latencies: list[float] = []
    counts = {"ok": 0, "bad": 0}
    stop = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        while time.monotonic() < stop:
            t = time.perf_counter()
            r = await client.post(url, content=body, headers=headers)
            latencies.append(time.perf_counter() - t)
            counts["ok" if r.status_code == status else "bad"] += 1

    limits = httpx.Limits(max_connections=conns)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        started = time.monotonic()
        await asyncio.gather(*(worker(client) for _ in range(conns)))
        elapsed = time.monotonic() - started
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else float("nan")
    return Load((counts["ok"] + counts["bad"]) / elapsed, p99, counts["ok"], counts["bad"], "asyncio-httpx")


def alternate(baseline: Callable[[], Load], subject: Callable[[], Load], rounds: int = 3) -> tuple[Load, Load, int]:
    """Run baseline and subject in turns; returns the median round's pair (by ratio) and the
    number of subject requests acknowledged over all rounds. Turns and a median make the
    figure steady on a noisy machine."""
    pairs = []
    for _ in range(rounds):
        b = baseline()
        s = subject()
        pairs.append((s.rps / b.rps, b, s))
    _, base, sub = sorted(pairs, key=lambda p: p[0])[len(pairs) // 2]
    return base, sub, sum(s.ok for _, _, s in pairs)


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """The fastest of `repeat` timed calls, in seconds: the least disturbed by the machine."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def print_rows(rows: list[Row]) -> None:
    for name, value, unit, base, base_unit in rows:
        ratio = value / base if base else float("nan")
        print(f"{name}: {value:,.1f} {unit} (baseline {base:,.1f} {base_unit}, ratio {ratio:.2f})")
