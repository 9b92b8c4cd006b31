"""Segment compaction (issue #20): a trickle of small appends rewrites only short tail segments,
and compaction merges the short segments it leaves without losing, repeating or changing a
reading, on either store (CITYOPS_TEST_STORE=postgresql)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityops.detect.columns import Columns
from cityops.sensing import compact as compact_mod
from cityops.sensing import store as store_mod
from cityops.sensing.compact import compact_all, plan
from cityops.sensing.store import (
    SMALL_TAIL,
    change_reading,
    encode_segments,
    insert_columns,
    last_seen,
    latest_readings,
    read_columns,
    read_ranges,
)
from cityops.store.dialect import copy_rows
from stores import POSTGRES, new_db


@pytest.fixture(scope="module")
def bare_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from cityops.store.sqlite import SqliteStore

    store = SqliteStore(new_db(tmp_path_factory.mktemp("compact"), "compact.db"))
    yield store
    store.close()


@contextmanager
def small_limits(tail: int, full: int, most: int, many: int) -> Iterator[None]:
    """The thresholds scaled down, so that a few dozen readings cross each of them."""
    with mock.patch.multiple(store_mod, SMALL_TAIL=tail, SMALL_APPEND=tail // 2 + 1), \
            mock.patch.multiple(compact_mod, COMPACT_FULL=full, SEGMENT_MAX=most, MANY_SMALL=many):
        yield


def put(store: Any, ds: Any, t: Any, r: Any) -> int:
    return int(store.write(lambda repo: insert_columns(repo.conn, Columns.of(ds, t, r))))


def segments(store: Any) -> list[tuple[int, int, int, int, str]]:
    with store.read() as repo:
        return [tuple(r) for r in repo.conn.execute(  # type: ignore[misc]
            "SELECT datastream, t0, t1, n, data FROM (SELECT * FROM observation_segment UNION ALL"
            " SELECT * FROM observation_recent) AS s ORDER BY datastream, t0, id")]


def stored(store: Any) -> dict[tuple[int, int], float]:
    with store.read() as repo:
        return {(int(d), int(t)): float(r) for d, t, r in repo.conn.execute("SELECT datastream, t, result FROM observation")}


def check_segments(store: Any) -> None:
    """Each segment's t0, t1 and n say what its data holds, sorted, and no key is stored twice."""
    seen: set[tuple[int, int]] = set()
    for d, t0, t1, n, data in segments(store):
        cols = store_mod.decode_segments([(d, n, data)])
        assert len(cols) == n and n > 0
        assert cols.t.tolist() == sorted(cols.t.tolist()) and (cols.t[0], cols.t[-1]) == (t0, t1)
        keys = {(d, t) for t in cols.t.tolist()}
        assert not keys & seen
        seen |= keys


def clear(store: Any) -> None:
    store.write(lambda repo: [repo.conn.execute(f"DELETE FROM {t}") for t in store_mod.SEGMENT_TABLES])


def test_plan_merges_runs_of_small_segments() -> None:
    """A run of small segments is packed in time order into merges of at most SEGMENT_MAX; a
    long segment breaks a run; a run's last chunk waits until it is full or many."""
    full, most = compact_mod.COMPACT_FULL, compact_mod.SEGMENT_MAX
    n = np.array([300] * 20 + [full] + [10] * 3 + [5] * compact_mod.MANY_SMALL)
    ds = np.r_[np.full(24, 1), np.full(compact_mod.MANY_SMALL, 2)]
    t0 = np.arange(len(n))[::-1].copy()  # given in any order: planned by time
    seg = np.arange(len(n)) + 100
    group = plan(ds, t0, seg, n)
    # datastream 1 by time: the 3 tens, the long one, 20 × 300 (13 fit in 4096, then 7 = 2100)
    assert (group[21:24] == -1).all() and group[20] == -1
    sizes = sorted(np.bincount(group[group >= 0], weights=n[group >= 0]).tolist())
    assert sizes == [5 * compact_mod.MANY_SMALL, 2100, 300 * 13] and max(sizes) <= most
    assert len(set(group[24:].tolist())) == 1 and group[24] >= 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.lists(st.tuples(st.integers(1, 3), st.integers(0, 40), st.integers(0, 99)),
                                   min_size=1, max_size=12),
                          st.booleans(), st.integers(1, 3)),
                min_size=1, max_size=25))
