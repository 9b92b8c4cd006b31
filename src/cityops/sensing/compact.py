"""Segment compaction: a datastream's run of small segments becomes fewer, longer segments.

A batch of readings becomes one new segment per datastream; only a trickle (an append of a
few readings: MQTT, single STA posts) goes into the tail segment, and only while that stays
short (store.SMALL_APPEND, store.SMALL_TAIL), so no append rewrites more than a few hundred
readings. The short segments left behind are merged here by size tier, as a log-structured
store does: MANY_SMALL consecutive segments of one tier (under 16 readings, under 256, …)
become one segment of the next tier, and a run of small segments holding COMPACT_FULL readings
becomes one that is not small any more. A reading is thus rewritten about once per tier (three
or four times from a 7-reading append to a full segment), not once per append as a growing
tail would. A run broken into many tiers (late readings between regular ones) is merged whole
once it holds 2 × MANY_SMALL segments, so no datastream keeps an unbounded number of them.
Each call works in its caller's transaction on a chunk of datastreams it has locked:
interrupted, it leaves the store as before; re-run, it finds nothing left to merge.

Before that, new segments land in `observation_recent` (store.RECENT): a batch of every
datastream then touches only that small table's index, not every leaf of the big one. When it
holds RECENT_MAX segments, `settle` merges each datastream's recent segments (packed in time
order up to SEGMENT_MAX readings) into `observation_segment` and empties it, in one step.
"""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from cityops.detect.columns import I64, Columns
from cityops.sensing.store import (
    _SEGMENT_COLUMNS,
    RECENT,
    SEGMENT_MAX,
    SETTLED,
    decode_segments,
    encode_segments,
)
from cityops.store.dialect import copy_rows, dialect_of_conn
from cityops.store.sqlite import in_stripes, stripe_sql
from cityops.store.txmemo import PerConnection

COMPACT_FULL = SEGMENT_MAX // 2  # a segment shorter than this is small; a merge makes one at least this long
MANY_SMALL = 16  # … or merges a run's tail of this many small segments, however short (late readings)
CHUNK = 1000  # datastreams per transaction
# Recent segments settled at once: a city's 14,000 datastreams in 7-minute batches settle every
# 7 batches (a tenth of a second per batch to land, about half a second to settle).
RECENT_MAX = 100_000


@dataclass(frozen=True)
class Compacted:
    datastreams: int  # datastreams looked at
    merged: int  # segments merged away (segments before − after)
    readings: int  # readings rewritten
    next_after: int | None  # the cursor for the next chunk: None when the last one was done

    def __add__(self, other: Compacted) -> Compacted:
        return Compacted(self.datastreams + other.datastreams, self.merged + other.merged,
                         self.readings + other.readings, other.next_after)


def tier(n: int) -> int:
    """A segment's size tier: 0 below MANY_SMALL readings, 1 below MANY_SMALL², …"""
    k = 0
    while n >= MANY_SMALL:
        n //= MANY_SMALL
        k += 1
    return k


def plan(ds: I64, t0: I64, seg: I64, n: I64) -> I64:
    """Segments (one datastream's, or several, in any order) → the merge each joins (-1: none).

    Runs are a datastream's small segments consecutive in time order (a long one breaks a run).
    Within a run, consecutive segments of one tier are grouped, in time order, up to MANY_SMALL
    of them and SEGMENT_MAX readings; a group is merged when it has MANY_SMALL members or
    holds COMPACT_FULL readings. A run that would still keep 2 × MANY_SMALL segments is packed
    whole instead, into chunks of at most SEGMENT_MAX readings. One step per segment, not per
    reading."""
    order = np.lexsort((seg, t0, ds))
    out = np.full(len(ds), -1, np.int64)
    group = 0
    run: list[tuple[int, int]] = []  # (segment index, size) of the current run
    prev_ds = None

    def merge(members: list[int]) -> None:
        nonlocal group
        out[members] = group
        group += 1

    def close_run() -> None:
        # Merges cascade in one pass (16 segments of 7 becoming the 16th of 112 merge on with the
        # other 15): what a second pass would merge is merged now, each reading written once.
        items = [([i], k) for i, k in run]
        while groups := _tier_groups([k for _, k in items]):
            merged = {g[0]: g for g in groups}
            inner = {j for g in groups for j in g[1:]}
            items = [(sum((items[j][0] for j in merged[x]), []), sum(items[j][1] for j in merged[x]))
                     if x in merged else items[x] for x in range(len(items)) if x not in inner]
        for members in _packed(run) if len(items) >= 2 * MANY_SMALL else (m for m, _ in items):
            if len(members) > 1:
                merge(members)

    for i, d, k in zip(order.tolist(), ds[order].tolist(), n[order].tolist(), strict=True):
        if d != prev_ds or k >= COMPACT_FULL:
            close_run()
            run, prev_ds = [], d
        if k < COMPACT_FULL:
            run.append((i, k))
    close_run()
    return out


