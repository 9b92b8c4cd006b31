"""Observation intake: NDJSON and Arrow IPC batches → columns → detectors → durable store.

Parsing and validation run where the request arrives (no storage); `ingest` runs in the
write transaction (the server's write process): it refuses readings of unknown datastreams,
stores the rest sorted by (datastream, t), runs the waterlogging and congestion detectors over
the batch and opens or joins cases, all in one transaction: an acknowledged batch is on disk, a failed one
leaves nothing behind.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from cityops import hooks
from cityops.detect.cases import open_or_join_cases
from cityops.detect.columns import I64, MS_PER_HOUR, Columns, Detection, Groups
from cityops.detect.congestion import detect_congestion, jammed
from cityops.detect.waterlogging import detect_waterlogging
from cityops.errors import InvalidInput
from cityops.sensing.compact import settle
from cityops.sensing.plausible import bounds_table, implausible, per_datastream
from cityops.sensing.store import (
    EPOCH_MS,
    MAX_DATASTREAM,
    DatastreamMeta,
    bump,
    datastream_meta,
    insert_batch,
    own_readings,
    read_ranges,
    speed_profile,
)
from cityops.timebounds import DEFAULT_READINGS_PAST_DAYS, TimeWindow

if TYPE_CHECKING:
    from cityops.core import Platform

MAX_REASONS = 100  # examples kept in an answer; the counts are always complete
# Readings' times: at most a few minutes ahead of the server's clock, at most the city's window
# back (`cityops.timebounds`; the server passes the city's settings, this is the default).
READINGS_WINDOW = TimeWindow(past=timedelta(days=DEFAULT_READINGS_PAST_DAYS))
NDJSON = "application/x-ndjson"
ARROW = "application/vnd.apache.arrow.stream"


@dataclass
class Rejects:
    """Refused readings: a count per reason and the first examples (line/row numbers from 1)."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, row: int, reason: str, detail: str = "") -> None:
        self.counts[reason] += 1
        if len(self.examples) < MAX_REASONS:
            self.examples.append({"row": row, "reason": reason, **({"detail": detail} if detail else {})})

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class ReadingRefused(InvalidInput):
    """One reading refused (a single SensorThings Observation): a 422 naming the reason. The
    write transaction that found it rolls back, so the caller counts it with `count_refused`."""

    def __init__(self, reason: str, message_en: str, message_zh: str = "") -> None:
        super().__init__(message_en, message_zh)
        self.reason = reason

    def __reduce__(self) -> tuple[type[ReadingRefused], tuple[str, str, str]]:  # type: ignore[override]
        return type(self), (self.reason, self.message_en, self.message_zh)

    @staticmethod
    def of(rejects: Rejects) -> ReadingRefused:
        first = rejects.examples[0]
        return ReadingRefused(first["reason"], f"observation refused: {first}",
                              f"观测数据被拒绝（{first['reason']}）：{first.get('detail', '')}")


def check_plausible(repo: Any, datastream: int, value: Any) -> None:
    """A changed reading (a SensorThings PATCH of an Observation's result) is held to the same
    bounds as a new one: ReadingRefused("implausible") when outside them."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return  # not a number: the caller refuses it with its own message
    meta = datastream_meta(repo.conn)
    low, high = per_datastream(meta.ids, meta.kinds, bounds_table(repo))
    if 0 <= datastream < len(low) and implausible(np.array([datastream]), np.array([float(value)]), low, high)[0]:
        raise ReadingRefused("implausible", f"observation refused: result {value!r} of datastream {datastream} is "
                             f"outside the plausible range [{low[datastream]:g}, {high[datastream]:g}]",
                             f"观测数据被拒绝：数据流 {datastream} 的读数 {value!r} 超出合理范围"
                             f" [{low[datastream]:g}, {high[datastream]:g}]")


def count_refused(repo: Any, platform: Any, reason: str) -> None:
    """Write op: count one refused reading whose own transaction rolled back."""
    bump(repo.conn, {f"rejected:{reason}": 1})


@dataclass
class IngestResult:
    accepted: int  # valid readings acknowledged (new or duplicate)
    stored: int  # new readings
    duplicates: int  # readings whose (datastream, phenomenonTime) was already stored
    rejects: Rejects
    detections: list[Detection]
    cases_opened: list[int]
    cases_joined: list[int]
    # Per reading as given to `ingest` (its order): refused there (unknown, not the writer's,
    # implausible, out of the time window). Callers that answer per reading read it.
    refused: np.ndarray[Any, np.dtype[np.bool_]] = field(default_factory=lambda: np.zeros(0, bool))

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted, "stored": self.stored, "duplicates": self.duplicates,
            "rejected": self.rejects.total, "rejected_by_reason": dict(self.rejects.counts),
            "reasons": self.rejects.examples,
            "detections": len(self.detections), "cases_opened": self.cases_opened,
            "cases_joined": sorted(set(self.cases_joined)),
        }


# Parsing -----------------------------------------------------------------------------------

def parse_time(value: Any) -> int | None:
    """ISO 8601 with a zone (or Z) → ms since the epoch; None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value.split("/", 1)[0])  # an interval: its start
    except ValueError:
        return None
    if dt.tzinfo is None:
        return None
    return int(dt.timestamp() * 1000)


