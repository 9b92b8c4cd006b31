"""Observation intake: NDJSON and Arrow batches, rejects with reasons, duplicates, the sensor
role, detections becoming cases, durability across kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityops.auth.service import issue_token, new_user
from cityops.core import utcnow
from cityops.sensing.registry import register_point_gauges
from cityops.sensing.store import counters
from sensing_support import ARROW, NDJSON, SensingApi, arrow_body, iso, ndjson, sensing_api
from stores import new_db

# Every stored segment, settled or recent (sensing/store.py SEGMENT_TABLES).
SEGMENTS = "(SELECT * FROM observation_segment UNION ALL SELECT * FROM observation_recent) AS s"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SensingApi]:
    yield from sensing_api(tmp_path_factory.mktemp("sensing"))


@pytest.fixture
def gauges(api: SensingApi) -> list[int]:
    return api.gauges


@pytest.fixture
def sensor(api: SensingApi) -> dict[str, str]:
    return api.h("gw1")


def test_gauges_at_every_waterlogging_point(api: Any, gauges: list[int]) -> None:
    assert len(gauges) == len(api.platform.city.waterlogging_points) == 448
    assert register_point_gauges(api.platform) == gauges  # idempotent


def test_ndjson_batch_with_bad_lines(api: Any, gauges: list[int], sensor: dict[str, str]) -> None:
    now = utcnow().replace(microsecond=0)
    with api.platform.store.read() as repo:
        before = counters(repo.conn)
    rows = [{"datastream": gauges[10], "phenomenonTime": iso(now - timedelta(minutes=5 * i)), "result": 3.0 + i}
            for i in range(5)]
    body = ndjson(rows) + b'{"datastream": 1, "phenomenonTime": "yesterday", "result": 1}\n'
    body += b'{"datastream": 1, "phenomenonTime": "2026-01-01T00:00:00Z", "result": "wet"}\n'
    body += b'{not json\n'
    body += orjson.dumps({"datastream": 999999, "phenomenonTime": iso(now), "result": 1.0}) + b"\n"
    body += orjson.dumps({"datastream": gauges[1], "phenomenonTime": "2026-01-01T00:00:00", "result": 1.0}) + b"\n"
    r = api.client.post("/api/v1/observations", content=body, headers={**sensor, "Content-Type": NDJSON})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == 5 and out["stored"] == 5 and out["rejected"] == 5
    assert out["rejected_by_reason"] == {"bad_time": 2, "bad_result": 1, "malformed_json": 1, "unknown_datastream": 1}
    assert {x["row"] for x in out["reasons"] if x["reason"] != "unknown_datastream"} == {6, 7, 8, 10}
    # The same batch again: every reading a duplicate, nothing stored twice (first write wins).
    rows[0]["result"] = 99.0
    again = api.client.post("/api/v1/observations", content=ndjson(rows), headers={**sensor, "Content-Type": NDJSON})
    assert again.json()["duplicates"] == 5 and again.json()["stored"] == 0
    with api.platform.store.read() as repo:
        assert tuple(repo.conn.execute("SELECT count(*), max(result) FROM observation WHERE datastream = ?", (gauges[10],)).fetchone()) == (5, 7.0)
        c = counters(repo.conn)
    assert c["accepted"] - before.get("accepted", 0) == 10
    assert c["duplicates"] - before.get("duplicates", 0) == 5
    assert c["rejected:bad_time"] - before.get("rejected:bad_time", 0) == 2


def test_arrow_batch_out_of_order(api: Any, gauges: list[int], sensor: dict[str, str]) -> None:
    base = int(utcnow().timestamp() * 1000) - 3_600_000
    n = 2000
    rng = np.random.default_rng(1)
    ds = rng.choice(gauges[50:100], n)
    t = base + rng.integers(0, 12, n) * 300_000
    depth = rng.uniform(0, 5, n)
    r = api.client.post("/api/v1/observations", content=arrow_body(ds, t, depth),
                        headers={**sensor, "Content-Type": ARROW})
    assert r.status_code == 200, r.text
    unique = len({(int(a), int(b)) for a, b in zip(ds, t, strict=True)})
    assert r.json()["stored"] == unique and r.json()["duplicates"] == n - unique and r.json()["rejected"] == 0


def test_arrow_rejects_nulls_and_nan(api: Any, gauges: list[int], sensor: dict[str, str]) -> None:
    now = int(utcnow().timestamp() * 1000)
    body = arrow_body([gauges[0], None, gauges[0], gauges[0]], [now - 1000, now, None, now - 2000],
                      [1.0, 1.0, 1.0, float("nan")])
    out = api.client.post("/api/v1/observations", content=body, headers={**sensor, "Content-Type": ARROW}).json()
    assert out["accepted"] == 1
    assert out["rejected_by_reason"] == {"bad_datastream": 1, "bad_time": 1, "bad_result": 1}


def test_roles_and_media_types(api: Any, gauges: list[int], sensor: dict[str, str]) -> None:
    body = ndjson([{"datastream": gauges[0], "phenomenonTime": iso(utcnow()), "result": 1}])
    assert api.client.post("/api/v1/observations", content=body,
                           headers={**api.h("collector"), "Content-Type": NDJSON}).status_code == 403
    assert api.client.post("/api/v1/observations", content=body,
                           headers={"Content-Type": NDJSON}).status_code == 401
    assert api.client.post("/api/v1/observations", content=body,
                           headers={**api.h("admin"), "Content-Type": NDJSON}).status_code == 200
    assert api.client.post("/api/v1/observations", content=body,
                           headers={**sensor, "Content-Type": "text/csv"}).status_code == 415
    # A gateway may do nothing else.
    assert api.client.get("/api/v1/cases", headers=sensor).status_code == 403
    assert api.client.post("/api/v1/cases", json={}, headers=sensor).status_code == 403


def test_body_over_one_megabyte_accepted(api: Any, gauges: list[int], sensor: dict[str, str]) -> None:
    base = int(utcnow().timestamp() * 1000) - 86_400_000
    n = 60_000
    body = arrow_body(np.repeat(gauges[100:110], n // 10), base + np.tile(np.arange(n // 10) * 1000, 10), np.zeros(n))
    assert len(body) > 1_000_000
    r = api.client.post("/api/v1/observations", content=body, headers={**sensor, "Content-Type": ARROW})
    assert r.status_code == 200 and r.json()["stored"] == n


def test_flood_opens_one_case_and_fault_another(api: Any, gauges: list[int], sensor: dict[str, str]) -> None:
    start = utcnow().replace(microsecond=0) - timedelta(hours=2)
    depths = [5, 12, 18, 22, 26, 29, 31, 30, 25]
    flood = [{"datastream": gauges[3], "phenomenonTime": iso(start + timedelta(minutes=5 * i)), "result": d}
             for i, d in enumerate(depths)]
    frozen = [{"datastream": gauges[4], "phenomenonTime": iso(start + timedelta(minutes=5 * i)), "result": 23.5}
              for i in range(14)]
    out = api.client.post("/api/v1/observations", content=ndjson(flood[:5] + frozen),
                          headers={**sensor, "Content-Type": NDJSON}).json()
    assert len(out["cases_opened"]) == 2  # a yellow flood at point 4, a frozen gauge at point 5
    more = api.client.post("/api/v1/observations", content=ndjson(flood[5:]),
                           headers={**sensor, "Content-Type": NDJSON}).json()
    assert more["cases_opened"] == [] and len(more["cases_joined"]) == 1  # the same point: joined
    case = api.get("acceptor", f"/api/v1/cases/{more['cases_joined'][0]}").json()
    assert case["matter_code"] == "01004" and case["source"] == "sensor"
    fault = [c for c in out["cases_opened"] if c != case["id"]][0]
    assert api.get("acceptor", f"/api/v1/cases/{fault}").json()["matter_code"] == "01067"
    hist = api.get("acceptor", f"/api/v1/cases/{case['id']}/history").json()
    assert any("red" in str(e) for e in hist["entries"])  # the rise to red was noted


def test_congestion_runs_per_batch_across_batches(api: SensingApi, sensor: dict[str, str]) -> None:
    """Speeds arriving by HTTP go through the congestion detector against the detectors' stored
    profiles; persistence spans batches (one reading per detector per batch); the incident
    opens one case (traffic matter) and later batches join it."""
    from cityops.detect.columns import Columns
    from cityops.detect.congestion import learn_profile
    from cityops.sensing.registry import detector_spec, register_specs_op
    from cityops.sensing.store import save_profile

    p = api.platform
    specs = [detector_spec(f"batch detector {k}", f"三环线-T{k}", 114.3 + k / 100, 30.6, None, {}) for k in (1, 2)]
    ds = p.store.write(lambda repo: register_specs_op(repo, p, specs))
    step = 300_000
    now_ms = int(utcnow().timestamp() * 1000) // step * step
    week = now_ms - 8 * 86_400_000 + np.arange(2016) * step  # a free-flowing week, a day ago
    history = Columns.of(np.repeat(ds, 2016), np.tile(week, 2), np.full(4032, 90.0))
    p.store.write(lambda repo: save_profile(repo.conn, learn_profile(history, dict(zip(ds, ("三环线-T1", "三环线-T2"), strict=True)))))

    def send(k: int, speeds: dict[int, float]) -> dict[str, Any]:
        t = iso(datetime.fromtimestamp((now_ms - 3_600_000 + k * step) / 1000, UTC))
        rows = [{"datastream": d, "phenomenonTime": t, "result": v} for d, v in speeds.items()]
        r = api.client.post("/api/v1/observations", content=ndjson(rows), headers={**sensor, "Content-Type": NDJSON})
        assert r.status_code == 200
        return dict(r.json())

    assert send(0, {ds[0]: 20.0, ds[1]: 88.0})["detections"] == 0
    assert send(1, {ds[0]: 18.0, ds[1]: 91.0})["detections"] == 0  # two intervals: not yet
    third = send(2, {ds[0]: 15.0, ds[1]: 89.0})
    assert third["detections"] == 1 and len(third["cases_opened"]) == 1
    case = api.get("acceptor", f"/api/v1/cases/{third['cases_opened'][0]}").json()
    assert case["matter_code"] == "10950" and case["source"] == "sensor"  # 道路交通拥堵, cityops's extension
    assert case["attributes"]["detection"]["sent_by"] == "gw1"  # the gateway whose readings caused it
    fourth = send(3, {ds[0]: 16.0, ds[1]: 90.0})
    assert fourth["cases_opened"] == [] and fourth["cases_joined"] == third["cases_opened"]
    with p.store.read() as repo:
        log = repo.conn.execute("SELECT level, detail FROM detection_log WHERE kind = 'congestion' AND datastream = ?"
                                " ORDER BY id", (ds[0],)).fetchall()
    assert [r[0] for r in log] == ["non_recurrent"] * 2 and orjson.loads(log[-1][1])["intervals"] == 4
    assert send(4, {ds[0]: 85.0, ds[1]: 90.0})["detections"] == 0  # flowing again: nothing in this batch
    # The detector's next jam is another episode: another case; its later detections join it.
    for k in (5, 6):
        assert send(k, {ds[0]: 17.0, ds[1]: 90.0})["detections"] == 0
    again = send(7, {ds[0]: 14.0, ds[1]: 90.0})
    assert len(again["cases_opened"]) == 1 and again["cases_opened"] != third["cases_opened"]
    assert send(8, {ds[0]: 12.0, ds[1]: 90.0})["cases_joined"] == again["cases_opened"]


def test_learn_profiles_from_stored_speeds(api: SensingApi) -> None:
    """`cityops sensing learn-profiles` learns each detector's profile from its stored speeds."""
    from click.testing import CliRunner

    from cityops.cli import main
    from cityops.detect.columns import Columns
    from cityops.sensing.ingest import ingest_columns
    from cityops.sensing.registry import detector_spec, register_specs_op
    from cityops.sensing.store import speed_profile

    p = api.platform
    ds = p.store.write(lambda repo: register_specs_op(repo, p, [detector_spec("profiled", "二环线-P", 114.3, 30.6,
                                                                              None, {})]))[0]
    step = 300_000
    now_ms = int(utcnow().timestamp() * 1000) // step * step
    t = now_ms - np.arange(1, 3 * 288) * step  # three days back
    ingest_columns(p, Columns.of(np.full(len(t), ds), t, np.where(t % (2 * step) == 0, 70.0, 80.0)))
    out = CliRunner().invoke(main, ["sensing", "learn-profiles", "--days", "7", "--db", p.store.path])
    assert out.exit_code == 0 and "detectors profiled" in out.output, out.output
    with p.store.read() as repo:
        profile = speed_profile(repo.conn)
    assert profile is not None
    row = int(np.searchsorted(profile.datastream, ds))
    assert profile.datastream[row] == ds and profile.segment[row] == "二环线-P" and profile.free_flow[row] == 80.0