def _tier_groups(sizes: list[int]) -> list[list[int]]:
    """Which of a run's segments (by position, in time order) merge by tier: consecutive ones
    of one tier, up to MANY_SMALL and SEGMENT_MAX, when MANY_SMALL or COMPACT_FULL is reached."""
    out: list[list[int]] = []
    members: list[int] = []
    total, level = 0, -1

    def close() -> None:
        if len(members) > 1 and (len(members) >= MANY_SMALL or total >= COMPACT_FULL):
            out.append(members)

    for x, k in enumerate(sizes):
        here = tier(k)
        if members and (here != level or len(members) >= MANY_SMALL or total + k > SEGMENT_MAX):
            close()
            members, total = [], 0
        members.append(x)
        total += k
        level = here
    close()
    return out


def _packed(run: list[tuple[int, int]]) -> list[list[int]]:
    """A whole run packed in time order into merges of at most SEGMENT_MAX readings."""
    out: list[list[int]] = []
    members: list[int] = []
    total = 0
    for i, k in run:
        if members and total + k > SEGMENT_MAX:
            out.append(members)
            members, total = [], 0
        members.append(i)
        total += k
    out.append(members)
    return out


def compact(conn: sqlite3.Connection, datastreams: list[int]) -> Compacted:
    """Merge these datastreams' small segments (the caller locks them and owns the transaction)."""
    if not datastreams:
        return Compacted(0, 0, 0, None)
    arg = orjson.dumps(sorted(set(datastreams))).decode()
    meta = np.array([tuple(r) for r in conn.execute(
        "SELECT s.id, s.datastream, s.t0, s.t1, s.n FROM json_each(?) AS j JOIN observation_segment AS s"
        " INDEXED BY observation_segment_end ON s.datastream = CAST(j.value AS BIGINT)", (arg,))],
        np.int64).reshape(-1, 5)
    group = plan(meta[:, 1], meta[:, 2], meta[:, 0], meta[:, 4])
    pick = group >= 0
    if not pick.any():
        return Compacted(len(datastreams), 0, 0, None)
    meta, groups = meta[pick], group[pick]
    order = np.lexsort((meta[:, 2], groups))  # each merge's segments in time order
    meta, groups = meta[order], groups[order]
    ids = meta[:, 0]
    texts = dict(conn.execute("SELECT s.id, s.data FROM json_each(?) AS j JOIN observation_segment AS s"
                              " ON s.id = CAST(j.value AS BIGINT)", (orjson.dumps(ids.tolist()).decode(),)).fetchall())
    rows, rewritten = _merged(meta, groups, texts)
    conn.executemany("UPDATE observation_segment SET t0 = ?, t1 = ?, n = ?, data = ? WHERE id = ?", rows)
    gone = np.setdiff1d(ids, [r[4] for r in rows])  # each merge is written over its first segment
    conn.execute("DELETE FROM observation_segment WHERE id IN (SELECT value FROM json_each(?))",
                 (orjson.dumps(gone.tolist()).decode(),))
    return Compacted(len(datastreams), len(gone), rewritten, None)


