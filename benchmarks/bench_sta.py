"""SensorThings where clients start (issue 24), each beside a baseline in the same run, against
a real `cityops serve` (write process, synchronous=FULL):

- sta_post_one: single `POST /sta/v1.1/Observations` (one reading each, every one a new
  (datastream, phenomenonTime), 201 after the COMMIT) from 8 connections, against the trivial
  `POST /api/v1/echo` (token check and JSON parse, nothing stored) from 8 connections.
- sta_expand_100: `Datastreams?$expand=Observations($top=10)` over 100 Datastreams that hold 10
  Observations each (p50 of 21), against reading the same 1,000 Observations in one plain query
  (`Observations?$filter=…&$top=1000`, p50 of 21), the two timed in turns.

Run alone: `PYTHONPATH=src python benchmarks/bench_sta.py`.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from harness import Load, post_load, run_wrk, running_server

Row = tuple[str, float, str, float, str]
CLIENTS = 8
SECONDS = 4
ROUNDS = 3
STREAMS = 100
PER_STREAM = 10

_LUA = """
local n = 0
local first, streams, base = {first}, {streams}, {base}
request = function()
  n = n + 1
  local body = string.format('{{"Datastream": {{"@iot.id": %d}}, "phenomenonTime": "%s", "result": %d}}',
    first + n % streams, os.date("!%Y-%m-%dT%H:%M:%SZ", base + n), n % 7)
  return wrk.format("POST", "/sta/v1.1/Observations", {{["Authorization"] = "Bearer {token}",
    ["Content-Type"] = "application/json"}}, body)
end
local ok, bad = 0, 0
function response(status, headers, body)
  if status == 201 then ok = ok + 1 else bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %f\\n", summary.requests, summary.errors.status, latency:percentile(99)))
