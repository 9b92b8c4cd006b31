"""The observation store over the platform's SQLite database (migrations 0004 and 0009).

Readings live in columnar segments: each ingest batch stores one row per datastream holding
its readings sorted by time, so a batch of 100,000 readings of 1,000 datastreams is 1,000
B-tree inserts, not 100,000. New segments land in `observation_recent`, a small table, and are
settled into `observation_segment` when it fills (sensing/compact.py); readers see both. The first reading stored for a
(datastream, t) wins; a later one with the same key is counted as a duplicate and dropped,
whatever its value, so replaying a batch changes nothing. Python readers go through
`read_columns`/`last_seen`; SQL readers (SensorThings) through the `observation` view.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from cityops.detect.columns import I64, Columns, Groups
from cityops.detect.congestion import SpeedProfile
from cityops.detect.waterlogging import GaugeTable
from cityops.store.dialect import copy_rows, data_version, database_key, dialect_of_conn
from cityops.store.txmemo import PerConnection

# Observation ids for SensorThings: datastream and time in one integer.
EPOCH_MS = 946_684_800_000  # 2000-01-01T00:00:00Z: readings before it are refused
TIME_BITS = 41  # 2**41 ms ≈ 69 years after 2000
MAX_DATASTREAM = 2**22 - 1


def observation_id(datastream: int, t_ms: int) -> int:
    return (datastream << TIME_BITS) | (t_ms - EPOCH_MS)


def split_observation_id(oid: int) -> tuple[int, int]:
    return oid >> TIME_BITS, (oid & ((1 << TIME_BITS) - 1)) + EPOCH_MS


@dataclass(frozen=True)
class DatastreamMeta:
    """What the write path needs to know of every datastream, as sorted columns."""

    version: int
    ids: I64
    kinds: np.ndarray[Any, np.dtype[np.object_]]
    gauges: GaugeTable
    owners: np.ndarray[Any, np.dtype[np.object_]]  # the sensor user each belongs to, or None

    def known(self, ds: I64) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Which of these ids are registered: one gather from a table indexed by id."""
        if not len(self.ids):
            return np.zeros(len(ds), bool)
        table = self.present
        inside = (ds >= 0) & (ds < len(table))
        return inside & table[np.where(inside, ds, 0)]  # type: ignore[no-any-return]

    def owners_of(self, ds: I64) -> np.ndarray[Any, np.dtype[np.object_]]:
        """The owner of each of these (registered) ids."""
        return self.owners[np.searchsorted(self.ids, ds)] if len(self.ids) else np.full(len(ds), None, object)

    @functools.cached_property
    def present(self) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """present[id]: whether that datastream id is registered (ids are at most 2**22)."""
        table = np.zeros(int(self.ids[-1]) + 1, bool)
        table[self.ids] = True
        return table


_meta_cache: dict[str, DatastreamMeta] = {}


def _db_key(conn: sqlite3.Connection) -> str:
    return database_key(conn)