def _merged(meta: I64, groups: I64, texts: dict[int, str]) -> tuple[list[Any], int]:
    """Each merge's segments (meta rows [id, datastream, t0, t1, n], sorted by merge number
    `groups` and then time) as one row (t0, t1, n, data, its first segment's id), and the
    readings written. A merge whose segments follow each other in time (the usual case) is their
    texts joined; one whose segments overlap (late readings) is decoded, sorted and encoded again."""
    ids = meta[:, 0]
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    ends = np.r_[starts[1:], len(groups)]
    overlaps = np.r_[False, (groups[1:] == groups[:-1]) & (meta[1:, 2] <= meta[:-1, 3])]
    tangled = np.logical_or.reduceat(overlaps, starts)
    rows = [(int(meta[s, 2]), int(meta[e - 1, 3]), int(meta[s:e, 4].sum()),
             "[" + ",".join(texts[i][1:-1] for i in ids[s:e].tolist()) + "]", int(ids[s:e].min()))
            for s, e in zip(starts[~tangled].tolist(), ends[~tangled].tolist(), strict=True)]
    rewritten = sum(r[2] for r in rows)
    if tangled.any():
        rows_t, n_t = _remerged(meta, groups, texts, starts[tangled], ends[tangled])
        rows += rows_t
        rewritten += n_t
    return rows, rewritten


def recent_count(conn: sqlite3.Connection) -> int:
    """About how many segments wait in observation_recent (at least as many as have landed since
    this connection last settled): SQLite, its first and last id (two seeks); PostgreSQL, its
    last id less the last this connection settled (the first id would be found behind every
    deleted entry not yet vacuumed; another server's settle meanwhile only makes ours smaller)."""
    if not dialect_of_conn(conn).postgres:
        lo, hi = conn.execute(f"SELECT (SELECT min(id) FROM {RECENT}), (SELECT max(id) FROM {RECENT})").fetchone()  # noqa: S608
        return 0 if lo is None else int(hi) - int(lo) + 1
    hi = conn.execute(f"SELECT max(id) FROM {RECENT}").fetchone()[0]  # noqa: S608
    if hi is None:
        return 0
    upto = _settled_upto.get(conn)
    if upto is None:
        lo = conn.execute(f"SELECT min(id) FROM {RECENT}").fetchone()[0]  # noqa: S608, once per connection
        upto = _settled_upto.set(conn, int(lo) - 1)
    return int(hi) - upto


_settled_upto: PerConnection[int] = PerConnection()  # PostgreSQL: the last recent id each connection settled


def settle(repo: Any, force: bool = False) -> Compacted:
    """Move the recent segments into observation_segment when RECENT_MAX wait, or any (the
    caller's transaction; their datastreams held, as ingest and compaction hold theirs; on
    PostgreSQL those another server is writing stay for a later settle): each
    datastream's packed in time order into segments of up to SEGMENT_MAX readings."""
    conn = repo.conn
    if not force and recent_count(conn) < RECENT_MAX:
        return Compacted(0, 0, 0, None)
    if force and conn.execute(f"SELECT 1 FROM {RECENT} LIMIT 1").fetchone() is None:  # noqa: S608
        return Compacted(0, 0, 0, None)  # no statement that would tell every server's live pages of a change
    held = stripe_sql("datastream", repo.lock_free_stripes("datastream"))  # what others write: a later settle
    joined: list[tuple[int, int, int, int, str]] = []
    segments = 0
    if dialect_of_conn(conn).postgres:  # read and removed at once: what another server edits meanwhile waits
        got = conn.execute(f"DELETE FROM {RECENT} WHERE {held} RETURNING id, datastream, t0, t1, n, data").fetchall()  # noqa: S608
        if got:
            _settled_upto.set(conn, max(int(r[0]) for r in got))
    else:  # the one writer: the usual datastreams joined in the database, the rest read; then emptied (truncate)
        joined, segments, rest = _joined(conn)
        got = conn.execute(f"SELECT id, datastream, t0, t1, n, data FROM {RECENT} WHERE datastream IN"  # noqa: S608
                           " (SELECT value FROM json_each(?))", (orjson.dumps(rest).decode(),)).fetchall() if rest else []
        conn.execute(f"DELETE FROM {RECENT}")  # noqa: S608
    rows, done = _settled(got)
    if joined or rows:
        copy_rows(conn, SETTLED, _SEGMENT_COLUMNS, sorted(joined + rows))
    return done + Compacted(len(joined), segments - len(joined), sum(r[3] for r in joined), None)