def test_kill_9_loses_no_acknowledged_batch(tmp_path: Path) -> None:
    """A server killed with SIGKILL in the middle of a stream of batches: every batch it
    answered 200 is on disk."""
    import httpx

    from cityops.core import open_platform

    db = new_db(tmp_path, "k.db")
    p = open_platform(db)
    ids = register_point_gauges(p)

    def add(repo: Any) -> str:
        repo.add_user(new_user("gw", "sensor", None, "gateway-pass-1", set()), utcnow())
        return issue_token(repo, "gw", utcnow())

    token = p.store.write(add)
    p.close()
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "cityops", "serve", "--db", str(db), "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    acked = 0
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        base = int(utcnow().timestamp() * 1000) - 86_400_000
        headers = {"Authorization": f"Bearer {token}", "Content-Type": ARROW}
        with httpx.Client(timeout=30) as client:
            for i in range(16):
                n = 5000
                body = arrow_body(np.repeat(ids[:5], n // 5), base + i * 10_000_000 + np.tile(np.arange(n // 5), 5),
                                  np.ones(n))
                if i == 8:
                    os.killpg(proc.pid, signal.SIGKILL)  # server and write process, mid-stream
                try:
                    r = client.post(url + "/api/v1/observations", content=body, headers=headers)
                except httpx.HTTPError:
                    break
                assert r.status_code == 200
                acked += r.json()["stored"]
    finally:
        with __import__("contextlib").suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert acked >= 5000 * 4
    p = open_platform(db)
    with p.store.read() as repo:
        stored = repo.conn.execute("SELECT count(*) FROM observation").fetchone()[0]
    p.close()
    assert stored >= acked


def test_thresholds_per_point_from_the_city_pack(api: SensingApi, tmp_path: Path, monkeypatch: Any) -> None:
    import dataclasses

    from cityops.geo.io import _waterlogging
    from cityops.sensing.registry import gauge_specs

    p = api.platform.city.waterlogging_points[0]
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]},
               "properties": {"code": "X-1", "district": p.district, "yellow_cm": 15, "red_cm": 25}}
    path = tmp_path / "wl.geojson"
    path.write_bytes(orjson.dumps({"type": "FeatureCollection", "features": [feature]}))
    (read,) = _waterlogging(path, {p.district})
    assert (read.yellow_cm, read.red_cm) == (15.0, 25.0)
    monkeypatch.setattr(api.platform.city, "waterlogging_points", (dataclasses.replace(p, yellow_cm=15.0), p))
    specs = gauge_specs(api.platform)
    assert [(s.yellow, s.red) for s in specs] == [(15.0, 27.0), (20.0, 27.0)]