def _range(now_ms: int, window: TimeWindow | None) -> tuple[int, int, str]:
    """The allowed [low, high] ms for readings at `now_ms`, and the rule in words."""
    w = window or READINGS_WINDOW
    lo, hi = w.bounds_ms(now_ms)
    return max(lo, EPOCH_MS), hi, w.allowed(datetime.fromtimestamp(now_ms / 1000, UTC))


def parse_ndjson(body: bytes, now_ms: int, window: TimeWindow | None = None) -> tuple[Columns, Rejects]:
    """One `{"datastream", "phenomenonTime", "result"}` object per line; blank lines skipped;
    times outside the window (`READINGS_WINDOW` by default) refused."""
    rejects = Rejects()
    allowed = _range(now_ms, window)
    ds: list[int] = []
    ts: list[int] = []
    rs: list[float] = []
    for n, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            rejects.add(n, "malformed_json", str(exc))
            continue
        if not isinstance(obj, dict):
            rejects.add(n, "not_an_object")
            continue
        reading = _reading(obj, n, rejects, allowed)
        if reading is not None:
            ds.append(reading[0])
            ts.append(reading[1])
            rs.append(reading[2])
    return Columns.of(ds, ts, rs), rejects


def _reading(obj: dict[str, Any], n: int, rejects: Rejects,
             allowed: tuple[int, int, str]) -> tuple[int, int, float] | None:
    d = obj.get("datastream", obj.get("Datastream"))
    if isinstance(d, dict):  # {"@iot.id": 3}, as SensorThings writes it
        d = d.get("@iot.id")
    if not isinstance(d, int) or isinstance(d, bool) or not 0 < d <= MAX_DATASTREAM:
        rejects.add(n, "bad_datastream", repr(d)[:80])
        return None
    t = parse_time(obj.get("phenomenonTime"))
    if t is None:
        rejects.add(n, "bad_time", repr(obj.get("phenomenonTime"))[:80])
        return None
    if not allowed[0] <= t <= allowed[1]:
        rejects.add(n, "time_out_of_range", f"phenomenonTime {obj.get('phenomenonTime')!r:.80} not in {allowed[2]}")
        return None
    r = obj.get("result")
    if isinstance(r, bool) or not isinstance(r, int | float) or not math.isfinite(r):
        rejects.add(n, "bad_result", repr(r)[:80])
        return None
    return d, t, float(r)


