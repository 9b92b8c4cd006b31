"""A megacity's day (issue #20): one simulated day of a city ten times Wuhan's size, replayed
end to end through the real paths, as fast as the machine allows.

- 12,000 water gauges and 2,000 traffic detectors, registered with the code's own registry
  functions, one reading a minute for 1,440 simulated minutes (about 20 million readings), sent
  to a real `cityops serve` as Arrow IPC batches over HTTP (all datastreams, 7 simulated
  minutes per batch: about 100,000 readings at full scale; two batches in flight per server;
  with several servers, one gateway per server, each sending its own blocks of datastreams). Quiet almost everywhere; a storm in
  three districts in the afternoon floods some gauges (waterlogging detector, cases) and slows
  some roads (congestion detector against the detectors' stored profiles, cases).
- 13,000 citizen reports, each taken round the loop over the HTTP API (report, register,
  dispatch, accept, report back, verify and close) by 24 client threads per server, while the
  readings flow; every case the detectors opened goes round the same loop once the readings are
  in, beside the reports still going (24 crew threads per server, with an after-photo where the
  matter is verified on site). Each report is one request; the
  workflow steps go as a department's system and the workbench's multi-select send them, in
  batches (POST /api/v1/cases/actions): a thread reports up to 200 cases, then sends step k of
  every case it holds, then step k+1, … (photos still one upload per case). `--per-step` takes
  one request per step instead (POST /api/v1/cases/{id}/actions/{action}).
- A warning for the storm's districts drafted, approved, issued and acknowledged by each
  district when the storm begins, and cancelled when it ends.
- Publishing on (`cityops stream --nats`, a stream and subject root of the benchmark's own):
  every case step, detection, warning and reading batch goes through the outbox to NATS
  JetStream on 127.0.0.1:4222. The day ends when the outbox is drained.

Printed, each beside a baseline of the same run:
- megacity_day_s: the whole day's wall time (first batch sent → last event acknowledged by
  JetStream) against the issue's goal (60 s SQLite, 120 s PostgreSQL with two servers),
  scaled by --scale; a ratio ≤ 1 meets the goal.
- megacity_readings_per_s: stored readings / the reading phase's wall time (reports and
  workflow running beside it), against a raw insert of the same rows into the same kind of
  store in the same run: the store's own segments (its encoding; executemany in SQLite, COPY in
  PostgreSQL), one transaction per batch, with no parsing, checks or detectors, measured on the
  first batches (up to 2 million rows) before the day.
- megacity_readings_per_s_of_copy (PostgreSQL only): the same figure against PostgreSQL's
  fastest way in for the same readings, a binary COPY of them as plain (datastream, t, result)
  rows into a table without indexes (what #19's ingest goal is measured against).
- megacity_events_per_s: events published / the day's wall time, against nats-py publishing
  the very same subjects and payloads (pipelined, 500 PubAcks in flight, as the publisher
  does) to a scratch stream after the day. The first is bounded by how fast the day makes
  events, the second by NATS alone.

Run: `.venv/bin/python benchmarks/run.py megacity` (SQLite full scale, then PostgreSQL with
two servers when $CITYOPS_BENCH_PG answers), or
`.venv/bin/python benchmarks/bench_megacity.py --db sqlite|postgresql --servers 1|2 --scale 0.1`.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bench_ingest import arrow_body
from harness import Row, Server, count, fresh_postgres, prepared_db, print_rows, serve, stop

NATS = os.environ.get("CITYOPS_BENCH_NATS", "nats://127.0.0.1:4222")
GAUGES, DETECTORS, REPORTS, MINUTES = 12_000, 2_000, 13_000, 1_440
BATCH_MINUTES = 7  # simulated minutes of every datastream per Arrow batch (a gateway's few minutes)
GOAL_S = {"sqlite": 60.0, "postgresql": 120.0}
MIN_MS, DAY_MS, TZ_MS = 60_000, 86_400_000, 8 * 3_600_000
STORM = (14 * 60, 19 * 60)  # local minutes of the day: the water rises from 14:00, gone by 19:00
JAM = (15 * 60, 17 * 60)  # the storm's roads slow down
MATTERS = ("07002", "07004", "08011", "09003", "09014", "09018")  # closed without an on-site photo
WORKERS = 24  # report threads per server (--workers): 24 closed the loop faster than 8 here
RAW_SAMPLE_ROWS = 2_000_000
BATCH_STEPS = 200  # workflow steps per batch request (the route takes up to 500)
RETRIES = 5  # a gateway's tries of a batch refused with 503 (retry later)
GATEWAY_BLOCK = 64  # datastream ids a gateway owns in a row (as store.sqlite.LOCK_BLOCK groups them)
STEPS: list[tuple[str, dict[str, Any]]] = [
    ("register", {}), ("dispatch", {}), ("accept", {}), ("report_back", {"reason": "已处置 / handled"})]


@dataclass
class City:
    """The registered megacity: datastream ids, who floods, where reports come from."""

    gauges: np.ndarray
    detectors: np.ndarray
    storm_gauges: np.ndarray  # bool per gauge
    peak_cm: np.ndarray  # per gauge
    storm_detectors: np.ndarray  # bool per detector
    storm_districts: list[str]
    places: list[tuple[float, float]]  # report locations (the city's waterlogging points)


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    stored: int = 0
    detector_cases: set[int] = field(default_factory=set)
    closed: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    requests: int = 0

    def refuse(self, what: str) -> None:
        with self.lock:
            self.refused[what] = self.refused.get(what, 0) + 1


def register_city(db: str, scale: float, rng: np.random.Generator) -> City:
    """The gauges and detectors, through the code's own registry functions (the city's real
    points first, then more around them), and a speed profile for the detectors."""
    from cityops.core import open_platform
    from cityops.detect.congestion import SpeedProfile
    from cityops.sensing.registry import (
        CM,
        DEPTH,
        GAUGE_SENSOR,
        detector_spec,
        register_gauges_op,
        register_specs_op,
    )
    from cityops.sensing.store import DatastreamSpec, save_profile

    n_gauges, n_detectors = max(1, round(GAUGES * scale)), max(1, round(DETECTORS * scale))
    p = open_platform(db)
    try:
        points = p.city.waterlogging_points
        real = p.store.write(lambda repo: register_gauges_op(repo, p))[:n_gauges]
        specs, dets = [], []
        for i in range(n_gauges - len(real)):
            pt = points[i % len(points)]
            lon, lat = pt.lon + rng.normal(0, 0.004), pt.lat + rng.normal(0, 0.004)
            specs.append(DatastreamSpec(
                name=f"积水监测 M{i} / megacity gauge {i}", description=pt.name, kind="water_depth", lon=lon,
                lat=lat, sensor=GAUGE_SENSOR, observed_property=DEPTH, unit=CM, point=f"{pt.code}-M{i}",
                district=pt.district, yellow=20.0, red=27.0, properties={"simulated": True}))
        for i in range(n_detectors):
            pt = points[(i * 7) % len(points)]
            dets.append(detector_spec(f"车速检测 M{i} / megacity detector {i}", f"megacity-road-{i}",
                                      pt.lon + rng.normal(0, 0.004), pt.lat + rng.normal(0, 0.004), pt.district))
        extra = p.store.write(lambda repo: register_specs_op(repo, p, specs + dets))
        gauges = np.array(real + extra[:len(specs)], np.int64)
        detectors = np.array(extra[len(specs):], np.int64)
        order = np.argsort(detectors)
        slots = DAY_MS // (5 * MIN_MS)
        profile = SpeedProfile(detectors[order], np.full(len(detectors), 60.0),
                               np.full((len(detectors), 2, slots), 60.0),
                               np.array([f"megacity-road-{i}" for i in order.tolist()], object))
        p.store.write(lambda repo: save_profile(repo.conn, profile))
        district_of = {pt.code: pt.district for pt in points}
        g_district = [district_of.get(pt.code) for pt in points[:len(real)]]
        g_district += [s.district for s in specs]
        d_district = [s.district for s in dets]
    finally:
        p.close()
    counts: dict[str, int] = {}
    for d in g_district:
        counts[str(d)] = counts.get(str(d), 0) + 1
    storm = sorted(counts, key=lambda d: -counts[d])[:3]
    in_storm = np.array([str(d) in storm for d in g_district])
    storm_gauges = in_storm & (rng.random(len(gauges)) < 0.25)
    storm_dets = np.array([str(d) in storm for d in d_district]) & (rng.random(len(detectors)) < 0.15)
    return City(gauges, detectors, storm_gauges, rng.uniform(15, 45, len(gauges)), storm_dets, storm,
                [(pt.lon, pt.lat) for pt in points])


def day_start_ms() -> int:
    """Yesterday's local midnight (UTC+8): the whole simulated day lies in the past."""
    now = int(time.time() * 1000)
    return ((now + TZ_MS) // DAY_MS - 1) * DAY_MS - TZ_MS


def readings(city: City, start_ms: int, m0: int, m1: int, rng: np.random.Generator) -> tuple[
        np.ndarray, np.ndarray, np.ndarray]:
    """Every datastream's readings for simulated minutes [m0, m1)."""
    minutes = np.arange(m0, m1)
    k, ng = len(minutes), len(city.gauges)
    # Depth: 0–4 cm of noise; the storm's gauges rise linearly to their peak over two hours,
    # hold an hour, and drain by 19:00 (steps of well under a centimetre a minute: no "jump").
    rise = np.clip((minutes - STORM[0]) / 120, 0, 1) * np.clip((STORM[1] - minutes) / 120, 0, 1)
    depth = rng.uniform(0, 4, (k, ng)) + np.outer(rise, city.peak_cm * city.storm_gauges)
    jam = ((minutes >= JAM[0]) & (minutes < JAM[1]))[:, None] & city.storm_detectors[None, :]
    speed = np.where(jam, rng.uniform(12, 28, (k, len(city.detectors))), rng.uniform(50, 70, (k, len(city.detectors))))
    ds = np.tile(np.concatenate([city.gauges, city.detectors]), k)
    t = np.repeat(start_ms + minutes.astype(np.int64) * MIN_MS, ng + len(city.detectors))
    return ds, t, np.round(np.concatenate([depth, speed], axis=1).ravel(), 1)




def raw_rate(db: str, batches: list[tuple[np.ndarray, np.ndarray, np.ndarray]], tmp: Path) -> tuple[float, float | None]:
    """Readings/s of a raw insert of these rows as the store's own segments, one transaction per
    batch (bench_ingest._raw_insert, either store), and on PostgreSQL also of its binary COPY of
    them as plain rows (bench_ingest.raw_copy)."""
    import bench_ingest

    if db.startswith("postgresql"):
        return bench_ingest._raw_insert(db, batches), bench_ingest.raw_copy(db, batches)
    return bench_ingest._raw_insert(tmp / "raw.db", batches), None


def jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 90)).save(out, "JPEG")
    return out.getvalue()