def test_silent_gauges_open_fault_cases(api: SensingApi, gauges: list[int], sensor: dict[str, str]) -> None:
    from cityops.sensing.ingest import sweep_silent

    old = utcnow() - timedelta(hours=3)
    rows = [{"datastream": gauges[200], "phenomenonTime": iso(old), "result": 0.0}]
    api.client.post("/api/v1/observations", content=ndjson(rows), headers={**sensor, "Content-Type": NDJSON})
    p = api.platform
    out = p.store.write(lambda repo: sweep_silent(repo, p, utcnow(), 30))
    silent = [d for d in out.detections if d.datastream == gauges[200]]
    assert silent and silent[0].level == "silent"
    again = p.store.write(lambda repo: sweep_silent(repo, p, utcnow(), 30))
    assert not set(again.cases_opened) & set(out.cases_opened)  # the second sweep joins


@pytest.fixture(scope="module")
def bare_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from cityops.store.sqlite import SqliteStore

    store = SqliteStore(new_db(tmp_path_factory.mktemp("bare"), "bare.db"))
    yield store
    store.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.tuples(st.integers(1, 4), st.integers(0, 20), st.integers(0, 99)), max_size=60),
                min_size=1, max_size=4))
def test_first_write_wins_in_any_batching(bare_store: Any, batches: list[list[tuple[int, int, int]]]) -> None:
    """However readings are split into batches and ordered, what is stored is the first
    reading of each (datastream, time), and every other one is counted as a duplicate."""
    from cityops.detect.columns import Columns
    from cityops.sensing.store import insert_columns

    conn = bare_store.connect()
    try:
        conn.execute("DELETE FROM observation_segment")
        conn.execute("DELETE FROM observation_recent")
        stored = 0
        for batch in batches:
            cols = Columns.of([b[0] for b in batch], [b[1] for b in batch], [float(b[2]) for b in batch])
            conn.execute("BEGIN")
            stored += insert_columns(conn, cols)
            conn.execute("COMMIT")
        first: dict[tuple[int, int], float] = {}
        for d, t, r in (row for batch in batches for row in batch):
            first.setdefault((d, t), float(r))
        assert stored == len(first)
        got = {(d, t): r for d, t, r in conn.execute("SELECT datastream, t, result FROM observation")}
        assert got == first
    finally:
        conn.close()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 1), st.booleans(),
                          st.lists(st.tuples(st.integers(1, 2), st.integers(0, 8)), min_size=1, max_size=4)),
                min_size=1, max_size=12))
