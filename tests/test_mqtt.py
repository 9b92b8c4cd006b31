"""MQTT: readings published by a real MQTT client (paho) arrive as observations; the server
reconnects after its broker restarts; detections are published to subscribers.

Each test runs its own Mosquitto on a free port (the machine's broker on 1883 is shared and
must not be restarted); skipped when no mosquitto binary can be run."""

from __future__ import annotations

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
from cityops.sensing.mqtt import SETTING
from sensing_support import SensingApi, iso, sensing_api

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


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
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
def api(tmp_path_factory: pytest.TempPathFactory, broker: Broker) -> Iterator[SensingApi]:
    # The setting must be there before the app starts: its lifespan starts the bridge.
    gen = sensing_api_with_broker(tmp_path_factory.mktemp("mqtt"), broker.port)
    yield next(gen)
    next(gen, None)


def sensing_api_with_broker(tmp: Path, port: int) -> Iterator[SensingApi]:
    from cityops.core import open_platform

    p = open_platform(tmp / "sensing.db")
    p.store.write(lambda repo: repo.set_setting(SETTING, f"127.0.0.1:{port}"))
    p.close()
    yield from sensing_api(tmp)


def client(port: int, **callbacks: Any) -> Any:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    c = mqtt.Client(CallbackAPIVersion.VERSION2)
    for name, fn in callbacks.items():
        setattr(c, name, fn)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def count(api: SensingApi, ds: int) -> int:
    with api.platform.store.read() as repo:
        return int(repo.conn.execute("SELECT count(*) FROM observation WHERE datastream = ?", (ds,)).fetchone()[0])


def test_published_readings_arrive(api: SensingApi, broker: Broker) -> None:
    bridge = api.client.app.state.mqtt  # type: ignore[attr-defined]
    wait_for(bridge.connected.is_set, 10, "the server did not connect to the broker")
    pub = client(broker.port)
    ds = api.gauges[0]
    now = utcnow()
    for k in range(5):
        msg = pub.publish(f"v1.1/Datastreams({ds})/Observations",
                          orjson.dumps({"phenomenonTime": iso(now - timedelta(minutes=5 * k)), "result": 1.5 + k}), qos=1)
        msg.wait_for_publish(5)
    pub.publish("v1.1/Datastreams(999999)/Observations", b'{"phenomenonTime": "2026-01-01T00:00:00Z", "result": 1}')
    pub.publish(f"v1.1/Datastreams({ds})/Observations", b"not json")
    wait_for(lambda: count(api, ds) == 5, 15, "readings did not arrive")
    wait_for(lambda: bridge.rejected == 2, 5, "bad messages were not counted")
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
        pub.publish(f"v1.1/Datastreams({ds})/Observations",
                    orjson.dumps({"phenomenonTime": iso(start + timedelta(minutes=5 * k)), "result": depth}), qos=1)
    wait_for(lambda: count(api, ds) == 4, 15, "readings did not arrive after the reconnect")
    wait_for(lambda: got, 10, "no detection was published")
    topic, body = got[0]
    assert topic == "cityops/v1/detections/waterlogging" and body["level"] in ("yellow", "red")
    for c in (sub, pub):
        c.loop_stop()
        c.disconnect()


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
