"""Segment compaction: a datastream's run of small segments becomes one long segment.

A trickle (one reading a minute, posted every few minutes) is appended to its datastream's tail
segment only while that stays short (store.SMALL_TAIL), so an append rewrites at most a few
hundred readings; the short segments it leaves behind are merged here, once there are enough of
them (COMPACT_FULL readings or MANY_SMALL segments), into segments of at most SEGMENT_MAX.
A merged segment holds at least COMPACT_FULL readings and is not small any more, so a reading
is rewritten by compaction once (a run's last, partial chunk only when MANY_SMALL late segments
pile up). Each call works in its caller's transaction on a chunk of datastreams it has locked:
interrupted, it leaves the store as before; re-run, it finds nothing left to merge.
"""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from cityops.detect.columns import I64, Columns
from cityops.sensing.store import SEGMENT_MAX, decode_segments, encode_segments

COMPACT_FULL = SEGMENT_MAX // 2  # a segment shorter than this is small; a merge makes one at least this long
MANY_SMALL = 16  # … or merges a run's tail of this many small segments, however short (late readings)
CHUNK = 1000  # datastreams per transaction


@dataclass(frozen=True)
class Compacted:
    datastreams: int  # datastreams looked at
    merged: int  # segments merged away (segments before − after)
    readings: int  # readings rewritten
    next_after: int | None  # the cursor for the next chunk: None when the last one was done

    def __add__(self, other: Compacted) -> Compacted:
        return Compacted(self.datastreams + other.datastreams, self.merged + other.merged,
                         self.readings + other.readings, other.next_after)


def plan(ds: I64, t0: I64, seg: I64, n: I64) -> I64:
    """Segments (one datastream's, or several, in any order) → the merge each joins (-1: none).

    Runs are a datastream's small segments consecutive in time order (a long one breaks a run);
    each run is packed, in time order, into chunks of at most SEGMENT_MAX readings. A chunk is
    merged when it holds at least COMPACT_FULL readings (every chunk but a run's last does) or
    MANY_SMALL segments. One step per segment, not per reading."""
    order = np.lexsort((seg, t0, ds))
    out = np.full(len(ds), -1, np.int64)
    group = 0
    members: list[int] = []
    total = 0
    prev_ds = None

    def close() -> None:
        nonlocal group
        if len(members) > 1 and (total >= COMPACT_FULL or len(members) >= MANY_SMALL):
            out[members] = group
            group += 1

    for i, d, k in zip(order.tolist(), ds[order].tolist(), n[order].tolist(), strict=True):
        if d != prev_ds or k >= COMPACT_FULL or total + k > SEGMENT_MAX:
            close()
            members, total, prev_ds = [], 0, d
        if k < COMPACT_FULL:
            members.append(i)
            total += k
    close()
    return out


def compact(conn: sqlite3.Connection, datastreams: list[int]) -> Compacted:
    """Merge these datastreams' small segments (the caller locks them and owns the transaction)."""
    if not datastreams:
        return Compacted(0, 0, 0, None)
    arg = orjson.dumps(sorted(set(datastreams))).decode()
    meta = np.array([tuple(r) for r in conn.execute(
        "SELECT s.id, s.datastream, s.t0, s.n FROM json_each(?) AS j JOIN observation_segment AS s"
        " INDEXED BY observation_segment_end ON s.datastream = CAST(j.value AS BIGINT)", (arg,))],
        np.int64).reshape(-1, 4)
    group = plan(meta[:, 1], meta[:, 2], meta[:, 0], meta[:, 3])
    pick = group >= 0
    if not pick.any():
        return Compacted(len(datastreams), 0, 0, None)
    ids, groups = meta[pick, 0], group[pick]
    rows = conn.execute("SELECT s.id, s.n, s.data FROM json_each(?) AS j JOIN observation_segment AS s"
                        " ON s.id = CAST(j.value AS BIGINT) ORDER BY s.id",
                        (orjson.dumps(ids.tolist()).decode(),)).fetchall()
    # Decoded with each segment's merge number in place of its datastream: sorted by (merge, t),
    # then encoded back as one segment per merge. Rows in id order and a stable sort: should a
    # key be stored twice, the first written is kept, as insert_columns would.
    by_id = dict(zip(ids.tolist(), groups.tolist(), strict=True))
    cols = decode_segments([(by_id[int(r[0])], int(r[1]), str(r[2])) for r in rows])
    first = np.r_[True, (cols.datastream[1:] != cols.datastream[:-1]) | (cols.t[1:] != cols.t[:-1])]
    merged = encode_segments(Columns(cols.datastream, cols.t, cols.result, True).take(first))
    keep = np.full(int(groups.max()) + 1, np.iinfo(np.int64).max)
    np.minimum.at(keep, groups, ids)  # each merge is written over its first segment; the rest go
    conn.executemany("UPDATE observation_segment SET t0 = ?, t1 = ?, n = ?, data = ? WHERE id = ?",
                     [(t0, t1, k, data, int(keep[g])) for g, t0, t1, k, data in merged])
    gone = np.setdiff1d(ids, keep)
    conn.execute("DELETE FROM observation_segment WHERE id IN (SELECT value FROM json_each(?))",
                 (orjson.dumps(gone.tolist()).decode(),))
    return Compacted(len(datastreams), len(gone), int(first.sum()), None)


def compact_next(repo: Any, after: int, limit: int = CHUNK) -> Compacted:
    """The next `limit` datastreams with segments after id `after`, locked and compacted in the
    caller's transaction; `next_after` says where the next chunk starts (None: all done)."""
    found = [int(r[0]) for r in repo.conn.execute(
        "SELECT DISTINCT datastream FROM observation_segment WHERE datastream > ? ORDER BY datastream LIMIT ?",
        (after, limit))]
    if not found:
        return Compacted(0, 0, 0, None)
    repo.lock("datastream", found)  # as ingest does: no writer appends to a tail being merged
    done = compact(repo.conn, found)
    return Compacted(done.datastreams, done.merged, done.readings, found[-1] if len(found) == limit else None)


POSITION = "sensing.compact_after"  # the setting that keeps the leader's place across failovers


def compact_op(repo: Any, platform: Any, after: int | None = None, limit: int = CHUNK) -> Compacted:
    """`compact_next` as a write operation (`platform.awrite`, the write process), from where
    the last chunk ended (`after` None: the place kept in the database, so a new leader goes on
    where the old one stopped), keeping the next place in the same transaction."""
    if after is None:
        after = int(repo.get_setting(POSITION) or -1)
    done = compact_next(repo, after, limit)
    repo.set_setting(POSITION, str(-1 if done.next_after is None else done.next_after))
    return done


def compact_all(store: Any, limit: int = CHUNK) -> Compacted:
    """Every datastream, one transaction per chunk of `limit` (the CLI)."""
    total = Compacted(0, 0, 0, None)
    after: int | None = -1
    while after is not None:
        total = total + store.write(functools.partial(compact_next, after=after, limit=limit))
        after = total.next_after
    return total