def test_two_connections_and_rollbacks_keep_first_write_wins(bare_store: Any,
                                                            steps: list[tuple[int, bool, list[tuple[int, int]]]]) -> None:
    """A connection skips the duplicate lookup for datastreams it knows only append: what it
    knows must give way to another connection's commits and must not trust a batch rolled
    back. Batches from two connections, some rolled back: what is stored is the first
    committed reading of each (datastream, time)."""
    from cityops.detect.columns import Columns
    from cityops.sensing.store import insert_columns

    conns = [bare_store.connect(), bare_store.connect()]
    try:
        for table in ("observation_segment", "observation_recent"):
            conns[0].execute(f"DELETE FROM {table}")
        first: dict[tuple[int, int], float] = {}
        for k, (which, commit, batch) in enumerate(steps):
            conn = conns[which]
            cols = Columns.of([d for d, _ in batch], [t * 60_000 for _, t in batch], [float(k)] * len(batch))
            conn.execute("BEGIN IMMEDIATE")
            stored = insert_columns(conn, cols)
            conn.execute("COMMIT" if commit else "ROLLBACK")
            if commit:
                new = {(d, t * 60_000) for d, t in batch} - set(first)
                assert stored == len(new)
                first.update({key: float(k) for key in new})
        got = {(d, t): r for d, t, r in conns[0].execute("SELECT datastream, t, result FROM observation")}
        assert got == first
    finally:
        for conn in conns:
            conn.close()