end
"""


def _post_one(url: str, token: str, first: int, base_s: int) -> Load:
    """Single Observations, each a new key (datastream cycles, time steps a second)."""
    if not shutil.which("wrk"):
        return asyncio.run(_post_one_asyncio(url, token, first, base_s))
    return run_wrk(_LUA.format(first=first, streams=STREAMS, base=base_s, token=token), url, CLIENTS, SECONDS)


async def _post_one_asyncio(url: str, token: str, first: int, base_s: int) -> Load:
    import httpx

    counts = {"ok": 0, "bad": 0, "n": 0}
    stop = time.monotonic() + SECONDS
    headers = {"Authorization": f"Bearer {token}"}

    async def worker(client: httpx.AsyncClient) -> None:
        while time.monotonic() < stop:
            counts["n"] += 1
            n = counts["n"]
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base_s + n))
            r = await client.post(url + "/sta/v1.1/Observations", headers=headers, json={
                "Datastream": {"@iot.id": first + n % STREAMS}, "phenomenonTime": when, "result": n % 7})
            counts["ok" if r.status_code == 201 else "bad"] += 1

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=CLIENTS), timeout=30) as client:
        started = time.monotonic()
        await asyncio.gather(*(worker(client) for _ in range(CLIENTS)))
        elapsed = time.monotonic() - started
    return Load((counts["ok"] + counts["bad"]) / elapsed, float("nan"), counts["ok"], counts["bad"], "asyncio-httpx")


def _timed_ms(client: object, url: str, params: dict[str, str], expect: int) -> float:
    start = time.perf_counter()
    r = client.get(url, params=params)  # type: ignore[attr-defined]
    elapsed = (time.perf_counter() - start) * 1000
    r.raise_for_status()
    body = r.json()
    got = sum(len(v.get("Observations", [])) for v in body["value"]) if "$expand" in params else len(body["value"])
    if got != expect:
        raise RuntimeError(f"{url} {params} gave {got} observations, not {expect}")
    return elapsed


def _p50_pair(client: object, a: tuple[str, dict[str, str]], b: tuple[str, dict[str, str]], expect: int,
              repeat: int = 21) -> tuple[float, float]:
    """Medians of `a` and `b` timed in turns (a, b, a, b, …): both see the same machine."""
    ta, tb = [], []
    for _ in range(repeat):
        ta.append(_timed_ms(client, *a, expect))
        tb.append(_timed_ms(client, *b, expect))
    return statistics.median(ta), statistics.median(tb)


def _setup(db: Path, base_ms: int) -> tuple[int, int]:
    """Two sets of 100 datastreams: one posted into, one with 10 observations each (expand)."""
    from cityops.core import open_platform
    from cityops.detect.columns import Columns
    from cityops.sensing.ingest import ingest_columns
    from cityops.sensing.registry import register_specs_op
    from cityops.sensing.store import DatastreamSpec

    p = open_platform(db)
    specs = [DatastreamSpec(f"bench {i}", "", "other", 114.3, 30.6, ("bench sensor", ""), ("depth", ""), {})
             for i in range(2 * STREAMS)]
    ids = p.store.write(lambda repo: register_specs_op(repo, p, specs))
    posted, expanded = ids[:STREAMS], ids[STREAMS:]
    ds = [d for d in expanded for _ in range(PER_STREAM)]
    t = [base_ms + 300_000 * k for _ in expanded for k in range(PER_STREAM)]
    ingest_columns(p, Columns.of(ds, t, [float(k % 10) for k in range(len(ds))]))
    p.close()
    if posted != list(range(posted[0], posted[0] + STREAMS)) or expanded != list(range(expanded[0], expanded[-1] + 1)):
        raise RuntimeError("expected consecutive datastream ids")
    return posted[0], expanded[0]


def run() -> list[Row]:
    import httpx

    tmp = Path(tempfile.mkdtemp(prefix="cityops-bench-sta-"))
    base_ms = int(time.time() * 1000) - 30 * 86_400_000
    with running_server(tmp) as server:
        first_posted, first_expanded = _setup(server.db, base_ms)
        echo = server.url + "/api/v1/echo"
        headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
        with httpx.Client(timeout=60) as warm:  # the write process starts on the first write
            warm.post(server.url + "/sta/v1.1/Observations", headers=headers, json={
                "Datastream": {"@iot.id": first_posted}, "phenomenonTime": "2020-01-01T00:00:00Z", "result": 0})
        pairs = []
        for k in range(ROUNDS):
            base = post_load(echo, b'{"probe": 1}', headers, 201, SECONDS, CLIENTS)
            one = _post_one(server.url, server.token, first_posted, base_ms // 1000 + k * 1_000_000)
            if one.errors:
                raise RuntimeError(f"{one.errors} single POSTs were not answered 201")
            pairs.append((one.rps / base.rps, base, one))
        _, base, one = sorted(pairs, key=lambda p: p[0])[len(pairs) // 2]

        last = first_expanded + STREAMS - 1
        with httpx.Client(timeout=60, base_url=server.url) as c:
            expand = {"$filter": f"id ge {first_expanded} and id le {last}", "$top": str(STREAMS),
                      "$expand": f"Observations($top={PER_STREAM})"}
            plain = {"$filter": f"Datastream/@iot.id ge {first_expanded} and Datastream/@iot.id le {last}",
                     "$top": str(STREAMS * PER_STREAM)}
            n = STREAMS * PER_STREAM
            _p50_pair(c, ("/sta/v1.1/Datastreams", expand), ("/sta/v1.1/Observations", plain), n, 2)  # warm up
            expand_ms, plain_ms = _p50_pair(c, ("/sta/v1.1/Datastreams", expand), ("/sta/v1.1/Observations", plain), n)
    return [("sta_post_one", one.rps, "obs/s", base.rps, "req/s trivial POST"),
            ("sta_expand_100", expand_ms, "ms", plain_ms, "ms one query")]


if __name__ == "__main__":
    from harness import print_rows

    print_rows(run())