class Loop:
    """One client thread's cases round the workflow, over HTTP."""

    def __init__(self, url: str, token: str, tally: Tally) -> None:
        import httpx

        self.url, self.tally = url, tally
        self.client = httpx.Client(timeout=120, headers={"Authorization": f"Bearer {token}"})

    def post(self, path: str, body: dict[str, Any], want: int = 200) -> dict[str, Any] | None:
        r = self.client.post(self.url + path, json=body)
        with self.tally.lock:
            self.tally.requests += 1
        if r.status_code != want:
            self.tally.refuse(f"{path.rsplit('/', 1)[-1]} {r.status_code}")
            return None
        return r.json()  # type: ignore[no-any-return]

    def report(self, i: int, place: tuple[float, float]) -> int | None:
        case = self.post("/api/v1/cases", {
            "matter_code": MATTERS[i % len(MATTERS)], "description": f"市民反映 {i} / citizen report {i}",
            "lon": place[0] + (i % 97) * 1e-5, "lat": place[1], "source": "citizen"}, 201)
        return None if case is None else int(case["id"])

    def close(self, case_id: int, photo: bytes | None = None) -> None:
        """One case round the loop, one request per step (--per-step)."""
        for action, body in STEPS:
            if self.post(f"/api/v1/cases/{case_id}/actions/{action}", body) is None:
                return
        if photo is not None:
            self.photo(case_id, photo)
        if self.post(f"/api/v1/cases/{case_id}/actions/verify", {"passed": True}) is not None:
            with self.tally.lock:
                self.tally.closed += 1

    def close_many(self, case_ids: list[int], photo: bytes | None = None) -> None:
        """These cases round the loop in batches: step k of every case, then step k+1, …"""
        held = case_ids
        for action, body in STEPS:
            held = self.steps(held, action, body)
        if photo is not None:
            for case_id in held:
                self.photo(case_id, photo)
        closed = self.steps(held, "verify", {"passed": True})
        with self.tally.lock:
            self.tally.closed += len(closed)

    def steps(self, case_ids: list[int], action: str, body: dict[str, Any]) -> list[int]:
        """`action` for each case, BATCH_STEPS a request; the cases it was done for."""
        done = []
        for k in range(0, len(case_ids), BATCH_STEPS):
            chunk = case_ids[k:k + BATCH_STEPS]
            out = self.post("/api/v1/cases/actions", {"steps": [{"case_id": c, "action": action, **body} for c in chunk]})
            for r in out["results"] if out is not None else ():
                if r["ok"]:
                    done.append(int(r["case_id"]))
                else:
                    self.tally.refuse(f"{action} {r['http_status']}")
        return done

    def photo(self, case_id: int, photo: bytes) -> None:
        r = self.client.post(f"{self.url}/api/v1/cases/{case_id}/attachments", data={"stage": "verify"},
                             files={"file": ("after.jpg", photo, "image/jpeg")})
        if r.status_code >= 300:
            self.tally.refuse(f"attachment {r.status_code}")