def test_segments_per_datastream_and_trickle_merges(bare_store: Any) -> None:
    """A batch is one segment per datastream; small appends join the last segment while it is
    short (SMALL_TAIL), else start one; a late reading makes a segment of its own; the view,
    read_columns and last_seen agree."""
    from cityops.detect.columns import Columns
    from cityops.sensing.store import insert_columns, last_seen, latest_readings, read_columns

    conn = bare_store.connect()

    def put(ds: Any, t: Any, r: Any) -> int:
        conn.execute("BEGIN")
        n = insert_columns(conn, Columns.of(ds, t, r))
        conn.execute("COMMIT")
        return n

    try:
        conn.execute("DELETE FROM observation_segment")
        conn.execute("DELETE FROM observation_recent")
        t = np.arange(2500) % 1700  # 800 repeated times: the first of each stands
        assert put(np.r_[np.full(2500, 9), [8]], np.r_[t, [5]], np.r_[np.arange(2500, dtype=float), [1.0]]) == 1701
        assert conn.execute(f"SELECT count(*) FROM {SEGMENTS}").fetchone()[0] == 2
        for k in range(10):  # a trickle: one reading at a time, after the last
            assert put([9], [2000 + k], [float(k)]) == 1
        assert put([9], [2000], [99.0]) == 0  # a duplicate of the trickle
        assert put([9, 9], [1800, 3], [7.0, 7.0]) == 1  # late: 1800 is new, 3 is stored
        segs = conn.execute(f"SELECT t0, t1, n FROM {SEGMENTS} WHERE datastream = 9 ORDER BY t0").fetchall()
        # 1,700 readings are too many to rewrite for each append: the trickle makes its own segment
        assert [tuple(r) for r in segs] == [(0, 1699, 1700), (1800, 1800, 1), (2000, 2009, 10)]
        rows = conn.execute("SELECT t, result FROM observation WHERE datastream = 9 ORDER BY t").fetchall()
        assert [tuple(r) for r in rows[:2]] == [(0, 0.0), (1, 1.0)] and len(rows) == 1711
        assert isinstance(rows[0][0], int) and tuple(rows[-1]) == (2009, 9.0)
        cols = read_columns(conn, [9, 8], 3, 1801)
        assert cols.datastream.tolist() == [8] + [9] * 1698 and cols.t[-1] == 1800 and cols.result[-1] == 7.0
        assert cols.t[1:3].tolist() == [3, 4] and cols.result[1] == 3.0
        ids, seen = last_seen(conn, [8, 9, 10])
        assert ids.tolist() == [8, 9] and seen.tolist() == [5, 2009]
        latest = latest_readings(conn, [10, 9, 8])
        assert latest.datastream.tolist() == [8, 9] and latest.t.tolist() == [5, 2009]
        assert latest.result.tolist() == [1.0, 9.0]
        # Segments written before times were JSON integers (old SQLite files; `store copy` carries
        # them over as they are) hold them as floats: every reader takes both forms.
        assert conn.execute(f"SELECT data FROM {SEGMENTS} WHERE datastream = 8").fetchone()[0] == "[[5,1.0]]"
        conn.execute("BEGIN")
        conn.execute("INSERT INTO observation_segment (datastream, t0, t1, n, data) VALUES (7, 5, 6, 2, ?)",
                     ("[[5.0,2.5],[6.0,3.0]]",))
        conn.execute("COMMIT")
        assert put([7, 7], [6, 7], [9.0, 4.0]) == 1  # 6 found stored (settled); 7 a recent segment
        rows = conn.execute("SELECT t, result FROM observation WHERE datastream = 7 ORDER BY t").fetchall()
        assert [tuple(r) for r in rows] == [(5, 2.5), (6, 3.0), (7, 4.0)] and isinstance(rows[0][0], int)
        assert read_columns(conn, [7], 0, 10).t.tolist() == [5, 6, 7]
        assert latest_readings(conn, [7]).t.tolist() == [7] and last_seen(conn, [7])[1].tolist() == [7]
    finally:
        conn.close()