def parse_arrow(body: bytes, now_ms: int, window: TimeWindow | None = None) -> tuple[Columns, Rejects]:
    """An Arrow IPC stream with columns datastream (integer), phenomenonTime (timestamp, or
    ISO 8601 strings) and result (number); nulls and bad values are refused per row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        table = pa.ipc.open_stream(pa.py_buffer(body)).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"not an Arrow IPC stream: {exc}", "不是有效的 Arrow IPC 数据流") from None
    missing = [c for c in ("datastream", "phenomenonTime", "result") if c not in table.column_names]
    if missing:
        raise InvalidInput(f"Arrow stream lacks column(s) {', '.join(missing)}", f"Arrow 数据缺少列 {', '.join(missing)}")
    rejects = Rejects()
    n = table.num_rows
    try:
        ds = pc.cast(table["datastream"].fill_null(0), pa.int64()).to_numpy(zero_copy_only=False)
        result = pc.cast(table["result"], pa.float64()).fill_null(math.nan).to_numpy(zero_copy_only=False)
    except pa.ArrowException as exc:  # invalid values, or a column type with no cast to ours
        raise InvalidInput(f"datastream must be integers and result numbers: {exc}",
                           "datastream 须为整数，result 须为数值") from None
    ds_null = _nulls(table["datastream"])
    t = _arrow_times(table["phenomenonTime"], pa, pc)
    lo, hi, _ = _range(now_ms, window)
    bad = {
        "bad_datastream": ds_null | (ds <= 0) | (ds > MAX_DATASTREAM),
        "bad_time": t == np.iinfo(np.int64).min,
        "time_out_of_range": (t != np.iinfo(np.int64).min) & ((t < lo) | (t > hi)),
        "bad_result": _nulls(table["result"]) | ~np.isfinite(result),
    }
    refused = np.zeros(n, bool)
    for reason, mask in bad.items():  # first reason wins, in this order
        rows = np.flatnonzero(mask & ~refused)
        for row in rows[:MAX_REASONS].tolist():
            rejects.add(row + 1, reason)
        if len(rows) > MAX_REASONS:
            rejects.counts[reason] += len(rows) - MAX_REASONS
        refused |= mask
    keep = ~refused
    if keep.all():
        return Columns.of(ds, t, result), rejects
    return Columns.of(ds[keep], t[keep], result[keep]), rejects


def _nulls(column: Any) -> np.ndarray[Any, np.dtype[np.bool_]]:
    import pyarrow.compute as pc

    if column.null_count == 0:
        return np.zeros(len(column), bool)
    return pc.is_null(column).to_numpy(zero_copy_only=False)  # type: ignore[no-any-return]


def _arrow_times(column: Any, pa: Any, pc: Any) -> np.ndarray[Any, np.dtype[np.int64]]:
    """ms since the epoch; int64 min where the value is missing or not a time with a zone."""
    missing = np.iinfo(np.int64).min
    if pa.types.is_timestamp(column.type):
        if column.type.tz is None:
            raise InvalidInput("phenomenonTime timestamps need a time zone (e.g. UTC)", "phenomenonTime 须带时区")
        ms = pc.cast(column, pa.timestamp("ms", tz="UTC")).cast(pa.int64())
        return np.where(_nulls(column), missing, ms.fill_null(0).to_numpy(zero_copy_only=False)).astype(np.int64)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        try:  # Arrow's own ISO 8601 parser, in C; it refuses times without a zone
            ms = pc.cast(column, pa.timestamp("ms", tz="UTC")).cast(pa.int64())
            return np.where(_nulls(column), missing, ms.fill_null(0).to_numpy(zero_copy_only=False)).astype(np.int64)
        except pa.ArrowInvalid:  # some row is not such a time: find which, row by row
            pass
        values = column.to_pylist()
        parsed = [parse_time(v) for v in values]
        return np.array([missing if p is None else p for p in parsed], np.int64)
    raise InvalidInput("phenomenonTime must be a timestamp or ISO 8601 strings", "phenomenonTime 须为时间戳或 ISO 8601 字符串")


# The write-transaction side ---------------------------------------------------------------

def ingest(repo: Any, platform: Platform | None, cols: Columns, rejects: Rejects | None = None,
           now: datetime | None = None, detect: bool = True, *, window: TimeWindow | None = None,
           writer: str | None = None, own_only: bool = False, sent_by: str | None = None) -> IngestResult:
    """Store parsed readings (a module-level op for `platform.awrite(ingest, cols, rejects, now)`).

    Refused, per reading and counted: unknown datastreams; with a `writer` (a sensor user),
    datastreams another user owns (`own_only`, a gateway over MQTT: every one it does not own);
    with a `window`, times outside it; always, results outside their kind's plausible bounds.
    The rest are stored (first write wins on (datastream, phenomenonTime)); gauges' readings go
    through the waterlogging detector and traffic detectors' through the congestion detector
    (`batch_congestion`), whose detections open or join cases when `platform` is given. One
    transaction: the caller's. A case opened names `sent_by` (or `writer`): the user whose
    readings caused it.
    """
    from cityops.core import utcnow

    now = now or utcnow()
    rejects = rejects or Rejects()
    conn = repo.conn
    meta = datastream_meta(conn)
    refused = _screen(repo, meta, cols, rejects, now, window, writer, own_only)
    if refused.any():
        cols = cols.take(~refused)
    cols = cols.sorted()
    # Two servers storing readings of one datastream take turns: duplicates, detections and the
    # cases they open are decided on what the other committed.
    settle(repo)  # first, when the recent segments are many (it takes only stripes nobody holds)
    repo.lock("datastream", np.unique(cols.datastream).tolist())
    inserted = insert_batch(conn, cols)
    stored = inserted.count
    detections = detect_waterlogging(cols, meta.gauges) if detect and len(meta.gauges.datastream) else []
    if detect:
        detections += batch_congestion(conn, cols, inserted.own)
    opened: list[int] = []
    joined: list[int] = []
    if detections and platform is not None:
        outcome = open_or_join_cases(repo, platform, detections, now, sent_by or writer)
        opened, joined = outcome.opened, outcome.joined
    bump(conn, {"accepted": len(cols), "stored": stored, "duplicates": len(cols) - stored,
                **{f"rejected:{k}": v for k, v in rejects.counts.items()}})
    if len(cols) or rejects.total:  # the batch's summary on the event stream, if one is configured
        hooks.event(repo, "readings.batch", "readings", {
            "accepted": len(cols), "stored": stored, "duplicates": len(cols) - stored,
            "rejected": rejects.total, "datastreams": len(np.unique(cols.datastream)),
            "first_ms": int(cols.t.min()) if len(cols) else None, "last_ms": int(cols.t.max()) if len(cols) else None,
            "detections": len(detections), "cases_opened": opened, "cases_joined": sorted(set(joined))})
    return IngestResult(len(cols), stored, len(cols) - stored, rejects, detections, opened, joined, refused)


def ingest_client(repo: Any, platform: Platform | None, cols: Columns, rejects: Rejects | None = None,
                  now: datetime | None = None, writer: str | None = None, own_only: bool = False,
                  sent_by: str | None = None) -> IngestResult:
    """A client's readings (HTTP batch, SensorThings, MQTT): `ingest` with the city's time window
    for readings (its settings read here, in the write transaction), the writer's ownership
    (`writer`: a sensor user; None for an admin) and who sent them, named on the cases."""
    from cityops.timebounds import window

    return ingest(repo, platform, cols, rejects, now, window=window(repo, readings=True), writer=writer,
                  own_only=own_only, sent_by=sent_by)


def _screen(repo: Any, meta: DatastreamMeta, cols: Columns, rejects: Rejects, now: datetime,
            window: TimeWindow | None, writer: str | None, own_only: bool,
            why: np.ndarray[Any, np.dtype[Any]] | None = None) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Which readings to refuse (whole columns at once); each refusal counted in `rejects`
    under the first reason that applies, in this order, and written into `why` when given
    (the gathered single readings answer each caller with its own reason)."""
    refused = np.zeros(len(cols), bool)
    if not len(cols):
        return refused
    ds, r = cols.datastream, cols.result
    known = meta.known(ds)
    checks: list[tuple[str, np.ndarray[Any, np.dtype[np.bool_]], Any]] = [("unknown_datastream", ~known, None)]
    if writer is not None and len(meta.ids):  # decided per datastream, then gathered per reading
        mine = meta.owners == writer
        may = np.zeros(len(meta.present), bool)
        may[meta.ids] = mine if own_only else mine | (meta.owners == None)  # noqa: E711
        checks.append(("not_owner", known & ~may[np.where(known, ds, 0)], writer))
    if window is not None:
        now_ms = int(now.timestamp() * 1000)
        checks.append(("time_out_of_range", window.outside_ms(cols.t, now_ms), window.allowed(now)))
    table = bounds_table(repo)
    low, high = per_datastream(meta.ids, meta.kinds, table)
    checks.append(("implausible", known & implausible(np.where(known, ds, 0), r, low, high), (low, high)))
    for reason, mask, about in checks:
        rows = np.flatnonzero(mask & ~refused)
        if why is not None:
            why[rows] = reason
        for row in rows[:MAX_REASONS].tolist():
            rejects.add(row + 1, reason, _detail(reason, int(ds[row]), int(cols.t[row]), float(r[row]), about))
        if len(rows) > MAX_REASONS:
            rejects.counts[reason] += len(rows) - MAX_REASONS
        refused |= mask
    return refused