def warnings(server: Server, approver: str, districts: list[str], storm: threading.Event, calm: threading.Event,
             tally: Tally) -> None:
    """The storm's warning: drafted, approved and issued by a second supervisor (the two-person
    rule), acknowledged by each district; cancelled (and that issued) when the storm is over."""
    loop, boss = Loop(server.url, server.token, tally), Loop(server.url, approver, tally)
    storm.wait()
    expires = (datetime.now(UTC) + timedelta(hours=6)).isoformat()
    w = loop.post("/api/v1/warnings", {"level": "orange", "districts": districts, "headline_zh": "暴雨内涝橙色预警",
                                       "headline_en": "Orange warning: storm waterlogging", "expires": expires}, 201)
    if w is None:
        return
    wid = w["id"]
    boss.post(f"/api/v1/warnings/{wid}/approve", {})
    boss.post(f"/api/v1/warnings/{wid}/issue", {})
    for d in districts:
        loop.post(f"/api/v1/warnings/{wid}/acknowledge", {"district": d})
    calm.wait()
    c = loop.post(f"/api/v1/warnings/{wid}/cancel", {}, 201)
    if c is not None:
        boss.post(f"/api/v1/warnings/{c['id']}/approve", {})
        boss.post(f"/api/v1/warnings/{c['id']}/issue", {})
    loop.client.close()
    boss.client.close()


