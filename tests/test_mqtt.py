"""MQTT: readings published by a real MQTT client (paho) arrive as observations; the server
reconnects after its broker restarts; detections are published to subscribers.

Each test runs its own Mosquitto on a free port (the machine's broker on 1883 is shared and
must not be restarted); skipped when no mosquitto binary can be run."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from cityops.core import utcnow
from cityops.sensing.mqtt import GATEWAY_TOPIC, SETTING
from sensing_support import SensingApi, iso, sensing_api
from stores import new_db

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-p", str(self.port)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(lambda: _listening(self.port), 10, "broker did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for(check: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(what)


def _started_broker() -> Iterator[Broker]:
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    b = Broker(_free_port())
    try:
        b.start()
    except (OSError, AssertionError) as exc:
        pytest.skip(f"cannot start mosquitto: {exc}")
    yield b
    b.stop()


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    yield from _started_broker()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, broker: Broker) -> Iterator[SensingApi]:
    # The setting must be there before the app starts: its lifespan starts the bridge.
    gen = sensing_api_with_broker(tmp_path_factory.mktemp("mqtt"), broker.port)
    yield next(gen)
    next(gen, None)


def sensing_api_with_broker(tmp: Path, port: int) -> Iterator[SensingApi]:
    from cityops.core import open_platform

    db = new_db(tmp, "sensing.db")
    p = open_platform(db)
    p.store.write(lambda repo: repo.set_setting(SETTING, f"127.0.0.1:{port}"))
    p.close()
    yield from sensing_api(tmp, db)


def client(port: int, **callbacks: Any) -> Any:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    c = mqtt.Client(CallbackAPIVersion.VERSION2)
    for name, fn in callbacks.items():
        setattr(c, name, fn)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def topic(ds: int, gateway: str = "gw1") -> str:
    return GATEWAY_TOPIC.format(user=gateway, datastream=ds)


def own(api: SensingApi, ids: list[int], user: str | None = "gw1") -> None:
    from cityops.sensing.store import set_owner

    api.platform.store.write(lambda repo: set_owner(repo.conn, ids, user))


def count(api: SensingApi, ds: int) -> int:
    with api.platform.store.read() as repo:
        return int(repo.conn.execute("SELECT count(*) FROM observation WHERE datastream = ?", (ds,)).fetchone()[0])


def test_published_readings_arrive(api: SensingApi, broker: Broker) -> None:
    bridge = api.client.app.state.mqtt  # type: ignore[attr-defined]
    wait_for(bridge.connected.is_set, 10, "the server did not connect to the broker")
    pub = client(broker.port)
    ds = api.gauges[0]
    own(api, [ds, api.gauges[1]])
    now = utcnow()
    for k in range(5):
        msg = pub.publish(topic(ds), orjson.dumps({"phenomenonTime": iso(now - timedelta(minutes=5 * k)),
                                                   "result": 1.5 + k}), qos=1)
        msg.wait_for_publish(5)
    pub.publish(topic(999999), orjson.dumps({"phenomenonTime": iso(now), "result": 1}))
    pub.publish(topic(ds), b"not json")
    pub.publish(topic(10**30), orjson.dumps({"phenomenonTime": iso(now), "result": 1}))  # beyond any id
    wait_for(lambda: count(api, ds) == 5, 15, "readings did not arrive")
    wait_for(lambda: bridge.rejected == 3, 5, "bad messages were not counted")
    pub.loop_stop()
    pub.disconnect()


def test_a_gateway_writes_only_its_own_datastreams_and_plausible_readings(api: SensingApi, broker: Broker) -> None:
    """The topic names the gateway (the broker's ACL lets it publish only under its own
    prefix); a datastream it does not own, a time ahead of the clock, an impossible depth and
    the bare SensorThings topic (no gateway) store nothing, and are counted."""
    from cityops.sensing.store import counters

    bridge = api.client.app.state.mqtt  # type: ignore[attr-defined]
    wait_for(bridge.connected.is_set, 10, "the server did not connect to the broker")
    mine, theirs, unowned = api.gauges[5], api.gauges[6], api.gauges[7]
    own(api, [mine])
    own(api, [theirs], "gw2")  # another gateway's
    before = bridge.rejected
    pub = client(broker.port)
    now = utcnow()
    ok = orjson.dumps({"phenomenonTime": iso(now), "result": 2.0})
    for msg in [pub.publish(topic(theirs), ok, qos=1), pub.publish(topic(unowned), ok, qos=1),
                pub.publish(topic(unowned, "gw2"), ok, qos=1),
                pub.publish(topic(mine), orjson.dumps({"phenomenonTime": iso(now + timedelta(days=30)),
                                                       "result": 2.0}), qos=1),
                pub.publish(topic(mine), orjson.dumps({"phenomenonTime": iso(now), "result": 1e308}), qos=1),
                pub.publish(f"v1.1/Datastreams({mine})/Observations", ok, qos=1),
                pub.publish(topic(mine), orjson.dumps({"phenomenonTime": iso(now - timedelta(minutes=1)),
                                                       "result": 3.0}), qos=1)]:
        msg.wait_for_publish(5)
    wait_for(lambda: count(api, mine) == 1, 15, "the good reading did not arrive")
    wait_for(lambda: bridge.rejected - before == 5, 5, f"refusals not counted: {bridge.rejected - before}")
    assert count(api, theirs) == 0 and count(api, unowned) == 0
    with api.platform.store.read() as repo:
        c = counters(repo.conn)
    assert c["rejected:not_owner"] >= 3 and c["rejected:implausible"] >= 1 and c["rejected:time_out_of_range"] >= 1
    pub.loop_stop()
    pub.disconnect()


def test_detections_published_and_reconnect(api: SensingApi, broker: Broker) -> None:
    bridge = api.client.app.state.mqtt  # type: ignore[attr-defined]
    wait_for(bridge.connected.is_set, 10, "the server did not connect to the broker")
    broker.stop()
    bridge.connected.clear()
    time.sleep(0.5)
    broker.start()  # the same port: the server's client must come back by itself
    wait_for(bridge.connected.is_set, 20, "the server did not reconnect after the broker restarted")
    got: list[Any] = []
    sub = client(broker.port, on_message=lambda c, u, m: got.append((m.topic, orjson.loads(m.payload))))
    sub.subscribe("cityops/v1/detections/#", qos=1)
    time.sleep(0.3)
    pub = client(broker.port)
    ds = api.gauges[1]
    start = utcnow() - timedelta(hours=1)
    for k, depth in enumerate([10, 18, 24, 29]):
        pub.publish(topic(ds),
                    orjson.dumps({"phenomenonTime": iso(start + timedelta(minutes=5 * k)), "result": depth}), qos=1)
    wait_for(lambda: count(api, ds) == 4, 15, "readings did not arrive after the reconnect")
    wait_for(lambda: got, 10, "no detection was published")
    where, body = got[0]
    assert where == "cityops/v1/detections/waterlogging" and body["level"] in ("yellow", "red")
    for c in (sub, pub):
        c.loop_stop()
        c.disconnect()


# --- a broker that authenticates gateways, configured as docs/sensing.md says ----------------

DOCS = Path(__file__).resolve().parents[1] / "docs" / "sensing.md"


def documented_acl() -> str:
    """The sample ACL file of docs/sensing.md, as a reader would copy it."""
    text = DOCS.read_text("utf-8")
    return text.split("`/etc/mosquitto/cityops.acl`:", 1)[1].split("```conf\n", 1)[1].split("```", 1)[0]


def secured_client(port: int, user: str | None, password: str | None, **callbacks: Any) -> Any:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    c = mqtt.Client(CallbackAPIVersion.VERSION2)
    if user:
        c.username_pw_set(user, password)
    for name, fn in callbacks.items():
        setattr(c, name, fn)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def test_only_authenticated_gateways_under_their_own_prefix(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Mosquitto with a password file and the ACL of docs/sensing.md: an anonymous client is
    turned away, a gateway publishing under another gateway's prefix is dropped by the broker,
    and the server (logging in from CITYOPS_MQTT_USERNAME/PASSWORD) stores the gateway's own."""
    if not Path(MOSQUITTO).exists() or not shutil.which("mosquitto_passwd"):
        pytest.skip("mosquitto and mosquitto_passwd are not installed")
    tmp = tmp_path_factory.mktemp("mqtt-secured")
    passwd, acl, conf = tmp / "cityops.passwd", tmp / "cityops.acl", tmp / "mosquitto.conf"
    users = {"cityops-server": "server-pw-1", "gw1": "gw1-pw-1", "gw2": "gw2-pw-1"}
    for n, (user, pw) in enumerate(users.items()):
        subprocess.run(["mosquitto_passwd", *(["-c"] if n == 0 else []), "-b", str(passwd), user, pw], check=True)
    acl.write_text(documented_acl(), "utf-8")
    port = _free_port()
    # `user`: run as root, mosquitto would switch to its own user, who cannot read the tmp files.
    me = pwd.getpwuid(os.getuid()).pw_name
    conf.write_text(f"user {me}\nlistener {port} 127.0.0.1\nallow_anonymous false\n"
                    f"password_file {passwd}\nacl_file {acl}\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _listening(port), 10, "the secured broker did not start")
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("CITYOPS_MQTT_USERNAME", "cityops-server")
            mp.setenv("CITYOPS_MQTT_PASSWORD", users["cityops-server"])
            gen = sensing_api_with_broker(tmp, port)
            api = next(gen)
        try:
            bridge = api.client.app.state.mqtt  # type: ignore[attr-defined]
            wait_for(bridge.connected.is_set, 10, "the server did not log in to the secured broker")
            mine = api.gauges[30]
            own(api, [mine])
            refused: list[Any] = []
            anonymous = secured_client(port, None, None, on_connect=lambda c, u, f, reason, p=None: refused.append(reason))
            wait_for(lambda: refused, 5, "the anonymous client got no answer")
            assert refused[0].is_failure  # not authorised
            anonymous.loop_stop()
            now = utcnow()
            intruder = secured_client(port, "gw2", users["gw2"])
            intruder.publish(topic(mine), orjson.dumps({"phenomenonTime": iso(now - timedelta(minutes=2)),
                                                        "result": 250.0}), qos=1).wait_for_publish(5)
            gw1 = secured_client(port, "gw1", users["gw1"])
            gw1.publish(topic(mine), orjson.dumps({"phenomenonTime": iso(now - timedelta(minutes=1)),
                                                   "result": 3.0}), qos=1).wait_for_publish(5)
            wait_for(lambda: count(api, mine) == 1, 15, "the gateway's own reading did not arrive")
            time.sleep(0.5)
            assert count(api, mine) == 1  # gw2's message under gw1's prefix never reached the server
            with api.platform.store.read() as repo:
                assert repo.conn.execute("SELECT result FROM observation WHERE datastream = ?", (mine,)).fetchone()[0] == 3.0
            for c in (intruder, gw1):
                c.loop_stop()
                c.disconnect()
        finally:
            next(gen, None)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_sensorthings_writes_publish_detections(api: SensingApi, broker: Broker) -> None:
    """Every write path publishes its detections: SensorThings' single POST …/Observations and
    CreateObservations as the batch endpoint and MQTT readings do (issue 18, item 13)."""
    bridge = api.client.app.state.mqtt  # type: ignore[attr-defined]
    wait_for(bridge.connected.is_set, 20, "the server did not connect to the broker")
    got: list[Any] = []
    sub = client(broker.port, on_message=lambda c, u, m: got.append(orjson.loads(m.payload)))
    sub.subscribe("cityops/v1/detections/#", qos=1)
    time.sleep(0.3)
    h = api.h("gw1")
    start = utcnow() - timedelta(minutes=30)
    single, batch = api.gauges[2], api.gauges[3]
    r = api.client.post(f"/sta/v1.1/Datastreams({single})/Observations", headers=h,
                        json={"phenomenonTime": iso(start), "result": 31.0})
    assert r.status_code == 201, r.text
    wait_for(lambda: any(d["datastream"] == single for d in got), 10, "a single POST's detection was not published")
    r = api.client.post("/sta/v1.1/CreateObservations", headers=h, json=[{
        "Datastream": {"@iot.id": batch}, "components": ["phenomenonTime", "result"],
        "dataArray": [[iso(start + timedelta(minutes=5 * k)), depth] for k, depth in enumerate([12, 22, 30])]}])
    assert r.status_code == 201 and "error" not in r.json()
    wait_for(lambda: any(d["datastream"] == batch for d in got), 10, "CreateObservations' detection was not published")
    sub.loop_stop()
    sub.disconnect()


# --- nothing acknowledged lost: hand-off, restarts, several servers (issue 19) --------------

SERVER_PROCESS = """
import asyncio, sys
from cityops.core import open_platform
from cityops.sensing.mqtt import MqttBridge

async def main() -> None:
    p = open_platform(sys.argv[1])
    bridge = MqttBridge(p, "127.0.0.1", int(sys.argv[2]), client_id=sys.argv[3], session_expiry_s=120)
    await bridge.start()
    await bridge.connected.wait()
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


@pytest.fixture
def own_broker() -> Iterator[Broker]:
    """A broker of the test's own: the module's broker has the app's bridge in the share group,
    which would take part of the feed."""
    yield from _started_broker()


def gauge_platform(tmp: Path, gateway: str = "gw1") -> tuple[Any, list[int]]:
    from cityops.core import open_platform
    from cityops.sensing.registry import register_point_gauges
    from cityops.sensing.store import set_owner

    p = open_platform(new_db(tmp, "sensing.db"))
    gauges = register_point_gauges(p)[:10]
    p.store.write(lambda repo: set_owner(repo.conn, gauges, gateway))
    return p, gauges


def readings(gauges: list[int], n: int) -> list[tuple[int, str]]:
    """n distinct (datastream, phenomenonTime) within the last hours, harmless depths."""
    start = utcnow() - timedelta(hours=3)
    return [(gauges[k % len(gauges)], iso(start + timedelta(milliseconds=100 * k))) for k in range(n)]


def stored_keys(p: Any, gauges: list[int]) -> list[tuple[int, int]]:
    marks = ",".join("?" * len(gauges))
    with p.store.read() as repo:
        return [(int(d), int(t)) for d, t in repo.conn.execute(
            f"SELECT datastream, t FROM observation WHERE datastream IN ({marks})", gauges)]


def key(d: int, when: str) -> tuple[int, int]:
    from cityops.sensing.ingest import parse_time

    t = parse_time(when)
    assert t is not None
    return d, t


def publish_all(port: int, items: list[tuple[int, str]], per_second: float | None = None) -> list[tuple[Any, tuple[int, str]]]:
    """QoS 1, at a steady rate when given; returns each message's info (published = the broker's PUBACK came)."""
    pub = client(port)
    sent = []
    t0 = time.monotonic()
    for k, (d, when) in enumerate(items):
        if per_second:
            time.sleep(max(0.0, t0 + k / per_second - time.monotonic()))
        sent.append((pub.publish(topic(d), orjson.dumps({"phenomenonTime": when, "result": 1.0}), qos=1), (d, when)))
    for info, _ in sent:
        info.wait_for_publish(10)
    pub.loop_stop()
    pub.disconnect()
    return sent


class FlakyWrites:
    """The platform, whose every third write fails (a write process restarting, say)."""

    def __init__(self, platform: Any) -> None:
        self.platform, self.calls = platform, 0

    async def awrite(self, op: Any, *args: Any) -> Any:
        self.calls += 1
        if self.calls % 3 == 0:
            raise RuntimeError("write process restarting")
        return await self.platform.awrite(op, *args)


def test_no_reading_lost_between_arrival_and_flush(tmp_path: Path, own_broker: Broker) -> None:
    """The race of issue 19: readings arriving while flushes run (the flusher and two callers
    flushing without pause, a third of the writes failing) are all stored, once."""
    import asyncio
    import contextlib
    import threading

    from cityops.sensing.mqtt import MqttBridge

    p, gauges = gauge_platform(tmp_path)
    items = readings(gauges, 3000)

    async def scenario() -> MqttBridge:
        bridge = MqttBridge(p, "127.0.0.1", own_broker.port, client_id=f"race-{os.getpid()}")
        bridge.platform = FlakyWrites(p)  # type: ignore[assignment]
        await bridge.start()
        await asyncio.wait_for(bridge.connected.wait(), 10)
        publisher = threading.Thread(target=publish_all, args=(own_broker.port, items))
        publisher.start()

        async def hammer() -> None:
            while True:
                with contextlib.suppress(RuntimeError):
                    await bridge.flush()
                await asyncio.sleep(0)

        hammers = [asyncio.create_task(hammer()) for _ in range(2)]
        deadline = time.monotonic() + 15
        while bridge.stored < len(items) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for h in hammers:
            h.cancel()
        await asyncio.to_thread(publisher.join)
        bridge.platform = p
        await bridge.stop()
        return bridge

    bridge = asyncio.run(scenario())
    keys = stored_keys(p, gauges)
    p.close()
    assert bridge.failed_flushes > 0  # the failures happened, and lost nothing
    assert bridge.received >= len(items)
    assert len(keys) == len(set(keys)) == len(items) == bridge.stored
    assert set(keys) == {key(d, w) for d, w in items}


def test_server_killed_and_restarted_loses_no_acknowledged_reading(tmp_path: Path, own_broker: Broker) -> None:
    """A server process killed (kill -9) twice while a gateway publishes QoS 1 at 250/s, and
    started again with its client id: every reading the broker acknowledged to the gateway
    is stored exactly once (the broker kept the persistent session; unacknowledged messages
    came again)."""
    import signal
    import sys
    import threading

    p, gauges = gauge_platform(tmp_path)
    items = readings(gauges, 1250)
    cid = f"killed-{os.getpid()}"

    def server() -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-c", SERVER_PROCESS, str(p.store.path),
                                 str(own_broker.port), cid], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return proc

    proc = server()
    sent: list[tuple[Any, tuple[int, str]]] = []
    publisher = threading.Thread(target=lambda: sent.extend(publish_all(own_broker.port, items, 250)))
    publisher.start()
    try:
        for pause in (1.2, 1.5):
            time.sleep(pause)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            time.sleep(0.3)  # readings meanwhile wait in the broker's session
            proc = server()
        publisher.join()
        acknowledged = {key(d, w) for info, (d, w) in sent if info.is_published()}
        assert len(acknowledged) > 0.9 * len(items)
        wait_for(lambda: acknowledged <= set(stored_keys(p, gauges)), 15,
                 "acknowledged readings missing after the restarts")
    finally:
        proc.terminate()
        proc.wait(10)
    keys = stored_keys(p, gauges)
    p.close()
    assert len(keys) == len(set(keys))  # each stored once
    assert acknowledged <= set(keys)


def test_two_servers_split_one_feed(tmp_path: Path, own_broker: Broker) -> None:
    """Two servers (client ids of their own) on the shared subscription $share/cityops/…:
    each gets part of the feed, and every reading is stored once."""
    import asyncio

    from cityops.sensing.mqtt import SUBSCRIPTION, MqttBridge

    assert SUBSCRIPTION.startswith("$share/cityops/")
    p, gauges = gauge_platform(tmp_path)
    items = readings(gauges, 600)

    async def scenario() -> list[MqttBridge]:
        bridges = [MqttBridge(p, "127.0.0.1", own_broker.port, client_id=f"split-{k}-{os.getpid()}") for k in (1, 2)]
        for b in bridges:
            await b.start()
            await asyncio.wait_for(b.connected.wait(), 10)
        await asyncio.to_thread(publish_all, own_broker.port, items)
        deadline = time.monotonic() + 15
        while sum(b.stored for b in bridges) < len(items) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for b in bridges:
            await b.stop()
        return bridges

    bridges = asyncio.run(scenario())
    keys = stored_keys(p, gauges)
    p.close()
    assert all(b.stored > 0 for b in bridges), [b.stored for b in bridges]
    assert sum(b.received for b in bridges) == len(items)  # each message went to one server
    assert len(keys) == len(set(keys)) == len(items)


def test_client_id_is_each_servers_own_and_stable(monkeypatch: pytest.MonkeyPatch) -> None:
    """`cityops-<host>-<port>-<slot>`: a second worker on the port gets the next slot while the
    first lives; a worker started after one died takes the slot it freed (so its session)."""
    import sys

    from cityops.sensing.mqtt import CLIENT_ID_ENV, SERVE_PORT_ENV, client_id

    port = _free_port()  # a port no other test process claims slots of
    monkeypatch.delenv(CLIENT_ID_ENV, raising=False)
    monkeypatch.setenv(SERVE_PORT_ENV, str(port))
    mine = client_id()
    assert mine == client_id() == f"cityops-{socket.gethostname()}-{port}-0"

    def another_worker() -> str:
        out = subprocess.run([sys.executable, "-c", "from cityops.sensing.mqtt import client_id; print(client_id())"],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()

    second = another_worker()
    assert second == f"cityops-{socket.gethostname()}-{port}-1"
    assert another_worker() == second  # the second worker restarted: the same id, the same session
    monkeypatch.setenv(CLIENT_ID_ENV, "cityops-node7-a")
    assert client_id() == "cityops-node7-a"


def test_session_expiry_setting(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cityops.cli import main
    from cityops.core import open_platform
    from cityops.sensing.mqtt import (
        DEFAULT_SESSION_EXPIRY_S,
        EXPIRY_SETTING,
        session_expiry_setting,
    )

    db = new_db(tmp_path, "s.db")
    p = open_platform(db)
    assert session_expiry_setting(p) == DEFAULT_SESSION_EXPIRY_S
    p.close()
    r = CliRunner().invoke(main, ["sensing", "mqtt", "--broker", "127.0.0.1:1883", "--session-expiry", "7200", "--db", db])
    assert r.exit_code == 0, r.output
    assert "7200" in r.output
    r = CliRunner().invoke(main, ["sensing", "mqtt", "--session-expiry", "-5", "--db", db])
    assert r.exit_code == 2 and "session-expiry" in r.output
    p = open_platform(db)
    with p.store.read() as repo:
        assert repo.get_setting(EXPIRY_SETTING) == "7200"
    assert session_expiry_setting(p) == 7200
    p.close()


def test_a_reading_committed_but_not_acknowledged_comes_again_and_is_stored_once(tmp_path: Path,
                                                                                  own_broker: Broker) -> None:
    """A server gone between its COMMIT and the PUBACK: the broker sends the messages again to
    the same client id; the store keeps the first reading of each (datastream, time), counts
    the copies as duplicates, and the copies are acknowledged."""
    import asyncio

    from cityops.sensing.mqtt import MqttBridge
    from cityops.sensing.store import counters

    p, gauges = gauge_platform(tmp_path)
    items = readings(gauges, 50)
    cid = f"unacked-{os.getpid()}"

    async def until(check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 10
        while not check():
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.05)

    async def scenario() -> tuple[MqttBridge, MqttBridge, MqttBridge]:
        first = MqttBridge(p, "127.0.0.1", own_broker.port, client_id=cid)
        first._ack = lambda items: None  # type: ignore[method-assign]  # gone before acknowledging
        await first.start()
        await asyncio.wait_for(first.connected.wait(), 10)
        await asyncio.to_thread(publish_all, own_broker.port, items)
        await until(lambda: first.stored == len(items), "the first server did not store the readings")
        await first.stop()
        second = MqttBridge(p, "127.0.0.1", own_broker.port, client_id=cid)
        await second.start()
        await until(lambda: second.duplicates >= len(items), "the broker did not send them again")
        # Stopped only once every copy is acknowledged (on a loaded machine the connection may
        # drop and come back first: then the copies come once more and are acknowledged then).
        await until(lambda: second.acked >= len(items), "the copies were not acknowledged")
        await second.stop()
        third = MqttBridge(p, "127.0.0.1", own_broker.port, client_id=cid)
        await third.start()
        await asyncio.wait_for(third.connected.wait(), 10)
        await asyncio.sleep(0.5)
        await third.stop()
        return first, second, third

    first, second, third = asyncio.run(scenario())
    keys = stored_keys(p, gauges)
    with p.store.read() as repo:
        c = counters(repo.conn)
    p.close()
    assert second.stored == 0 and third.received == 0  # the copies were acknowledged
    assert len(keys) == len(set(keys)) == len(items)
    assert c["duplicates"] >= len(items)


def test_the_standards_topic_feeds_unowned_datastreams_only_where_the_city_turns_it_on(
        tmp_path: Path, own_broker: Broker) -> None:
    """`v1.1/Datastreams(ID)/Observations` (OGC 18-088's own topic) is read only with
    `--sta-topic on`, and then only for datastreams no gateway owns: the broker cannot say who
    published there, and a gateway's own datastreams take readings only under its prefix."""
    import asyncio

    from cityops.sensing.mqtt import MqttBridge

    p, gauges = gauge_platform(tmp_path)  # the first 10 gauges belong to gw1
    from cityops.sensing.store import set_owner

    free = gauges[-1]
    p.store.write(lambda repo: set_owner(repo.conn, [free], None))
    owned = gauges[0]
    when = [iso(utcnow() - timedelta(minutes=m)) for m in (3, 2, 1)]

    def publish_bare(items: list[tuple[int, str]]) -> None:
        pub = client(own_broker.port)
        infos = [pub.publish(f"v1.1/Datastreams({d})/Observations", orjson.dumps({"phenomenonTime": t, "result": 2.0}),
                             qos=1) for d, t in items]
        for info in infos:
            info.wait_for_publish(10)
        pub.loop_stop()
        pub.disconnect()

    async def scenario(sta: bool, items: list[tuple[int, str]]) -> MqttBridge:
        b = MqttBridge(p, "127.0.0.1", own_broker.port, client_id=f"sta-{sta}-{os.getpid()}", sta_topic=sta)
        await b.start()
        await asyncio.wait_for(b.connected.wait(), 10)
        await asyncio.to_thread(publish_bare, items)
        deadline = time.monotonic() + 5
        while b.stored + b.rejected < (len(items) if sta else 0) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5 if not sta else 0)
        await b.stop()
        return b

    off = asyncio.run(scenario(False, [(free, when[0])]))
    assert off.received == 0 and stored_keys(p, [free]) == []
    on = asyncio.run(scenario(True, [(free, when[1]), (owned, when[2])]))
    assert on.stored == 1 and on.rejected == 1
    assert stored_keys(p, [free]) == [key(free, when[1])] and stored_keys(p, [owned]) == []
    p.close()