def test_trickles_and_compaction_store_what_one_insert_would(bare_store: Any,
                                                             steps: list[tuple[list[tuple[int, int, int]], bool, int]]) -> None:
    """Appends small and late, duplicates among them, compaction now and then in chunks of any
    size: the store then holds what one big insert of every reading would (first write wins),
    every reader agrees, and a final compaction changes no reading."""
    clear(bare_store)
    with small_limits(tail=6, full=8, most=16, many=3):
        new = 0
        for batch, compact_now, chunk in steps:
            new += put(bare_store, [b[0] for b in batch], [b[1] * 10 + b[0] for b in batch], [float(b[2]) for b in batch])
            if compact_now:
                compact_all(bare_store, chunk)
                check_segments(bare_store)
        first: dict[tuple[int, int], float] = {}
        for d, t, r in (row for batch, _, _ in steps for row in batch):
            first.setdefault((d, t * 10 + d), float(r))
        assert new == len(first) and stored(bare_store) == first
        before = segments(bare_store)
        compact_all(bare_store, 2)
        after = segments(bare_store)
        assert compact_all(bare_store, 2).merged == 0 and segments(bare_store) == after  # nothing left to do
        assert stored(bare_store) == first and len(after) <= len(before)
        check_segments(bare_store)
        # a replay of everything is all duplicates
        allrows = [row for batch, _, _ in steps for row in batch]
        assert put(bare_store, [b[0] for b in allrows], [b[1] * 10 + b[0] for b in allrows], [0.0] * len(allrows)) == 0
        with bare_store.read() as repo:
            keys = sorted(first)
            cols = read_columns(repo.conn, [1, 2, 3], 0, 10**6)
            assert list(zip(cols.datastream.tolist(), cols.t.tolist(), strict=True)) == keys
            assert cols.result.tolist() == [first[k] for k in keys]
            ids = np.array([1, 2, 3])
            part = read_ranges(repo.conn, ids, np.array([50, 0, 120]), np.array([250, 400, 121]))
            assert sorted(zip(part.datastream.tolist(), part.t.tolist(), strict=True)) == [
                (d, t) for d, t in keys if (50, 0, 120)[d - 1] <= t <= (250, 400, 121)[d - 1]]
            last = {d: max(t for e, t in keys if e == d) for d in {d for d, _ in keys}}
            ds, seen = last_seen(repo.conn, [1, 2, 3])
            assert dict(zip(ds.tolist(), seen.tolist(), strict=True)) == last
            latest = latest_readings(repo.conn, [1, 2, 3])
            assert dict(zip(latest.datastream.tolist(), latest.t.tolist(), strict=True)) == last
            assert latest.result.tolist() == [first[(d, last[d])] for d in sorted(last)]