async def _publish(subjects: list[str], payloads: list[bytes], stream: str) -> float:
    """nats-py publishing these messages to a scratch stream, 500 PubAcks in flight; seconds."""
    import nats

    nc = await nats.connect(NATS)
    js = nc.jetstream()
    subject_root = f"{stream.lower()}.>"
    await js.add_stream(name=stream, subjects=[subject_root])
    try:
        start = time.perf_counter()
        for i in range(0, len(payloads), 500):
            acks = [js.publish(f"{stream.lower()}.{s}", p, headers={"Nats-Msg-Id": f"raw:{i + j}"})
                    for j, (s, p) in enumerate(zip(subjects[i:i + 500], payloads[i:i + 500], strict=True))]
            await asyncio.gather(*acks)
        return time.perf_counter() - start
    finally:
        await js.delete_stream(stream)
        await nc.close()


async def _stream_msgs(stream: str, delete: bool) -> int:
    import nats

    nc = await nats.connect(NATS)
    try:
        js = nc.jetstream()
        n = int((await js.stream_info(stream)).state.messages)
        if delete:
            await js.delete_stream(stream)
        return n
    finally:
        await nc.close()


def outbox(db: str) -> tuple[list[str], list[bytes]]:
    import sqlite3

    from cityops.store.dialect import PgConnection, is_postgres

    conn = PgConnection(db) if is_postgres(db) else sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT subject, payload FROM event_outbox ORDER BY id").fetchall()
    finally:
        conn.close()
    return [str(r[0]) for r in rows], [str(r[1]).encode() for r in rows]