# Each datastream's recent segments joined by SQLite (one row back per datastream, not per
# segment), grouped straight off the (datastream, t1) index: no sort of the recent texts (an
# ORDER BY subquery sorted them all in a temporary B-tree, 0.19 s against 0.12 s for 100,000
# segments). SQLite does not promise group_concat's order; `_joined` checks it from the times
# joined beside the texts: segments joined out of time order are left for `_settled`, so an
# order SQLite may change costs time, never data.
_JOINED = ("SELECT datastream, count(*), sum(n), min(n), group_concat(t0), group_concat(t1),"
           " group_concat(substr(data, 2, length(data) - 2))"
           f" FROM {RECENT} INDEXED BY {RECENT}_end GROUP BY datastream")


def _joined(conn: sqlite3.Connection) -> tuple[list[tuple[int, int, int, int, str]], int, list[int]]:
    """SQLite: the settled row of each datastream whose recent segments follow each other in time
    and fit in one segment (the usual case: a gateway's batches), joined in the database; how
    many segments those were; and the datastreams left for `_settled`."""
    got = conn.execute(_JOINED).fetchall()
    if not got:
        return [], 0, []
    ds = np.array([r[0] for r in got], np.int64)
    count = np.array([r[1] for r in got], np.int64)
    total = np.array([r[2] for r in got], np.int64)
    t0 = np.array(",".join(str(r[4]) for r in got).split(","), np.int64)
    t1 = np.array(",".join(str(r[5]) for r in got).split(","), np.int64)
    first = np.r_[0, np.cumsum(count)[:-1]]
    later = np.ones(len(t0), bool)
    later[first] = False
    behind = np.zeros(len(t0), bool)  # a segment that does not start after the one before it ends
    behind[1:] = later[1:] & (t0[1:] <= t1[:-1])
    ok = ~np.logical_or.reduceat(behind, first) & (total <= SEGMENT_MAX) & (np.array([r[3] for r in got]) > 0)
    last = first + count - 1
    rows = [(d, a, b, n, f"[{got[i][6]}]") for i, d, a, b, n in zip(
        np.flatnonzero(ok).tolist(), ds[ok].tolist(), t0[first[ok]].tolist(), t1[last[ok]].tolist(),
        total[ok].tolist(), strict=True)]
    return rows, int(count[ok].sum()), ds[~ok].tolist()


def _settled(got: list[Any]) -> tuple[list[tuple[int, int, int, int, str]], Compacted]:
    """Recent segment rows (id, datastream, t0, t1, n, data) → settled rows (datastream, t0, t1,
    n, data): each datastream's packed in time order into segments of up to SEGMENT_MAX readings,
    overlapping ones (late readings) decoded and encoded again, first write kept."""
    if not got:
        return [], Compacted(0, 0, 0, None)
    meta = np.array([r[:5] for r in got], np.int64)
    texts = {int(r[0]): str(r[5]) for r in got}
    meta = meta[np.lexsort((meta[:, 0], meta[:, 2], meta[:, 1]))]  # by datastream, time, then as written
    runs = np.flatnonzero(np.r_[True, meta[1:, 1] != meta[:-1, 1], True])
    # A datastream's recent readings are one merge when they fit in a segment (the usual case);
    # a longer run is packed, one step per segment.
    groups = np.repeat(np.arange(len(runs) - 1), np.diff(runs))
    totals = np.add.reduceat(meta[:, 4], runs[:-1])
    group = len(runs) - 1
    for a, b in zip(runs[:-1][totals > SEGMENT_MAX].tolist(), runs[1:][totals > SEGMENT_MAX].tolist(), strict=True):
        for members in _packed(list(zip(range(a, b), meta[a:b, 4].tolist(), strict=True))):
            groups[members] = group
            group += 1
    order = np.lexsort((meta[:, 2], groups))  # each merge's segments together, in time order
    meta, groups = meta[order], groups[order]
    merged, rewritten = _merged(meta, groups, texts)
    datastream = dict(zip(meta[:, 0].tolist(), meta[:, 1].tolist(), strict=True))
    rows = [(datastream[r[4]], *r[:4]) for r in merged]
    return rows, Compacted(len(runs) - 1, len(got) - len(rows), rewritten, None)