def test_a_feed_in_batches_is_compacted_by_tier(bare_store: Any) -> None:
    """One reading a minute for two days in 7-minute batches, compaction every hour as the
    leader runs it, real thresholds: an append of 7 readings rewrites no tail, compaction
    writes each reading about once per tier (not once per append), and no datastream keeps
    more than a few dozen segments."""
    clear(bare_store)
    day, rewritten, most = 7 * 411, 0, 0  # two days, in whole batches
    for k, start in enumerate(range(0, day, 7)):
        minutes = np.arange(start, min(start + 7, day))
        tails = {d: n for d, n, _ in _tails(bare_store, [1, 2])}
        put(bare_store, np.repeat([1, 2], len(minutes)), np.tile(minutes * 60_000, 2), np.tile(minutes * 1.0, 2))
        assert {d: n for d, n, _ in _tails(bare_store, [1, 2])} == {1: len(minutes), 2: len(minutes)}, tails
        if k % 9 == 8:
            rewritten += compact_all(bare_store).readings
            most = max(most, len(segments(bare_store)) // 2)
    rewritten += compact_all(bare_store).readings
    assert rewritten <= 2 * day * 3 and most <= 3 * compact_mod.MANY_SMALL
    assert sum(n for _, _, _, n, _ in segments(bare_store)) == 2 * day
    check_segments(bare_store)
    assert compact_all(bare_store).merged == 0


def test_a_trickle_rewrites_only_short_tails(bare_store: Any) -> None:
    """One reading at a time (MQTT): appended to the tail while it stays SMALL_TAIL short,
    then a new segment; compaction merges the tails."""
    clear(bare_store)
    for m in range(3 * SMALL_TAIL):
        put(bare_store, [1], [m * 60_000], [float(m)])
        assert _tails(bare_store, [1])[0][1] == m % SMALL_TAIL + 1
    assert [n for _, _, _, n, _ in segments(bare_store)] == [SMALL_TAIL] * 3
    compact_all(bare_store)
    check_segments(bare_store)
    assert sum(n for _, _, _, n, _ in segments(bare_store)) == 3 * SMALL_TAIL


def _tails(store: Any, ids: list[int]) -> list[tuple[int, int, int]]:
    with store.read() as repo:
        return [(d, n, t1) for d, _, t1, n in store_mod._last_segments(repo.conn, ids)]


def test_compacted_readings_change_and_delete(bare_store: Any) -> None:
    """change_reading and deletion find a reading in a merged segment; SensorThings members
    (keyed by datastream and time) stay with their readings."""
    clear(bare_store)
    with small_limits(tail=4, full=8, most=16, many=3):
        for k in range(10):
            put(bare_store, [5, 5], [2 * k, 2 * k + 1], [float(k), float(k)])
        compact_all(bare_store)
        assert [n for _, _, _, n, _ in segments(bare_store)] == [16, 4]  # 20 landed readings settled, 16 at most
    bare_store.write(lambda repo: store_mod.set_result_times(repo.conn, [(5, 7, 123)]))
    assert bare_store.write(lambda repo: change_reading(repo.conn, 5, 7, 42.0))
    assert bare_store.write(lambda repo: change_reading(repo.conn, 5, 8, None))
    assert not bare_store.write(lambda repo: change_reading(repo.conn, 5, 8, None))
    got = stored(bare_store)
    assert got[(5, 7)] == 42.0 and (5, 8) not in got and len(got) == 19
    with bare_store.read() as repo:
        assert repo.conn.execute("SELECT result_time FROM sta_observation WHERE datastream = 5 AND t = 7").fetchone()[0] == 123
    check_segments(bare_store)


def test_cli_compacts(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from cityops.cli import main
    from cityops.core import open_platform

    db = new_db(tmp_path)
    assert CliRunner().invoke(main, ["init", "--db", db]).exit_code == 0
    p = open_platform(db)
    try:
        for start in range(0, 2100, 7):
            put(p.store, [3] * 7, list(range(start, start + 7)), [1.0] * 7)
    finally:
        p.close()
    out = CliRunner().invoke(main, ["sensing", "compact", "--db", db, "--chunk", "1"])
    assert out.exit_code == 0, out.output
    # 300 landed segments of 7 settled into one (at most SEGMENT_MAX readings)
    assert "1 datastreams, 299 segments merged away, 2,100 readings rewritten" in out.output
    p = open_platform(db)
    try:
        assert [n for *_, n, _ in segments(p.store)] == [2100]
    finally:
        p.close()


def test_the_leader_compacts_by_itself(tmp_path: Any) -> None:
    """The leader's periodic job merges a trickle's short segments, a chunk per round."""
    import time

    from click.testing import CliRunner
    from fastapi.testclient import TestClient

    from cityops.api.app import create_app
    from cityops.cli import main
    from cityops.core import open_platform

    db = new_db(tmp_path)
    assert CliRunner().invoke(main, ["init", "--db", db]).exit_code == 0
    platform = open_platform(db)
    try:
        for start in range(0, 2100, 7):
            put(platform.store, [4] * 7, list(range(start, start + 7)), [2.0] * 7)
        assert len(segments(platform.store)) == 300
        with TestClient(create_app(platform, sweep_every=0.05)):
            for _ in range(200):
                if len(segments(platform.store)) == 1:
                    break
                time.sleep(0.05)
        assert [n for *_, n, _ in segments(platform.store)] == [2100]  # as test_cli_compacts
        assert stored(platform.store) == {(4, t): 2.0 for t in range(2100)}
    finally:
        platform.close()


def test_compaction_goes_on_where_the_last_leader_stopped(bare_store: Any) -> None:
    """The leader compacts a chunk a minute; its place is kept in the database with each chunk,
    so a new leader (another server, after a failover) takes the next chunk, not the first."""
    from cityops.sensing.compact import POSITION, compact_op

    clear(bare_store)
    with small_limits(tail=4, full=8, most=16, many=3):
        for k in range(8):  # settled segments of one reading each (as separate settles leave them)
            bare_store.write(lambda repo, k=k: copy_rows(repo.conn, store_mod.SETTLED, store_mod._SEGMENT_COLUMNS,
                                                         encode_segments(Columns.of([1, 2, 3], [2 * k] * 3, [1.0] * 3))))

        def chunk() -> tuple[str | None, list[int]]:  # each call as a fresh leader would make it
            bare_store.write(lambda repo: compact_op(repo, None, None, 1))
            with bare_store.read() as repo:
                place = repo.get_setting(POSITION)
            return place, [sum(1 for s in segments(bare_store) if s[0] == d) for d in (1, 2, 3)]

        assert chunk() == ("1", [4, 8, 8])  # 8 of one reading: two merges of 3 (3, 3, 1, 1)
        assert chunk() == ("2", [4, 4, 8])
        assert chunk() == ("3", [4, 4, 4])
        assert chunk() == ("-1", [4, 4, 4])  # past the last: the next round starts again
    check_segments(bare_store)


@pytest.mark.skipif(not POSTGRES, reason="SQLite's INDEXED BY enforces the index by itself")
def test_index_hinted_statements_probe_the_index_on_postgresql(bare_store: Any) -> None:
    """A statement SQLite runs `INDEXED BY` (a batch's stored-range lookup) probes the index per
    datastream on PostgreSQL too, not a scan of every segment (the planner's choice without the
    hint once the table is large); the planner's settings are back as they were afterwards, after
    a failing statement too, in a transaction or not."""
    clear(bare_store)
    ds = np.repeat(np.arange(1, 201), 20)
    put(bare_store, ds, np.tile(np.arange(20), 200) * 60_000, np.ones(len(ds)))
    conn = bare_store.connect()
    try:
        plan_text = "\n".join(str(r[0]) for r in conn.execute(
            "EXPLAIN SELECT s.datastream, s.n, s.data FROM json_each(?) AS j JOIN observation_segment AS s"
            " INDEXED BY observation_segment_end ON s.datastream = CAST(j.value ->> 0 AS BIGINT)"
            " AND s.t1 >= CAST(j.value ->> 1 AS BIGINT) AND s.t0 <= CAST(j.value ->> 2 AS BIGINT)",
            ("[[1, 0, 60000]]",)).fetchall())
        assert "Index Scan using observation_segment_end" in plan_text and "Seq Scan" not in plan_text, plan_text

        def planner() -> list[str]:
            return [str(conn.execute(f"SHOW {name}").fetchone()[0]) for name in ("enable_seqscan", "enable_hashjoin")]

        assert planner() == ["on", "on"]
        with pytest.raises(Exception, match="nope"):
            conn.execute("SELECT nope FROM observation_segment INDEXED BY observation_segment_end")
        assert planner() == ["on", "on"]
        conn.execute("BEGIN")
        with pytest.raises(Exception, match="nope"):
            conn.execute("SELECT nope FROM observation_segment INDEXED BY observation_segment_end")
        conn.execute("ROLLBACK")
        assert planner() == ["on", "on"]
    finally:
        conn.close()


def test_landed_segments_settle_when_many(platform: Any) -> None:
    """Batches land in observation_recent; the batch that finds RECENT_MAX there settles them
    first (each datastream's packed in time order, late readings and all) into
    observation_segment. Every reader sees the same readings before and after, and a replay is
    all duplicates."""
    from cityops.sensing.ingest import ingest_columns
    from cityops.sensing.registry import register_gauges_op

    ds = platform.store.write(lambda repo: register_gauges_op(repo, platform))[:3]
    now_ms = int(__import__("time").time() * 1000) // 60_000 * 60_000
    batches = [(np.repeat(ds, 4), np.tile(now_ms - (40 - 4 * k - np.arange(4)) * 60_000, 3)) for k in range(6)]
    batches.insert(3, (np.array(ds[:1]), np.array([now_ms - 39 * 60_000 + 30_000])))  # late, inside stored ones

    def counts() -> tuple[int, int]:
        with platform.store.read() as repo:
            return tuple(int(repo.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # type: ignore[return-value]
                         for t in store_mod.SEGMENT_TABLES)

    with mock.patch.object(compact_mod, "RECENT_MAX", 9):
        seen = []
        for d, t in batches:
            assert ingest_columns(platform, Columns.of(d, t, np.full(len(d), 3.0))).stored == len(d)
            seen.append(counts())
    # 3, 6, 9 landed; the late one finds 9 and settles them (3 settled, 1 landed); … 3 + 3 + 3 again
    assert seen == [(0, 3), (0, 6), (0, 9), (3, 1), (3, 4), (3, 7), (3, 10)], seen
    want = {(int(d), int(t)): 3.0 for d, t in zip(np.concatenate([b[0] for b in batches]).tolist(),
                                                  np.concatenate([b[1] for b in batches]).tolist(), strict=True)}
    assert stored(platform.store) == want
    compact_all(platform.store)  # settles the rest
    assert counts() == (6, 0) and stored(platform.store) == want  # two settles: two short segments each
    check_segments(platform.store)
    d, t = batches[0]
    assert ingest_columns(platform, Columns.of(d, t, np.zeros(len(d)))).stored == 0


@pytest.mark.skipif(not POSTGRES, reason="two servers' writers are PostgreSQL's (SQLite has one writer)")
def test_a_settle_beside_another_servers_batch_does_not_wait_for_it(bare_store: Any) -> None:
    """A settle takes only the datastream stripes no other transaction holds: waiting for all of
    them, while holding a row another server's batch wants next (the readings counters), was a
    deadlock in the two-server megacity day. What that server is writing settles later."""
    from cityops.sensing.compact import settle

    clear(bare_store)
    put(bare_store, [1, 100, 1000], [5, 5, 5], [1.0, 2.0, 3.0])  # stripes 0, 1 and 15
    other = bare_store.connect()  # another server's batch of datastream 100, not yet committed
    try:
        other.execute("BEGIN")
        other.execute("SELECT pg_advisory_xact_lock(hashtext('datastream'), 1)")

        def batch(repo: Any) -> Any:
            repo.conn.execute("SET LOCAL lock_timeout = '2s'")  # waiting for stripe 1 fails the test
            store_mod.bump(repo.conn, {"accepted": 1})  # the row the other batch will want next
            return settle(repo, force=True)

        assert bare_store.write(batch).merged == 0  # two segments settled, one left

        def compaction(repo: Any) -> Any:  # the leader's compaction does not wait for it either
            repo.conn.execute("SET LOCAL lock_timeout = '2s'")
            store_mod.bump(repo.conn, {"accepted": 1})
            return compact_mod.compact_next(repo, -1)

        assert bare_store.write(compaction).datastreams == 2
        with bare_store.read() as repo:
            assert [r[0] for r in repo.conn.execute("SELECT datastream FROM observation_recent")] == [100]
        store_mod.bump(other, {"accepted": 1})
        other.execute("COMMIT")
    finally:
        other.close()
    bare_store.write(lambda repo: settle(repo, force=True))
    assert [s[0] for s in segments(bare_store)] == [1, 100, 1000]
    with bare_store.read() as repo:
        assert repo.conn.execute("SELECT count(*) FROM observation_recent").fetchone()[0] == 0
    assert stored(bare_store) == {(1, 5): 1.0, (100, 5): 2.0, (1000, 5): 3.0}


@pytest.mark.skipif(not POSTGRES, reason="PostgreSQL's change notifications (SQLite's data_version counts real changes)")
def test_a_sweep_with_nothing_landed_tells_no_live_page(bare_store: Any) -> None:
    """The leader's sweep settles first; with nothing landed it runs no statement on the segment
    tables, whose triggers would tell every server's live pages of a change (each sweep)."""
    import time

    from cityops.store.dialect import data_version

    clear(bare_store)
    listener = bare_store.connect()  # another server's change feed
    try:
        before = data_version(listener)
        bare_store.write(lambda repo: compact_mod.compact_op(repo, None, -1))
        time.sleep(0.3)
        assert data_version(listener) == before
        put(bare_store, [1], [5], [1.0])
        bare_store.write(lambda repo: compact_mod.compact_op(repo, None, -1))
        time.sleep(0.3)
        assert data_version(listener) > before  # a real settle is a change
    finally:
        listener.close()
    assert [s[3] for s in segments(bare_store)] == [1]