def _detail(reason: str, d: int, t: int, r: float, about: Any) -> str:
    """The example's words: the datastream and what was wrong with it, with the allowed range."""
    if reason == "unknown_datastream":
        return str(d)
    # The datastream and the time find the reading in the batch (rows here count the batch
    # as sorted by datastream and time, not its lines).
    at = datetime.fromtimestamp(t / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if reason == "not_owner":
        return f"datastream {d} at {at}: the datastream does not belong to {about}"
    if reason == "time_out_of_range":
        return f"datastream {d}: phenomenonTime {at} not in {about}"
    low, high = about
    return f"datastream {d} at {at}: result {r!r} outside the plausible range [{low[d]:g}, {high[d]:g}]"


CONGESTION_LOOKBACK_MS = 2 * MS_PER_HOUR  # stored speeds read before a batch's first one


def batch_congestion(conn: Any, cols: Columns, own: I64 | None = None) -> list[Detection]:
    """The congestion detector over a batch's speed readings (after they are stored): each
    detector's readings in the batch with its stored ones of the two hours before (so that
    persistence spans batches: one reading per detector every 5 minutes is the usual feed),
    against its stored profile; the episodes that reach into the batch. The two hours are read
    only for detectors whose first reading in the batch's span is congested: for the others no
    earlier episode can reach into it (tests/test_congestion_batches.py). `own`: detectors whose
    stored readings in the batch's span are the batch's own (`Inserted.own`), not read back."""
    profile = speed_profile(conn)
    if profile is None:
        return []
    _, known = profile.index(cols.datastream)
    if not known.any():
        return []
    mine = cols.take(known).sorted()
    g = Groups.of(mine)
    first = mine.t[g.starts]
    last = mine.t[g.ends - 1]
    kept = np.isin(g.ids, own) if own is not None else np.zeros(len(g.ids), bool)
    span = own_readings(mine.take(np.isin(mine.datastream, g.ids[kept])))
    if not kept.all():  # as stored: the first write won
        span = _together(span, read_ranges(conn, g.ids[~kept], first[~kept], last[~kept]))
    # An episode that reaches into the batch from before it runs through the first reading of
    # the batch's span: only detectors jammed there need the look-back (most batches: none).
    sg = Groups.of(span)
    start = span.t[sg.starts]
    back = jammed(Columns.of(sg.ids, start, span.result[sg.starts]), profile)
    before = read_ranges(conn, sg.ids[back], start[back] - CONGESTION_LOOKBACK_MS, start[back] - 1)
    recent = _together(before, span)
    since = dict(zip(g.ids.tolist(), first.tolist(), strict=True))
    return [d for d in detect_congestion(recent, profile) if d.detail["ended_at"] >= since[d.datastream]]


def _together(a: Columns, b: Columns) -> Columns:
    """Two sets of readings as one, sorted (of equal keys, a's first)."""
    return Columns(np.concatenate([a.datastream, b.datastream]), np.concatenate([a.t, b.t]),
                   np.concatenate([a.result, b.result])).sorted()


def sweep_silent(repo: Any, platform: Platform, now: datetime, silent_minutes: int = 30) -> IngestResult:
    """Write op: a device-fault case (or a join) for every gauge that has reported before but
    not in the last `silent_minutes`."""
    from cityops.detect.waterlogging import FaultRules, detect_silent
    from cityops.sensing.store import last_seen

    meta = datastream_meta(repo.conn)
    ids, seen = last_seen(repo.conn, meta.gauges.datastream.tolist())
    rules = FaultRules(silent_after_ms=silent_minutes * 60_000)
    found = detect_silent(ids, seen, meta.gauges, int(now.timestamp() * 1000), rules)
    outcome = open_or_join_cases(repo, platform, found, now)
    return IngestResult(0, 0, 0, Rejects(), found, outcome.opened, outcome.joined)


def ingest_columns(platform: Platform, cols: Columns, now: datetime | None = None) -> IngestResult:
    """Outside the server (a simulator, the CLI): store readings through the platform's own
    writer, with detection and cases, at `now` (simulated times welcome)."""
    return platform.store.write(lambda repo: ingest(repo, platform, cols, None, now))  # type: ignore[no-any-return]