def _remerged(meta: I64, groups: I64, texts: dict[int, str], starts: I64, ends: I64) -> tuple[list[Any], int]:
    """Merges whose segments overlap in time: decoded with each segment's merge number in place
    of its datastream, sorted by (merge, t), encoded back as one segment per merge. Segments in
    id order and a stable sort: should a key be stored twice, the first written is kept, as
    insert_columns would."""
    part = np.concatenate([np.arange(s, e) for s, e in zip(starts.tolist(), ends.tolist(), strict=True)])
    part = part[np.argsort(meta[part, 0], kind="stable")]
    cols = decode_segments([(int(groups[x]), int(meta[x, 4]), texts[int(meta[x, 0])]) for x in part.tolist()])
    first = np.r_[True, (cols.datastream[1:] != cols.datastream[:-1]) | (cols.t[1:] != cols.t[:-1])]
    keep = {int(groups[s]): int(meta[s:e, 0].min()) for s, e in zip(starts.tolist(), ends.tolist(), strict=True)}
    merged = encode_segments(Columns(cols.datastream, cols.t, cols.result, True).take(first))
    return [(t0, t1, k, data, keep[g]) for g, t0, t1, k, data in merged], int(first.sum())


# The next datastreams that have segments, one index probe each (a loose index scan):
# PostgreSQL answered `SELECT DISTINCT datastream … LIMIT ?` by reading the whole table
# (65 ms at 210,000 segments, each leader round).
_NEXT_DATASTREAMS = (
    "WITH RECURSIVE ds(d, k) AS ("
    " SELECT (SELECT min(datastream) FROM observation_segment WHERE datastream > ?), 1"
    " UNION ALL SELECT (SELECT min(datastream) FROM observation_segment WHERE datastream > ds.d), ds.k + 1"
    " FROM ds WHERE ds.d IS NOT NULL AND ds.k < ?)"
    " SELECT d FROM ds WHERE d IS NOT NULL")


def compact_next(repo: Any, after: int, limit: int = CHUNK) -> Compacted:
    """The next `limit` datastreams with segments after id `after`, locked and compacted in the
    caller's transaction; `next_after` says where the next chunk starts (None: all done)."""
    found = [int(r[0]) for r in repo.conn.execute(_NEXT_DATASTREAMS, (after, limit))]
    if not found:
        return Compacted(0, 0, 0, None)
    # As ingest holds them, but without waiting: those another server is writing wait for the
    # next sweep (waiting, with rows of this batch held, could deadlock with that server).
    done = compact(repo.conn, in_stripes(found, repo.lock_free_stripes("datastream", found)))
    return Compacted(done.datastreams, done.merged, done.readings, found[-1] if len(found) == limit else None)


POSITION = "sensing.compact_after"  # the setting that keeps the leader's place across failovers


def compact_op(repo: Any, platform: Any, after: int | None = None, limit: int = CHUNK) -> Compacted:
    """`compact_next` as a write operation (`platform.awrite`, the write process), from where
    the last chunk ended (`after` None: the place kept in the database, so a new leader goes on
    where the old one stopped), keeping the next place in the same transaction."""
    if after is None:
        after = int(repo.get_setting(POSITION) or -1)
    if after < 0:  # a sweep begins with what has landed since the last one
        settle(repo, force=True)
    done = compact_next(repo, after, limit)
    repo.set_setting(POSITION, str(-1 if done.next_after is None else done.next_after))
    return done


def compact_all(store: Any, limit: int = CHUNK) -> Compacted:
    """Every datastream, one transaction per chunk of `limit` (the CLI), once the recent
    segments are settled."""
    settled = store.write(functools.partial(settle, force=True))
    total = Compacted(0, settled.merged, settled.readings, None)
    after: int | None = -1
    while after is not None:
        total = total + store.write(functools.partial(compact_next, after=after, limit=limit))
        after = total.next_after
    return total
