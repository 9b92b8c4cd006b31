"""A trickle into the segment store (issue #20): one reading a minute per datastream, stored in
7-minute batches (7 readings per datastream each), straight into `insert_columns`, one
connection and one transaction per batch. Three ways in the same run, each on a fresh store:

- raw: the batch written as new segments (its own encoding and COPY/executemany), no duplicate
  check and no merging: the floor;
- before: main's rule until issue #20, a small append merged into its datastream's last segment
  while that stays at most SEGMENT_MAX (4,096) readings long, so each append rewrites it whole;
- after: today's rule (an append under SMALL_APPEND readings goes into a tail of at most
  SMALL_TAIL; a larger one, such as these 7, is a segment of its own), plus compaction
  (`compact_all`, one transaction per 1,000 datastreams) after every `--compact-every` batches
  and once at the end; its time is included (and shown on its own line).

Lines: readings/s of each beside raw's, and readings written per reading stored (a merge
rewrites the whole tail segment; compaction rewrites what it merges), counted from the segments
each batch touched (outside the timer).

`python benchmarks/run.py trickle [--scale 0.1] [--minutes 1440] [--db sqlite|postgresql] [--modes raw,before,after]`
(14,000 datastreams × scale; PostgreSQL on $CITYOPS_BENCH_PG, default the local server).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

Row = tuple[str, float, str, float, str]
STREAMS = 14_000
BATCH_MINUTES = 7
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def _store(db: str, name: str) -> Any:
    from cityops.store.sqlite import SqliteStore

    if db == "postgresql":
        from harness import fresh_postgres

        return SqliteStore(fresh_postgres(f"cityops_bench_trickle_{name}"))
    return SqliteStore(str(Path(tempfile.mkdtemp(prefix="cityops-bench-trickle-")) / f"{name}.db"))


def _batches(streams: int, minutes: int) -> list[Any]:
    from cityops.detect.columns import Columns

    rng = np.random.default_rng(7)
    out = []
    ids = np.arange(1, streams + 1, dtype=np.int64)
    for start in range(0, minutes, BATCH_MINUTES):
        m = np.arange(start, min(start + BATCH_MINUTES, minutes), dtype=np.int64)
        ds = np.repeat(ids, len(m))
        t = T0 + np.tile(m, streams) * 60_000
        out.append(Columns.of(ds, t, np.round(rng.uniform(0, 15, len(ds)), 1)))
    return out


def _touched(conn: Any, since_ms: int) -> int:
    """Readings in the segments a batch wrote: each was written (new or rewritten) by it."""
    from cityops.sensing.store import in_both  # landed (observation_recent) or settled

    return sum(int(r[0]) for r in conn.execute(*in_both("SELECT coalesce(sum(n), 0) FROM {seg} WHERE t1 >= ?",
                                                        (since_ms,))).fetchall())


def _run(store: Any, batches: list[Any], mode: str, compact_every: int, tail: int | None) -> dict[str, float]:
    from cityops.sensing import store as segs
    from cityops.sensing.compact import compact_all
    from cityops.store.dialect import copy_rows

    conn = store.connect()
    insert_s = compact_s = vacuum_s = 0.0
    # A server whose autovacuum is off (as the development one) keeps every merge's dead row
    # version in the (datastream, t1) index; VACUUM stands in for autovacuum, timed apart.
    vacuum = store.dialect.postgres and str(conn.execute("SHOW autovacuum").fetchone()[0]) == "off"
    written = stored = 0
    rule = mock.patch.object(segs, "SMALL_TAIL", segs.SEGMENT_MAX if mode == "before" else tail or segs.SMALL_TAIL)
    with rule:
        for k, cols in enumerate(batches):
            start = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE" if not store.dialect.postgres else "BEGIN")
            if mode == "raw":
                copy_rows(conn, "observation_segment", segs._SEGMENT_COLUMNS, segs.encode_segments(cols))
                stored += len(cols)
            else:
                stored += segs.insert_columns(conn, cols)
            conn.execute("COMMIT")
            insert_s += time.perf_counter() - start
            written += _touched(conn, int(cols.t.min()))
            if mode == "after" and ((k + 1) % compact_every == 0 or k == len(batches) - 1):
                start = time.perf_counter()
                written += compact_all(store).readings
                compact_s += time.perf_counter() - start
            if vacuum and (k + 1) % compact_every == 0:
                start = time.perf_counter()
                conn.execute("VACUUM observation_segment")
                vacuum_s += time.perf_counter() - start
        segments = int(conn.execute("SELECT count(*) FROM observation_segment").fetchone()[0])
        total = int(conn.execute("SELECT coalesce(sum(n), 0) FROM observation_segment").fetchone()[0])
    conn.close()
    if stored != total or total != sum(len(c) for c in batches):
        raise RuntimeError(f"{mode}: stored {stored}, segments hold {total} of {sum(len(c) for c in batches)}")
    return {"insert_s": insert_s, "compact_s": compact_s, "vacuum_s": vacuum_s, "written": written, "stored": stored,
            "segments": segments}


def run(options: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="run.py trickle")
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--minutes", type=int, default=1440)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--compact-every", type=int, default=7, help="batches between compaction passes")
    parser.add_argument("--modes", default="raw,before,after")
    parser.add_argument("--small-tail", type=int, default=None, help="try another SMALL_TAIL in `after`")
    args = parser.parse_args(options or [])
    streams = max(1, round(STREAMS * args.scale))
    batches = _batches(streams, args.minutes)
    got = {}
    for mode in args.modes.split(","):
        store = _store(args.db, mode)
        try:
            got[mode] = _run(store, batches, mode, args.compact_every, args.small_tail)
        finally:
            store.close()
        r = got[mode]
        print(f"  {mode}: {r['stored']:,} readings in {r['insert_s']:.1f} s (+ compaction {r['compact_s']:.1f} s),"
              f" {r['written'] / r['stored']:.1f} written per reading, {r['segments']:,} segments"
              + (f"; VACUUM every {args.compact_every} batches (autovacuum is off) {r['vacuum_s']:.1f} s, not counted"
                 if r["vacuum_s"] else ""), flush=True)
    what = f"{streams:,} datastreams × {args.minutes} min, {BATCH_MINUTES}-min batches, {args.db}"
    raw = got.get("raw")
    rows: list[Row] = []
    for mode in ("before", "after"):
        if mode not in got:
            continue
        r = got[mode]
        took = r["insert_s"] + r["compact_s"]
        rows.append((f"trickle {mode} ({what})", r["stored"] / took, "readings/s",
                     raw["stored"] / raw["insert_s"] if raw else float("nan"), "readings/s raw new segments, no merge"))
        rows.append((f"trickle {mode}: written per stored reading", r["written"] / r["stored"], "readings",
                     raw["written"] / raw["stored"] if raw else float("nan"), "raw"))
    if "after" in got:
        rows.append(("trickle after: compaction share of its time", got["after"]["compact_s"], "s",
                     got["after"]["insert_s"], "s inserting"))
    return rows


if __name__ == "__main__":
    import sys

    from harness import print_rows

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    print_rows(run(sys.argv[1:]))