def test_migration_0009_moves_readings_into_segments(tmp_path: Path) -> None:
    """A database of the row layout (migration 0004) keeps every reading after 0009."""
    import sqlite3

    from cityops.sensing.store import read_columns
    from cityops.store.legacy import _statements, migrate, migrations

    # The segment migration by what it does, not its number (0009 when written).
    segments = next(v for v, script in migrations() if "CREATE TABLE observation_segment" in script)
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.execute("BEGIN")
    for version, script in migrations():
        if version < segments:
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
    week = 604_800_000
    # Results that need 17 significant digits (mph → km/h), and a tiny one: moved exactly.
    rows = [(3, 1_700_000_000_000 + k * 3_600_000, k * 1.609344 / 3) for k in range(400)] + [(5, 1_700_000_000_000, 1e-7)]
    conn.executemany("INSERT INTO observation (datastream, t, result) VALUES (?, ?, ?)", rows)
    conn.execute("COMMIT")
    assert migrate(conn)[0] == segments
    assert sorted(tuple(r) for r in conn.execute("SELECT datastream, t, result FROM observation")) == sorted(rows)
    assert conn.execute("SELECT count(*) FROM observation_segment").fetchone()[0] == 1 + len(
        {t // week for _, t, _ in rows[:400]})
    # The recent segments' table as migration 0010 makes it (read_columns reads both).
    conn.execute("CREATE TABLE observation_recent (id INTEGER PRIMARY KEY, datastream INTEGER NOT NULL,"
                 " t0 INTEGER NOT NULL, t1 INTEGER NOT NULL, n INTEGER NOT NULL, data TEXT NOT NULL)")
    conn.execute("CREATE INDEX observation_recent_end ON observation_recent (datastream, t1)")
    cols = read_columns(conn, [3], 0, 2**62)
    assert cols.t.tolist() == [t for _, t, _ in rows[:400]] and cols.result.tolist() == [r for _, _, r in rows[:400]]
    conn.close()


def test_observation_bodies_limited_to_64_mb(api: SensingApi, sensor: dict[str, str]) -> None:
    def chunks() -> Any:  # streamed, no Content-Length: the limit is found while reading
        for _ in range(65):
            yield b"\n" * 1_000_000

    r = api.client.post("/api/v1/observations", content=chunks(), headers={**sensor, "Content-Type": NDJSON})
    assert r.status_code == 413 and "64000000" in r.json()["message"]


def test_implausible_early_late_and_foreign_readings_refused_on_every_path(api: Any, gauges: list[int],
                                                                          sensor: dict[str, str]) -> None:
    """`result: 1e308` cm, a reading from 2099 or from before 2000 and a reading of another
    gateway's datastream are refused and counted on the HTTP batch (NDJSON and Arrow), on
    SensorThings (POST and CreateObservations); none of them opens a case."""
    from cityops.sensing.store import set_owner

    sta = "/sta/v1.1"
    g, theirs = gauges[300], gauges[301]
    api.platform.store.write(lambda repo: set_owner(repo.conn, [theirs], "gw2"))
    now = utcnow().replace(microsecond=0)
    with api.platform.store.read() as repo:
        before = counters(repo.conn)
        cases_before = repo.conn.execute("SELECT count(*) FROM cases").fetchone()[0]
    rows = [{"datastream": g, "phenomenonTime": iso(now - timedelta(minutes=1)), "result": 1e308},
            {"datastream": g, "phenomenonTime": iso(now - timedelta(minutes=2)), "result": -4000},
            {"datastream": g, "phenomenonTime": "2099-01-01T00:00:00Z", "result": 30.0},
            {"datastream": g, "phenomenonTime": "1999-06-01T00:00:00Z", "result": 30.0},
            {"datastream": theirs, "phenomenonTime": iso(now), "result": 3.0},
            {"datastream": g, "phenomenonTime": iso(now - timedelta(minutes=3)), "result": 2.5}]
    out = api.client.post("/api/v1/observations", content=ndjson(rows), headers={**sensor, "Content-Type": NDJSON}).json()
    assert out["stored"] == 1 and out["rejected_by_reason"] == {"implausible": 2, "time_out_of_range": 2, "not_owner": 1}
    why = {x["reason"]: x.get("detail", "") for x in out["reasons"]}
    assert "plausible range [-10, 300]" in why["implausible"] and "5 min ahead" in why["time_out_of_range"]
    # An admin may write any datastream; the owner's own readings are the owner's business.
    mine = [{"datastream": theirs, "phenomenonTime": iso(now), "result": 3.0}]
    assert api.client.post("/api/v1/observations", content=ndjson(mine),
                           headers={**api.h("admin"), "Content-Type": NDJSON}).json()["stored"] == 1
    # Arrow: the same checks on the columns.
    t = int(now.timestamp() * 1000)
    body = arrow_body([g] * 4, [t - 10_000, t - 20_000, t + 3_600_000, t - 30_000], [float("inf"), 1e308, 1.0, 4.0])
    out = api.client.post("/api/v1/observations", content=body, headers={**sensor, "Content-Type": ARROW}).json()
    assert out["stored"] == 1 and out["rejected_by_reason"] == {"bad_result": 1, "implausible": 1, "time_out_of_range": 1}
    # SensorThings: one Observation answered 400 (SensorThings says Bad Request) with the reason; CreateObservations marks it `error`.
    r = api.client.post(f"{sta}/Datastreams({g})/Observations", json={"phenomenonTime": iso(now), "result": 1e308},
                        headers=sensor)
    assert r.status_code == 400 and "implausible" in r.json()["message"], r.text
    r = api.client.post(f"{sta}/Datastreams({g})/Observations", json={"phenomenonTime": "2099-01-01T00:00:00Z",
                                                                      "result": 1}, headers=sensor)
    assert r.status_code == 400 and "time_out_of_range" in r.json()["message"], r.text
    links = api.client.post(f"{sta}/CreateObservations", headers=sensor, json=[{
        "Datastream": {"@iot.id": g}, "components": ["phenomenonTime", "result"],
        "dataArray": [[iso(now - timedelta(seconds=5)), 1e308], ["2099-01-01T00:00:00Z", 1.0],
                      [iso(now - timedelta(seconds=6)), 5.0]]}]).json()
    assert links[:2] == ["error", "error"] and links[2].endswith(")")
    # Another gateway's datastream: refused on SensorThings too, one reading or many.
    r = api.client.post(f"{sta}/Datastreams({theirs})/Observations",
                        json={"phenomenonTime": iso(now - timedelta(seconds=7)), "result": 3.0}, headers=sensor)
    assert r.status_code == 400 and "not_owner" in r.json()["message"], r.text
    assert api.client.post(f"{sta}/CreateObservations", headers=sensor, json=[{
        "Datastream": {"@iot.id": theirs}, "components": ["phenomenonTime", "result"],
        "dataArray": [[iso(now - timedelta(seconds=8)), 3.0]]}]).json() == ["error"]
    # Nor may it change, re-link or delete another gateway's Datastream or its Observations (403).
    for method, path, kw in (("PATCH", f"Datastreams({theirs})", {"json": {"name": "taken"}}),
                             ("PATCH", f"Datastreams({theirs})", {"json": [{"op": "replace", "path": "/name", "value": "x"}],
                                                                  "headers": {"Content-Type": "application/json-patch+json"}}),
                             ("DELETE", f"Datastreams({theirs})", {}),
                             ("PUT", f"Datastreams({theirs})/Sensor/$ref", {"json": {"@iot.id": 1}})):
        extra = kw.pop("headers", {})
        r = api.client.request(method, f"{sta}/{path}", **kw, headers={**sensor, **extra})
        assert r.status_code == 403 and "another gateway" in r.text, (method, path, r.status_code, r.text)
    assert api.client.get(f"{sta}/Datastreams({theirs})").json()["name"] != "taken"
    # PATCH of a stored Observation's result: held to the same bounds.
    r = api.client.patch(links[2], json={"result": 1e308}, headers=sensor)
    assert r.status_code == 400 and "plausible range" in r.json()["message"], r.text
    assert api.client.patch(links[2], json={"result": 6.0}, headers=sensor).status_code == 200
    with api.platform.store.read() as repo:
        c = counters(repo.conn)
        assert repo.conn.execute("SELECT count(*) FROM cases").fetchone()[0] == cases_before
        assert repo.conn.execute("SELECT max(result) FROM observation WHERE datastream = ?", (g,)).fetchone()[0] < 300
    assert c["rejected:implausible"] - before.get("rejected:implausible", 0) == 6
    shown = api.get("admin", "/api/v1/sensing/stats").json()  # the API shows the same counters
    assert shown["rejected:implausible"] == c["rejected:implausible"] and "datastream_version" not in shown
    assert api.get("gw1", "/api/v1/sensing/stats").status_code == 403
    assert c["rejected:not_owner"] - before.get("rejected:not_owner", 0) == 3
    assert c["rejected:time_out_of_range"] - before.get("rejected:time_out_of_range", 0) >= 4


def test_plausible_bounds_are_vectorised_and_the_citys_to_change() -> None:
    from cityops.sensing.plausible import DEFAULT_BOUNDS, implausible, per_datastream

    ids = np.array([1, 2, 5], np.int64)
    low, high = per_datastream(ids, np.array(["water_depth", "speed", "mystery"], object),
                               {**DEFAULT_BOUNDS, "speed": (0.0, 120.0, "km/h")})
    ds = np.array([1, 1, 2, 2, 5, 5, 1], np.int64)
    r = np.array([25.0, 1e308, 130.0, 80.0, 1e10, -3.0, np.nan])
    assert implausible(ds, r, low, high).tolist() == [False, True, True, False, True, False, True]


def test_a_long_congestion_episode_is_one_case_in_city_time(api: SensingApi) -> None:
    """Three hours of one jam at one detector, a reading every 5 minutes, each its own batch:
    one case (filed under 10950 道路交通拥堵), every later detection joined to it — also past
    the detector's two-hour look-back; its text in the city's time and in each language, no
    UTC. A jam that ended hours ago is logged and opens nothing."""
    from cityops.detect.cases import texts
    from cityops.detect.columns import Columns, Detection
    from cityops.detect.congestion import learn_profile
    from cityops.sensing.ingest import ingest_columns
    from cityops.sensing.registry import detector_spec, register_specs_op
    from cityops.sensing.store import save_profile, speed_profile

    p = api.platform
    spec = detector_spec("episode detector", "三环线-E1", 114.31, 30.61, None, {})
    d = p.store.write(lambda repo: register_specs_op(repo, p, [spec]))[0]
    step = 300_000
    now_ms = int(utcnow().timestamp() * 1000) // step * step
    week = now_ms - 8 * 86_400_000 + np.arange(2016) * step
    with p.store.read() as repo:
        old = speed_profile(repo.conn)
    mine = learn_profile(Columns.of(np.full(2016, d), week, np.full(2016, 90.0)), {d: "三环线-E1"})
    if old is not None:  # keep the other tests' detectors profiled
        from cityops.detect.congestion import SpeedProfile
        mine = SpeedProfile(np.r_[old.datastream, mine.datastream], np.r_[old.free_flow, mine.free_flow],
                            np.concatenate([old.typical, mine.typical]), np.r_[old.segment, mine.segment],
                            old.slot_ms, old.utc_offset_ms)
    p.store.write(lambda repo: save_profile(repo.conn, mine))
    opened: list[int] = []
    joined: set[int] = set()
    start = now_ms - 3 * 3_600_000
    for k in range(37):
        t = start + k * step
        out = ingest_columns(p, Columns.of([d], [t], [15.0]), datetime.fromtimestamp(t / 1000 + 30, UTC))
        opened += out.cases_opened
        joined |= set(out.cases_joined)
    assert len(opened) == 1 and joined == set(opened)
    case = api.get("acceptor", f"/api/v1/cases/{opened[0]}").json()
    assert case["matter_code"] == "10950"
    local = datetime.fromtimestamp(start / 1000, p.calendar.zone)
    text = case["attributes"]["detection"]["text"]
    assert "UTC" not in case["description"] and f"{local:%H:%M}" in text["zh"] and f"{local:%H:%M}" in text["en"]
    assert text["zh"] in case["description"] and text["en"] in case["description"] and "拥堵" in text["zh"]
    assert "congestion" in text["en"] and "年" not in text["en"]
    # Texts are the city's time whatever the zone of the machine.
    det = Detection("congestion", "k", "non_recurrent", d, 1_780_000_000_000, 12.0,
                    {"segment": "三环线-E1", "started_at": 1_780_000_000_000, "free_flow": 90.0})
    assert "2026年5月29日 04:26" in texts(det, p.calendar.zone)["zh"]
    assert "29 May 2026, 04:26" in texts(det, p.calendar.zone)["en"]
    # An old jam (the replay of last week's speeds, say) is logged, and no case is opened for it.
    gone = now_ms - 6 * 3_600_000
    out = ingest_columns(p, Columns.of([d] * 4, [gone - 3 * step, gone - 2 * step, gone - step, gone], [15.0] * 4),
                         datetime.fromtimestamp(now_ms / 1000, UTC))
    assert out.detections and not out.cases_opened and not out.cases_joined


def test_sensing_own_gives_datastreams_to_a_sensor_user(api: SensingApi) -> None:
    from click.testing import CliRunner

    from cityops.cli import main
    from cityops.sensing.store import datastream_meta

    db = api.platform.store.path
    ids = [str(g) for g in api.gauges[400:403]]
    out = CliRunner().invoke(main, ["sensing", "own", "--user", "gw1", *ids, "--db", db])
    assert out.exit_code == 0 and "3 datastreams now belong to gw1" in out.output, out.output
    refused = CliRunner().invoke(main, ["sensing", "own", "--user", "collector", ids[0], "--db", db])
    assert refused.exit_code != 0 and "no sensor user 'collector'" in refused.output
    with api.platform.store.read() as repo:
        meta = datastream_meta(repo.conn)
    assert meta.owners_of(np.array(api.gauges[400:404], np.int64)).tolist() == ["gw1", "gw1", "gw1", None]
    assert CliRunner().invoke(main, ["sensing", "own", "--none", *ids, "--db", db]).exit_code == 0


def test_arrow_iso_strings_parsed_in_arrow_and_bounded(api: SensingApi, gauges: list[int],
                                                      sensor: dict[str, str]) -> None:
    """ISO 8601 strings in an Arrow stream are parsed by Arrow (no per-row Python while every
    row is a time with a zone), row by row only to say which rows are not; the same window."""
    import io

    import pyarrow as pa

    def body(times: list[str | None]) -> bytes:
        table = pa.table({"datastream": pa.array([gauges[420]] * len(times), pa.int64()),
                          "phenomenonTime": pa.array(times, pa.string()),
                          "result": pa.array([float(k) for k in range(len(times))])})
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return sink.getvalue()

    now = utcnow().replace(microsecond=0)
    good = [iso(now - timedelta(minutes=k)) for k in range(1, 4)]
    out = api.client.post("/api/v1/observations", content=body([*good, None]), headers={**sensor, "Content-Type": ARROW}).json()
    assert out["stored"] == 3 and out["rejected_by_reason"] == {"bad_time": 1}
    mixed = [iso(now - timedelta(minutes=9)), "yesterday", "2026-12-01T00:00:00", "2099-01-01T00:00:00+08:00"]
    out = api.client.post("/api/v1/observations", content=body(mixed), headers={**sensor, "Content-Type": ARROW}).json()
    assert out["stored"] == 1 and out["rejected_by_reason"] == {"bad_time": 2, "time_out_of_range": 1}
