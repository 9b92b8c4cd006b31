"""Readings per second end to end: Arrow IPC batches over HTTP to a real `cityops serve` →
parse → waterlogging detector → durable store (synchronous=FULL, answered after COMMIT),
against a raw batched insert of the same rows into the same store in the same run (the
rows prebuilt as sorted columns, written as the store's segments, one transaction per batch).

Run alone: `PYTHONPATH=src python benchmarks/bench_ingest.py`.
"""

from __future__ import annotations

import io
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from harness import running_server

BATCH = 100_000
BATCHES = 10
STREAMS = 1000
Row = tuple[str, float, str, float, str]


def _batches(first_ds: int, base_ms: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Unique (datastream, time) readings: 5-minute steps per datastream, depths 0-15 cm
    (below every threshold: the detector runs over all of them and finds nothing)."""
    rng = np.random.default_rng(3)
    out = []
    per = BATCH // STREAMS
    for b in range(BATCHES):
        ds = np.repeat(np.arange(first_ds, first_ds + STREAMS, dtype=np.int64), per)
        step = np.tile(np.arange(per, dtype=np.int64), STREAMS) + b * per
        t = base_ms + step * 300_000
        order = rng.permutation(BATCH)  # a gateway's batch comes in any order
        out.append((ds[order], t[order], np.round(rng.uniform(0, 15, BATCH), 1)))
    return out


def arrow_body(ds: np.ndarray, t: np.ndarray, r: np.ndarray) -> bytes:
    import pyarrow as pa

    table = pa.table({"datastream": ds, "phenomenonTime": pa.array(t, pa.timestamp("ms", tz="UTC")), "result": r})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue()


def _raw_insert(db: Path | str, batches: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> float:
    """Readings/s of the bare insert into the same store: the rows prebuilt as sorted columns
    (outside the timer), then per batch one transaction that writes them as the store's
    segments (its own encoding and statement: executemany in SQLite, COPY in PostgreSQL) with
    no parsing, checks or detectors. SQLite: a new file of the same schema; PostgreSQL (a URL):
    a scratch table made like observation_segment (its indexes too) in the same database."""
    from cityops.detect.columns import Columns
    from cityops.sensing.store import _SEGMENT_COLUMNS, encode_segments
    from cityops.store.dialect import copy_rows, is_postgres
    from cityops.store.sqlite import SqliteStore

    pg = is_postgres(str(db))
    table = "bench_raw_segment" if pg else "observation_segment"
    store = SqliteStore(db)  # the same schema, pragmas and durability as the server's store
    conn = store.connect()
    if pg:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (LIKE observation_segment INCLUDING ALL)")
        conn.commit()
    cols = [Columns.of(*b).sorted() for b in batches]
    start = time.perf_counter()
    for batch in cols:
        conn.execute("BEGIN IMMEDIATE")
        copy_rows(conn, table, _SEGMENT_COLUMNS, encode_segments(batch))  # as the store writes them
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    if pg:
        conn.execute(f"DROP TABLE {table}")
        conn.commit()
    conn.close()
    store.close()
    return sum(len(b[0]) for b in batches) / elapsed


def raw_copy(db: str, batches: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> float:
    """Readings/s of PostgreSQL's own fastest way in: binary COPY of the same rows, prebuilt as
    one buffer per batch from the columns (outside the timer), one committed transaction per
    batch, into a plain (datastream, t, result) table of the same database."""
    import psycopg

    from cityops.store.dialect import libpq_url

    header = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") * 2
    row = np.dtype([("n", ">i2"), ("l1", ">i4"), ("ds", ">i8"), ("l2", ">i4"), ("t", ">i8"), ("l3", ">i4"), ("r", ">f8")])
    buffers = []
    for ds, t, r in batches:
        a = np.zeros(len(ds), row)
        a["n"], a["l1"], a["l2"], a["l3"] = 3, 8, 8, 8
        a["ds"], a["t"], a["r"] = ds, t, r
        buffers.append(header + a.tobytes() + b"\xff\xff")
    with psycopg.connect(libpq_url(db), autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_raw")
        conn.execute("CREATE TABLE bench_raw (datastream BIGINT, t BIGINT, result DOUBLE PRECISION)")
        start = time.perf_counter()
        for buf in buffers:
            with conn.transaction(), conn.cursor().copy("COPY bench_raw FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(buf)
        elapsed = time.perf_counter() - start
        conn.execute("DROP TABLE bench_raw")
    return sum(len(b[0]) for b in batches) / elapsed


def run(db: str | None = None) -> list[Row]:
    import httpx

    from cityops.core import open_platform
    from cityops.sensing.registry import register_gauges_op, register_specs_op
    from cityops.sensing.store import DatastreamSpec

    tmp = Path(tempfile.mkdtemp(prefix="cityops-bench-ingest-"))
    base_ms = int(time.time() * 1000) - 400 * 86_400_000
    with running_server(tmp, db=db) as server:
        p = open_platform(server.db)
        gauges = p.store.write(lambda repo: register_gauges_op(repo, p))
        extra = [DatastreamSpec(f"bench {i}", "", "other", 114.3, 30.6, ("bench", ""), ("depth", ""), {})
                 for i in range(STREAMS - len(gauges))]
        p.store.write(lambda repo: register_specs_op(repo, p, extra))
        p.close()
        batches = _batches(min(gauges), base_ms)
        bodies = [arrow_body(*b) for b in batches]
        headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/vnd.apache.arrow.stream"}
        with httpx.Client(timeout=120) as warm:  # one small batch first: the write process starts
            warm.post(server.url + "/api/v1/observations", content=arrow_body(
                batches[0][0][:10], batches[0][1][:10] - 86_400_000, batches[0][2][:10]), headers=headers)
        raw_before = raw_copy(db, batches) if db else _raw_insert(tmp / "raw1.db", batches)

        # One client per sender, made before the clock starts (a client's setup, its TLS
        # context included, costs more than a batch's upload).
        clients = [httpx.Client(timeout=120) for _ in range(2)]

        def send(k: int) -> int:
            r = clients[k % 2].post(server.url + "/api/v1/observations", content=bodies[k], headers=headers)
            r.raise_for_status()
            return int(r.json()["stored"])

        start = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:  # two in flight: one parses while one commits
            stored = sum(pool.map(send, range(len(bodies))))
        elapsed = time.perf_counter() - start
        for client in clients:
            client.close()
        raw_after = raw_copy(db, batches) if db else _raw_insert(tmp / "raw2.db", batches)
    if stored != BATCH * BATCHES:
        raise RuntimeError(f"stored {stored} of {BATCH * BATCHES} readings")
    raw = (raw_before + raw_after) / 2
    name = f"ingest end to end (Arrow over HTTP, {BATCHES}×{BATCH:,} readings)"
    baseline = "readings/s raw binary COPY of the same rows" if db else "readings/s raw batched insert of the same rows (segments)"
    return [(name, stored / elapsed, "readings/s", raw, baseline)]


if __name__ == "__main__":
    from harness import print_rows

    print_rows(run())