def counter(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute("SELECT value FROM sensing_counter WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0


def bump(conn: sqlite3.Connection, counts: dict[str, int]) -> None:
    conn.executemany(
        "INSERT INTO sensing_counter (name, value) VALUES (?, ?) "
        "ON CONFLICT(name) DO UPDATE SET value = sensing_counter.value + excluded.value",
        [(k, v) for k, v in counts.items() if v],
    )


def counters(conn: sqlite3.Connection) -> dict[str, int]:
    return {str(k): int(v) for k, v in conn.execute("SELECT name, value FROM sensing_counter ORDER BY name")}


def datastream_meta(conn: sqlite3.Connection) -> DatastreamMeta:
    """Cached per database; any change to datastreams bumps `datastream_version`."""
    version = counter(conn, "datastream_version")
    key = _db_key(conn)
    cached = _meta_cache.get(key)
    if cached is not None and cached.version == version:
        return cached
    rows = conn.execute("SELECT id, kind, yellow, red, coalesce(point, ''), owner FROM sta_datastream ORDER BY id"
                        ).fetchall()
    meta = DatastreamMeta(
        version,
        np.array([r[0] for r in rows], np.int64),
        np.array([r[1] for r in rows], object),
        GaugeTable.of([(r[0], r[2], r[3], r[4]) for r in rows if r[1] == "water_depth"]),
        np.array([r[5] for r in rows], object),
    )
    _meta_cache[key] = meta
    return meta


# Segments (migration 0009) -----------------------------------------------------------------
# A batch's readings of one datastream become one row of `observation_segment`: a JSON array of
# [t, result] pairs. One B-tree insert per datastream instead of one per reading; JSON (not a
# binary blob) so that the `observation` view expands segments back into rows for SQL readers.

SMALL_APPEND = 4  # a group this small (a trickle), after the datastream's last segment, is merged into it
SMALL_TAIL = 128  # … while that segment stays this short: an append rewrites at most this many readings
SEGMENT_MAX = 4096  # the longest segment compaction (sensing/compact.py) makes of short ones
_SEGMENT_COLUMNS = ("datastream", "t0", "t1", "n", "data")  # COPY on PostgreSQL, executemany in SQLite


def encode_segments(cols: Columns) -> list[tuple[int, int, int, int, str]]:
    """Sorted readings → one (datastream, t0, t1, n, data) row per datastream (no storage).

    One orjson call per datastream; t goes through a float (exact below 2**53 ms) and is written
    as an integer (its ".0" cut: the only number followed by a comma in a pair), as SQL readers
    of the view cast it (PostgreSQL's bigint cast takes no "5.0")."""
    cols = cols.sorted()
    if not len(cols):
        return []
    g = Groups.of(cols)
    pairs = np.column_stack([cols.t.astype(np.float64), cols.result])
    t0 = cols.t[g.starts].tolist()
    t1 = cols.t[g.ends - 1].tolist()
    return [(d, a0, a1, e - s, orjson.dumps(pairs[s:e], option=orjson.OPT_SERIALIZE_NUMPY).decode().replace(".0,", ","))
            for d, a0, a1, s, e in zip(g.ids.tolist(), t0, t1, g.starts.tolist(), g.ends.tolist(), strict=True)]


def decode_segments(rows: list[tuple[int, int, str]]) -> Columns:
    """(datastream, n, data) segment rows → readings sorted by (datastream, t), in C (no
    Python object per reading): the JSON pairs are read as one comma-separated text."""
    if not rows:
        return Columns.of([], [], [])
    text = ",".join(r[2][1:-1] for r in rows if r[1])
    flat = np.fromstring(text.translate(_NO_BRACKETS), dtype=np.float64, sep=",") if text else np.zeros(0)
    ds = np.repeat(np.array([r[0] for r in rows], np.int64), [r[1] for r in rows])
    return Columns.of(ds, flat[0::2].astype(np.int64), flat[1::2]).sorted()


_NO_BRACKETS = str.maketrans("", "", "[]")


def _already_stored(new: Columns, stored: Columns) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Which readings of `new` have a (datastream, t) in `stored` (neither repeats a key):
    both sorted together, stored first among equal keys; a new one right after an equal key
    is a duplicate."""
    ds = np.concatenate([stored.datastream, new.datastream])
    t = np.concatenate([stored.t, new.t])
    is_new = np.r_[np.zeros(len(stored), bool), np.ones(len(new), bool)]
    order = np.lexsort((is_new, t, ds))
    ds, t, is_new = ds[order], t[order], is_new[order]
    dup = np.r_[False, (ds[1:] == ds[:-1]) & (t[1:] == t[:-1])] & is_new
    out = np.zeros(len(new), bool)
    out[order[dup] - len(stored)] = True
    return out


SETTLED, RECENT = "observation_segment", "observation_recent"  # (migration 0010)
SEGMENT_TABLES = (SETTLED, RECENT)


def in_both(sql: str, args: tuple[Any, ...] = ()) -> tuple[str, tuple[Any, ...]]:
    """`sql` written for one segment table ({seg}: its name, {end}: its (datastream, t1) index)
    as the UNION ALL of it over both, with its arguments repeated: the one way readers see
    settled and recent segments together."""
    return (" UNION ALL ".join(sql.format(seg=t, end=f"{t}_end") for t in SEGMENT_TABLES),
            args * len(SEGMENT_TABLES))


def _stored_in_ranges(conn: sqlite3.Connection, ids: I64, lo: I64, hi: I64) -> Columns:
    """Stored readings of segments that reach into [lo, hi] of their datastream (one query)."""
    ranges = orjson.dumps(np.column_stack([ids, lo, hi]), option=orjson.OPT_SERIALIZE_NUMPY).decode()
    rows = conn.execute(*in_both(
        "SELECT s.datastream, s.n, s.data FROM json_each(?) AS j JOIN {seg} AS s INDEXED BY {end}"
        " ON s.datastream = CAST(j.value ->> 0 AS BIGINT) AND s.t1 >= CAST(j.value ->> 1 AS BIGINT)"
        " AND s.t0 <= CAST(j.value ->> 2 AS BIGINT)", (ranges,))).fetchall()
    return decode_segments(rows)


def insert_columns(conn: sqlite3.Connection, cols: Columns) -> int:
    """Store readings in the caller's transaction; returns how many were new (`insert_batch`)."""
    return insert_batch(conn, cols).count


@dataclass(frozen=True)
class Inserted:
    """What a batch stored: how many readings were new, and the datastreams (sorted) whose
    batch time range held nothing stored before it: there the stored readings are now the
    batch's own, first of equal times kept (`own_readings`), and need not be read back."""

    count: int
    own: I64


def insert_batch(conn: sqlite3.Connection, cols: Columns) -> Inserted:
    """Store readings in the caller's transaction.

    First write wins, deterministically: of equal (datastream, t) in the batch the first
    given is kept (stable sort), and a key already stored (found in the segments that reach
    into the batch's time range of that datastream: none when it only appends) is dropped."""
    cols = own_readings(cols)
    if not len(cols):
        return Inserted(0, np.zeros(0, np.int64))
    g = Groups.of(cols)
    lo, hi = cols.t[g.starts], cols.t[g.ends - 1]
    look = ~_only_appends(conn, g.ids, lo)
    own = np.ones(len(g.ids), bool)
    if look.any():
        stored = _stored_in_ranges(conn, g.ids[look], lo[look], hi[look])
        if len(stored):
            row = np.searchsorted(g.ids, stored.datastream)
            inside = (stored.t >= lo[row]) & (stored.t <= hi[row])
            own[np.unique(row[inside])] = False
            cols = cols.take(~_already_stored(cols, stored))
    if not len(cols):
        return Inserted(0, g.ids[own])
    rows = encode_segments(cols)
    small = [r for r in rows if r[3] < SMALL_APPEND]
    merged = _merge_small(conn, small) if small else set()
    copy_rows(conn, RECENT, _SEGMENT_COLUMNS, [r for r in rows if r[0] not in merged])
    _raise_high_water(conn, g.ids, hi)
    return Inserted(len(cols), g.ids[own])


def own_readings(cols: Columns) -> Columns:
    """Sorted, the first of equal (datastream, t) kept: what a batch may store."""
    cols = cols.sorted()
    ds, t = cols.datastream, cols.t
    repeated = (ds[1:] == ds[:-1]) & (t[1:] == t[:-1])
    return cols.take(np.r_[True, ~repeated]) if repeated.any() else cols


@dataclass
class _HighWater:
    """Each datastream's latest stored time as this connection last knew it (SQLite), while no
    other connection has committed since (`PRAGMA data_version` unchanged)."""

    version: int
    ids: I64  # sorted
    t1: I64


_high_water: PerConnection[_HighWater] = PerConnection()  # data_version counts per connection
_NEVER = np.iinfo(np.int64).min


def _only_appends(conn: sqlite3.Connection, ids: I64, lo: I64) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Which datastreams of a batch (ids sorted, lo their first times) surely only append after
    everything stored, so the batch need not look for stored duplicates: a gateway's batch of
    every datastream then costs no index probe. SQLite only, where this connection is the only
    writer while `data_version` stands still. A known time may only be too late (a batch rolled
    back, a reading deleted): then the lookup runs anyway. PostgreSQL: none (another server's
    commit is heard only between transactions)."""
    if dialect_of_conn(conn).postgres:
        return np.zeros(len(ids), bool)
    version = data_version(conn)
    known = _high_water.get(conn)
    if known is None or known.version != version:
        known = _high_water.set(conn, _HighWater(version, np.zeros(0, np.int64), np.zeros(0, np.int64)))
    new = ~np.isin(ids, known.ids)
    if new.any():  # their latest stored times, once: one index seek each
        seen_ids, seen_t = last_seen(conn, ids[new].tolist())
        t1 = np.full(int(new.sum()), _NEVER)
        t1[np.isin(ids[new], seen_ids)] = seen_t
        order = np.argsort(np.r_[known.ids, ids[new]], kind="stable")
        known.ids, known.t1 = np.r_[known.ids, ids[new]][order], np.r_[known.t1, t1][order]
    return lo > known.t1[np.searchsorted(known.ids, ids)]  # type: ignore[no-any-return]


def _raise_high_water(conn: sqlite3.Connection, ids: I64, hi: I64) -> None:
    """After a batch stored up to `hi` (ids sorted): what `_only_appends` will go by."""
    known = _high_water.get(conn)
    if known is None:
        return
    at = np.searchsorted(known.ids, ids)
    inside = at < len(known.ids)
    hit = np.zeros(len(ids), bool)
    hit[inside] = known.ids[at[inside]] == ids[inside]
    known.t1[at[hit]] = np.maximum(known.t1[at[hit]], hi[hit])


# Each listed datastream's segment of one table that ends last (it holds its latest reading
# there, last in its array: segments are written sorted and only later readings are merged in),
# one index seek each.
_LAST_SEGMENT = (" FROM json_each(?) AS j JOIN {seg} AS s INDEXED BY {end} ON s.datastream = CAST(j.value AS BIGINT)"
                 " AND s.t1 = (SELECT max(t1) FROM {seg} WHERE datastream = CAST(j.value AS BIGINT))")


def _last_segments(conn: sqlite3.Connection, datastreams: list[int]) -> list[tuple[int, int, int, int]]:
    """(datastream, segment id, t1, n) of each datastream's last recent segment."""
    return [(int(d), int(rowid), int(t1), int(n)) for d, rowid, t1, n in conn.execute(
        ("SELECT s.datastream, s.id, s.t1, s.n" + _LAST_SEGMENT).format(seg=RECENT, end=f"{RECENT}_end"),
        (orjson.dumps(datastreams).decode(),))]


def _merge_small(conn: sqlite3.Connection, small: list[tuple[int, int, int, int, str]]) -> set[int]:
    """Small appends (a trickle over MQTT or single STA posts) go into their datastream's last
    recent segment while it is short (one settled holds readings from before it, or none later), so a trickle does not leave one segment per reading; a longer
    tail is not rewritten (a day's trickle would rewrite it hundreds of times): the append
    starts a new segment, and compaction later merges the short ones. One statement for the
    batch, the arrays joined in the database (the tails' text is not read back)."""
    tails = {d: (rowid, t1, n) for d, rowid, t1, n in _last_segments(conn, [r[0] for r in small])}
    merged: set[int] = set()
    updates = []
    for d, t0, t1, n, data in small:  # one step per datastream, not per reading
        tail = tails.get(d)
        if tail is None or t0 <= tail[1] or tail[2] + n > SMALL_TAIL:
            continue
        updates.append((tail[0], t1, n, data[1:]))
        merged.add(d)
    if updates:
        conn.execute(
            "UPDATE observation_recent SET t1 = CAST(j.value ->> 1 AS BIGINT), n = n + CAST(j.value ->> 2 AS BIGINT),"
            " data = substr(data, 1, length(data) - 1) || ',' || (j.value ->> 3)"
            " FROM json_each(?) AS j WHERE observation_recent.id = CAST(j.value ->> 0 AS BIGINT)",
            (orjson.dumps(updates).decode(),))
    return merged


def last_seen(conn: sqlite3.Connection, datastreams: list[int] | None = None) -> tuple[I64, I64]:
    """The latest reading time of each datastream that has readings (one index seek each)."""
    if datastreams is None:
        rows = conn.execute(*in_both("SELECT datastream, max(t1) FROM {seg} GROUP BY datastream")).fetchall()
    else:
        rows = conn.execute(*in_both(
            "SELECT CAST(j.value AS BIGINT), (SELECT max(t1) FROM {seg} WHERE datastream = CAST(j.value AS BIGINT))"
            " FROM json_each(?) AS j", (orjson.dumps(sorted(set(datastreams))).decode(),))).fetchall()
    found = np.array([(int(d), int(t)) for d, t in rows if t is not None], np.int64).reshape(-1, 2)
    latest = Columns.of(found[:, 0], found[:, 1], np.zeros(len(found))).sorted()  # each table's, by time
    last = np.r_[latest.datastream[1:] != latest.datastream[:-1], True] if len(latest) else np.zeros(0, bool)
    return latest.datastream[last], latest.t[last]


def latest_readings(conn: sqlite3.Connection, datastreams: list[int]) -> Columns:
    """Each datastream's latest reading (those with none are left out), sorted by datastream:
    one index seek per datastream and the last pair of its last segment, read by SQLite's JSON
    path without parsing the segment. For a live map, not `ORDER BY t DESC LIMIT 1` over the
    view, which expands every segment of the datastream."""
    if not datastreams:
        return Columns.of([], [], [])
    d = dialect_of_conn(conn)
    rows = conn.execute(*in_both(
        f"SELECT s.datastream, {d.json_last_item('s.data', 0)}, {d.json_last_item('s.data', 1)}"
        + _LAST_SEGMENT + " WHERE s.n > 0", (orjson.dumps(sorted(set(datastreams))).decode(),))).fetchall()
    cols = Columns.of([r[0] for r in rows], [int(float(r[1])) for r in rows],
                      [np.nan if r[2] is None else float(r[2]) for r in rows]).sorted()
    last = np.r_[cols.datastream[1:] != cols.datastream[:-1], True] if len(cols) else np.zeros(0, bool)
    return cols.take(last)  # of each datastream's last settled and last recent segment, the later


def read_columns(conn: sqlite3.Connection, datastreams: list[int], start_ms: int, end_ms: int) -> Columns:
    """Readings of these datastreams with start <= t < end, sorted: the one read of the store
    that detectors, the warning model and reports share (SQL readers use the view)."""
    if not datastreams or end_ms <= start_ms:
        return Columns.of([], [], [])
    ids = np.array(sorted(set(datastreams)), np.int64)
    return read_ranges(conn, ids, np.full(len(ids), start_ms), np.full(len(ids), end_ms - 1))


def read_ranges(conn: sqlite3.Connection, ids: I64, lo: I64, hi: I64) -> Columns:
    """Readings of each datastream ids[i] with lo[i] <= t <= hi[i] (ids sorted, distinct)."""
    cols = _stored_in_ranges(conn, ids, lo, hi)
    if not len(cols):
        return cols
    row = np.searchsorted(ids, cols.datastream)
    return cols.take((cols.t >= lo[row]) & (cols.t <= hi[row]))


def change_reading(conn: sqlite3.Connection, datastream: int, t: int, result: float | None) -> bool:
    """Set one stored reading's result, or delete it (`result` None), rewriting its segment;
    False when no reading is stored at (datastream, t)."""
    for _ in range(3):  # again when its segment was settled meanwhile (another server's)
        for table in SEGMENT_TABLES:
            changed = _change_in(conn, table, datastream, t, result)
            if changed is not None:
                if changed:
                    return True
                break
        else:
            return False
    return False


def _change_in(conn: sqlite3.Connection, table: str, datastream: int, t: int, result: float | None) -> bool | None:
    """change_reading in one table: None when no segment there holds t; False when the one that
    did was gone when it was written (settled by another server in between)."""
    for seg, n, data in conn.execute(
            f"SELECT id, n, data FROM {table} INDEXED BY {table}_end"  # noqa: S608
            " WHERE datastream = ? AND t1 >= ? AND t0 <= ?", (datastream, t, t)).fetchall():
        cols = decode_segments([(datastream, n, data)])
        hit = cols.t == t
        if not hit.any():
            continue  # an overlapping segment (a late batch) without this time
        if result is None and len(cols) == 1:
            done = conn.execute(f"DELETE FROM {table} WHERE id = ?", (seg,)).rowcount  # noqa: S608
        else:
            cols = Columns(cols.datastream, cols.t, np.where(hit, result, cols.result), True) \
                if result is not None else cols.take(~hit)
            (_, t0, t1, count, text), = encode_segments(cols)
            done = conn.execute(f"UPDATE {table} SET t0 = ?, t1 = ?, n = ?, data = ? WHERE id = ?",  # noqa: S608
                                (t0, t1, count, text, seg)).rowcount
        if done and result is None:
            forget_reading(conn, datastream, t)
        return bool(done)
    return None


def set_result_times(conn: sqlite3.Connection, times: list[tuple[int, int, int | None]]) -> None:
    """Readings' SensorThings resultTime (migration 0022): (datastream, t ms, µs or None) each;
    None forgets it (the reading reads resultTime null)."""
    _set_member(conn, "result_time", times)


def set_features(conn: sqlite3.Connection, features: list[tuple[int, int, int | None]]) -> None:
    """Readings' own FeatureOfInterest (migration 0022): (datastream, t ms, feature id or None);
    None: the reading has its Datastream's."""
    _set_member(conn, "feature_id", features)


def _set_member(conn: sqlite3.Connection, column: str, rows: list[tuple[int, int, int | None]]) -> None:
    if not rows:
        return
    conn.executemany(f"INSERT INTO sta_observation (datastream, t, {column}) VALUES (?, ?, ?)"  # noqa: S608
                     f" ON CONFLICT (datastream, t) DO UPDATE SET {column} = excluded.{column}", rows)
    if any(v is None for *_, v in rows):  # a row with neither member says nothing: gone
        conn.executemany("DELETE FROM sta_observation WHERE datastream = ? AND t = ? AND result_time IS NULL"
                         " AND feature_id IS NULL", [(d, t) for d, t, v in rows if v is None])


def forget_reading(conn: sqlite3.Connection, datastream: int, t: int) -> None:
    """A deleted reading's SensorThings members go with it."""
    conn.execute("DELETE FROM sta_observation WHERE datastream = ? AND t = ?", (datastream, t))


def delete_datastreams(conn: sqlite3.Connection, ids: list[int]) -> None:
    """Delete datastreams with their readings and speed profiles (SensorThings' integrity rule:
    a Datastream's Observations go with it)."""
    if not ids:
        return
    arg = orjson.dumps(ids).decode()
    for table, column in ((SETTLED, "datastream"), (RECENT, "datastream"), ("sta_observation", "datastream"),
                          ("speed_profile", "datastream"), ("sta_datastream", "id")):
        conn.execute(f"DELETE FROM {table} WHERE {column} IN (SELECT value FROM json_each(?))", (arg,))  # noqa: S608
    bump(conn, {"datastream_version": 1, "profile_version": 1})


# Speed profiles (migration 0009) ----------------------------------------------------------

_profile_cache: dict[str, tuple[int, SpeedProfile | None]] = {}


def save_profile(conn: sqlite3.Connection, profile: SpeedProfile) -> None:
    """Replace the stored speed profiles with this set (one row per detector)."""
    conn.execute("DELETE FROM speed_profile")
    typical = profile.typical.reshape(len(profile.datastream), -1)
    conn.executemany("INSERT INTO speed_profile VALUES (?, ?, ?, ?, ?, ?)", [
        (d, str(seg), ff, orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY).decode(), profile.slot_ms,
         profile.utc_offset_ms)
        for d, seg, ff, row in zip(profile.datastream.tolist(), profile.segment.tolist(),
                                   profile.free_flow.tolist(), typical, strict=True)])
    bump(conn, {"profile_version": 1})


def speed_profile(conn: sqlite3.Connection) -> SpeedProfile | None:
    """The stored speed profiles (cached per database until they are saved again)."""
    version = counter(conn, "profile_version")
    key = _db_key(conn)
    cached = _profile_cache.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    rows = conn.execute("SELECT datastream, segment, free_flow, typical, slot_ms, utc_offset_ms"
                        " FROM speed_profile ORDER BY datastream").fetchall()
    profile = None
    if rows:
        typical = np.array([orjson.loads(r[3]) for r in rows], np.float64)  # one row per detector
        profile = SpeedProfile(np.array([r[0] for r in rows], np.int64), np.array([r[2] for r in rows], np.float64),
                               typical.reshape(len(rows), 2, -1), np.array([r[1] for r in rows], object),
                               int(rows[0][4]), int(rows[0][5]))
    _profile_cache[key] = (version, profile)
    return profile


# Registration ------------------------------------------------------------------------------

@dataclass(frozen=True)
class DatastreamSpec:
    """A sensor to register: one Thing at one Location with one Datastream."""

    name: str
    description: str
    kind: str  # water_depth, speed, rain, other
    lon: float
    lat: float
    sensor: tuple[str, str]  # name, description
    observed_property: tuple[str, str]  # name, definition
    unit: dict[str, str]
    point: str | None = None
    grid: str | None = None
    district: str | None = None
    yellow: float | None = None
    red: float | None = None
    properties: dict[str, Any] | None = None


def _named(conn: sqlite3.Connection, table: str, name: str, insert: str, args: tuple[Any, ...]) -> int:
    row = conn.execute(f"SELECT id FROM {table} WHERE name = ?", (name,)).fetchone()  # noqa: S608 - our table names
    if row:
        return int(row[0])
    return int(conn.execute(insert, args).lastrowid or 0)


def register(conn: sqlite3.Connection, spec: DatastreamSpec) -> int:
    """Create Thing, Location, FeatureOfInterest and Datastream (Sensor and ObservedProperty
    shared by name); returns the datastream id."""
    props = orjson.dumps(spec.properties or {}).decode()
    thing = conn.execute("INSERT INTO sta_thing (name, description, properties) VALUES (?, ?, ?)",
                         (spec.name, spec.description, props)).lastrowid
    loc = conn.execute("INSERT INTO sta_location (name, description, lon, lat) VALUES (?, ?, ?, ?)",
                       (spec.name, spec.description, spec.lon, spec.lat)).lastrowid
    conn.execute("INSERT INTO sta_thing_location (thing_id, location_id) VALUES (?, ?)", (thing, loc))
    hl = conn.execute("INSERT INTO sta_historical_location (thing_id, time) VALUES (?, ?)",
                      (thing, int(time.time() * 1000))).lastrowid
    conn.execute("INSERT INTO sta_historical_location_location VALUES (?, ?)", (hl, loc))
    foi = conn.execute("INSERT INTO sta_feature (name, description, lon, lat) VALUES (?, ?, ?, ?)",
                       (spec.point or spec.name, spec.description, spec.lon, spec.lat)).lastrowid
    sensor = _named(conn, "sta_sensor", spec.sensor[0],
                    "INSERT INTO sta_sensor (name, description) VALUES (?, ?)", spec.sensor)
    prop = _named(conn, "sta_observed_property", spec.observed_property[0],
                  "INSERT INTO sta_observed_property (name, definition) VALUES (?, ?)", spec.observed_property)
    ds = conn.execute(
        "INSERT INTO sta_datastream (name, description, thing_id, sensor_id, observed_property_id, feature_id,"
        " unit, kind, point, grid, district, lon, lat, yellow, red) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (spec.name, spec.description, thing, sensor, prop, foi, orjson.dumps(spec.unit).decode(), spec.kind,
         spec.point, spec.grid, spec.district, spec.lon, spec.lat, spec.yellow, spec.red),
    ).lastrowid
    bump(conn, {"datastream_version": 1})
    return int(ds or 0)


def set_owner(conn: sqlite3.Connection, ids: list[int], owner: str | None) -> int:
    """Give these datastreams to a sensor user (None: unowned); returns how many exist."""
    n = conn.execute("UPDATE sta_datastream SET owner = ? WHERE id IN (SELECT value FROM json_each(?))",
                     (owner, orjson.dumps(ids).decode())).rowcount
    bump(conn, {"datastream_version": 1})
    return int(n)


def datastreams_of_kind(conn: sqlite3.Connection, kind: str) -> list[tuple[int, str]]:
    return [(int(r[0]), str(r[1] or "")) for r in
            conn.execute("SELECT id, point FROM sta_datastream WHERE kind = ? ORDER BY id", (kind,))]