def megacity(db_kind: str = "sqlite", servers: int = 1, scale: float = 1.0, workers: int = WORKERS,
             batch_minutes: int | None = None, per_step: bool = False) -> list[Row]:
    tag = f"mega{os.getpid()}"
    tmp = Path(tempfile.mkdtemp(prefix="cityops-bench-megacity-"))
    db = fresh_postgres(f"cityops_bench_{tag}") if db_kind == "postgresql" else str(tmp / "megacity.db")
    token = prepared_db(db)
    from harness import cityops

    cityops("user", "create", "approver", "--role", "supervisor", "--password-stdin", "--db", db,
            stdin="approver-password\n")
    approver = cityops("token", "approver", "--db", db)
    stream_name, root = tag.upper(), tag

    cityops("stream", "--nats", NATS, "--name", stream_name, "--root", root, "--db", db)
    rng = np.random.default_rng(20)
    t0 = time.perf_counter()
    city = register_city(db, scale, rng)
    setup_s = time.perf_counter() - t0
    per = batch_minutes or BATCH_MINUTES
    start_ms = day_start_ms()
    spans = [(m, min(m + per, MINUTES)) for m in range(0, MINUTES, per)]
    raw_batches = [readings(city, start_ms, m0, m1, rng) for m0, m1 in spans]
    # One gateway per server, each with its own datastreams (a city's sensors come in through
    # several gateways: vendors, districts), in blocks of ids as they were registered; each sends
    # its part of every span. Body k is gateway k % servers's part of span k // servers.
    bodies = [arrow_body(*(x[(b[0] // GATEWAY_BLOCK) % servers == g] for x in b))
              for b in raw_batches for g in range(servers)]
    total = sum(len(b[0]) for b in raw_batches)
    sample, n = [], 0
    for b in raw_batches:
        if n >= RAW_SAMPLE_ROWS:
            break
        sample.append(b)
        n += len(b[0])
    raw, raw_copy = raw_rate(db, sample, tmp)
    del raw_batches, sample
    reports = max(1, round(REPORTS * scale))
    print(f"# megacity {db_kind}, {servers} server(s), scale {scale}: {len(city.gauges):,} gauges, "
          f"{len(city.detectors):,} detectors ({setup_s:.1f} s to register), {total:,} readings in "
          f"{len(bodies)} batches, {reports:,} reports; storm over {', '.join(city.storm_districts)}; workflow steps "
          f"{'one request each' if per_step else f'in batches of up to {BATCH_STEPS}'}", flush=True)

    srv = [serve(db, token) for _ in range(servers)]
    tally = Tally()
    storm, calm = threading.Event(), threading.Event()
    try:
        import httpx

        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/vnd.apache.arrow.stream"}
        clients = [httpx.Client(timeout=300) for _ in range(2 * servers)]

        def send(k: int) -> None:
            for _ in range(RETRIES):  # a 503 says: nothing stored, retry (two servers' writes deadlocked)
                r = clients[k % len(clients)].post(srv[k % servers].url + "/api/v1/observations",
                                                   content=bodies[k], headers=headers)
                if r.status_code != 503:
                    break
                tally.refuse("observations 503, retried")
                time.sleep(float(r.headers.get("retry-after", "1")))
            if r.status_code != 200:  # the server's own words: its output is not kept
                raise RuntimeError(f"batch {k}: {r.status_code} {r.text[:500]}")
            answer = r.json()
            with tally.lock:
                tally.stored += int(answer["stored"])
                tally.detector_cases.update(answer["cases_opened"])
            if spans[k // servers][1] > STORM[0] + 30:
                storm.set()
            if spans[k // servers][0] > STORM[1] + 30:
                calm.set()

        loops = [Loop(srv[i % servers].url, token, tally) for i in range(workers * servers)]
        crews = [Loop(srv[i % servers].url, token, tally) for i in range(workers * servers)]
        photo = jpeg()

        def reporter(w: int) -> float:
            """This thread's reports round the loop; when it was done (s into the day)."""
            mine = range(w, reports, len(loops))
            if per_step:
                for i in mine:
                    case_id = loops[w].report(i, city.places[i % len(city.places)])
                    if case_id is not None:
                        loops[w].close(case_id)
            else:
                for k in range(0, len(mine), BATCH_STEPS):
                    held = [loops[w].report(i, city.places[i % len(city.places)]) for i in mine[k:k + BATCH_STEPS]]
                    loops[w].close_many([c for c in held if c is not None])
            return time.perf_counter() - day0

        def crew(w: int, cases: list[int]) -> float:
            """This crew's share of the detectors' cases round the loop, with an after-photo; when
            it was done (s into the day)."""
            if per_step:
                for case_id in cases[w::len(crews)]:
                    crews[w].close(case_id, photo)
            else:
                crews[w].close_many(cases[w::len(crews)], photo)
            return time.perf_counter() - day0

        # A daemon, and told the storm is over whatever happens: a day that fails must not leave
        # the benchmark waiting for it at exit.
        warner = threading.Thread(target=warnings, args=(srv[0], approver, city.storm_districts, storm, calm, tally),
                                  daemon=True)
        warner.start()
        day0 = time.perf_counter()
        try:
            with (ThreadPoolExecutor(len(loops)) as people, ThreadPoolExecutor(2 * servers) as gateway,
                  ThreadPoolExecutor(len(crews)) as field):
                citizens = [people.submit(reporter, w) for w in range(len(loops))]
                list(gateway.map(send, range(len(bodies))))
                readings_s = time.perf_counter() - day0
                storm.set()
                calm.set()
                # The detectors' cases go round the loop once the readings are in, beside the
                # citizens' reports still going.
                sensor_cases = sorted(tally.detector_cases)
                closing = [field.submit(crew, w, sensor_cases) for w in range(len(crews))]
                reports_s = max(c.result() for c in citizens)
                sensors_s = max(c.result() for c in closing) - readings_s
        finally:
            storm.set()
            calm.set()
        warner.join()
        pending = 1
        while pending:
            pending = count(db, "SELECT count(*) FROM event_outbox WHERE published_at IS NULL")
            if pending:
                time.sleep(0.05)
        day_s = time.perf_counter() - day0
        for c in clients:
            c.close()
        for loop in loops + crews:
            loop.client.close()
    finally:
        for s in srv:
            stop(s)
    segments = count(db, "SELECT (SELECT count(*) FROM observation_segment) + (SELECT count(*) FROM observation_recent)")
    compact_s, left = _compaction_debt(db)
    events = count(db, "SELECT count(*) FROM event_outbox")
    on_stream = asyncio.run(_stream_msgs(stream_name, delete=True))
    subjects, payloads = outbox(db)
    raw_pub_s = asyncio.run(_publish(subjects, payloads, f"{stream_name}RAW"))
    cases = count(db, "SELECT count(*) FROM cases")
    closed = count(db, "SELECT count(*) FROM cases WHERE status = 'closed'")
    print(f"# citizens' reports all closed {reports_s:.1f} s into the day; the detectors' cases closed in "
          f"{sensors_s:.1f} s after the readings", flush=True)
    print(f"# {tally.stored:,} readings stored in {readings_s:.1f} s; {cases:,} cases ({len(sensor_cases):,} opened "
          f"by the detectors), {closed:,} closed; {tally.requests:,} API requests; {events:,} events "
          f"({on_stream:,} on the stream); refused: {tally.refused or 'none'}", flush=True)
    print(f"# {segments:,} reading segments at the day's end; merging them as the leader does in the background"
          f" (compaction, sensing/compact.py) took {compact_s:.1f} s more, left out of the day: {left:,} segments",
          flush=True)
    shutil.rmtree(tmp, ignore_errors=True)  # a full day's SQLite file is a few GB
    if tally.stored != total:
        raise RuntimeError(f"stored {tally.stored:,} of {total:,} readings")
    if on_stream < events:
        raise RuntimeError(f"{events:,} events in the outbox but only {on_stream:,} on the stream")
    if db_kind == "postgresql":
        from harness import fresh_postgres as drop

        drop(f"cityops_bench_{tag}")  # the database dropped again
    where = f"{db_kind}, {servers} server{'s' if servers > 1 else ''}" + (f", scale {scale:g}" if scale != 1 else "")
    goal = GOAL_S[db_kind] * scale
    rows: list[Row] = [
        (f"megacity_day_s ({where})", day_s, "s", goal, "s goal" + (" × scale" if scale != 1 else "")),
        (f"megacity_readings_per_s ({where})", tally.stored / readings_s, "readings/s", raw,
         "readings/s raw insert of the same rows as the store's segments"),
    ]
    if raw_copy is not None:
        rows.append((f"megacity_readings_per_s_of_copy ({where})", tally.stored / readings_s, "readings/s", raw_copy,
                     "readings/s raw binary COPY of the same rows as plain rows"))
    return rows + [(f"megacity_events_per_s ({where})", events / day_s, "events/s", len(payloads) / raw_pub_s,
                    "events/s nats-py publish of the same events")]


def _compaction_debt(db: str) -> tuple[float, int]:
    """The day's small segments merged after it, as `cityops sensing compact` would: (seconds,
    segments left)."""
    from cityops.sensing.compact import compact_all
    from cityops.store.sqlite import SqliteStore

    store = SqliteStore(db)
    try:
        start = time.perf_counter()
        compact_all(store)
        return time.perf_counter() - start, count(db, "SELECT count(*) FROM observation_segment")
    finally:
        store.close()


def pg_reachable() -> bool:
    try:
        import psycopg

        server = os.environ.get("CITYOPS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
        with psycopg.connect(f"{server}/postgres", connect_timeout=3):
            return True
    except Exception:
        return False


def run(argv: list[str] | None = None) -> list[Row]:
    """`run.py megacity [options]`: with no options, SQLite at full scale, then PostgreSQL with
    two servers when it is reachable."""
    parser = argparse.ArgumentParser(prog="bench_megacity")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default=None)
    parser.add_argument("--servers", type=int, choices=(1, 2), default=None)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=WORKERS, help="report threads per server")
    parser.add_argument("--batch-minutes", type=int, default=None,
                        help=f"simulated minutes per Arrow batch [default: {BATCH_MINUTES}]")
    parser.add_argument("--per-step", action="store_true",
                        help="one request per workflow step, not batches of them (POST /api/v1/cases/actions)")
    args = parser.parse_args(argv or [])
    if not 0 < args.scale <= 1:
        parser.error("--scale is a fraction in (0, 1]")
    if args.db:
        return megacity(args.db, args.servers or (2 if args.db == "postgresql" else 1), args.scale, args.workers,
                        args.batch_minutes, args.per_step)
    rows = megacity("sqlite", args.servers or 1, args.scale, args.workers, args.batch_minutes, args.per_step)
    print_rows(rows)
    sys.stdout.flush()
    if pg_reachable():
        return megacity("postgresql", args.servers or 2, args.scale, args.workers, args.batch_minutes, args.per_step)
    print("# PostgreSQL not reachable: its run is left out")
    return []


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    print_rows(run(sys.argv[1:]))
