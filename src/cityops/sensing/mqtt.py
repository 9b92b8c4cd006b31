"""MQTT: readings in on SensorThings topics, detections out, through a broker (Mosquitto).

Readings come only from authenticated gateways, each under its own prefix:
`cityops/gw/<user>/v1.1/Datastreams(<id>)/Observations` (the SensorThings MQTT create-observation
topic behind the gateway's prefix: one JSON object `{"phenomenonTime", "result"}` per message).
The broker authenticates the gateway (Mosquitto's password file) and its ACL lets user <user>
publish only under `cityops/gw/<user>/` (`pattern write cityops/gw/%u/#`), so the topic names
who sent it; the server then stores a reading only for a datastream that sensor user owns
(`cityops sensing own`), refusing and counting the rest (`not_owner`), and bounds its time
and result like every other write path. See docs/sensing.md. The server's own broker login
comes from the environment (CITYOPS_MQTT_USERNAME, CITYOPS_MQTT_PASSWORD). The server publishes each detection, as JSON, on `cityops/v1/detections/<kind>`. Messages are collected
for a short moment and stored as one batch through the write process, as an HTTP batch is:
an MQTT reading is durable once its batch commits (QoS 1 messages are acknowledged by the
client library on receipt, so a crash in that moment loses them: MQTT is for live feeds,
the HTTP batch for guaranteed delivery). paho reconnects by itself when the broker restarts;
subscriptions are renewed on every (re)connect.

Enabled by the setting `sensing.mqtt_broker` = "host:port" (`cityops sensing mqtt --broker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import orjson

from cityops.detect.columns import Columns, Detection
from cityops.sensing.ingest import Rejects, ingest_client, parse_time

if TYPE_CHECKING:
    from cityops.core import Platform

log = logging.getLogger("cityops.mqtt")
SETTING = "sensing.mqtt_broker"
SUBSCRIPTION = "cityops/gw/+/v1.1/+/Observations"
GATEWAY_TOPIC = "cityops/gw/{user}/v1.1/Datastreams({datastream})/Observations"
_TOPIC = re.compile(r"^cityops/gw/([^/]+)/v1\.1/Datastreams\((\d+)\)/Observations$")
DETECTION_TOPIC = "cityops/v1/detections/{kind}"
FLUSH_SECONDS = 0.2


def detection_payload(d: Detection) -> bytes:
    return orjson.dumps(asdict(d), option=orjson.OPT_SERIALIZE_NUMPY)


class MqttBridge:
    """One paho client on its own network thread; readings handed to the event loop."""

    def __init__(self, platform: Platform, host: str, port: int, client_id: str = "cityops-server") -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.platform = platform
        self.host, self.port = host, port
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)
        user = os.environ.get("CITYOPS_MQTT_USERNAME")
        if user:  # a broker with a password file: the server logs in like any client
            self.client.username_pw_set(user, os.environ.get("CITYOPS_MQTT_PASSWORD"))
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.loop: asyncio.AbstractEventLoop | None = None
        self.pending: list[tuple[str, int, Any, Any]] = []
        self.task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.stored = 0
        self.rejected = 0

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.client.connect_async(self.host, self.port, keepalive=10)
        self.client.loop_start()  # network thread: connects, and reconnects after a drop
        self.task = self.loop.create_task(self._flusher())

    async def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.flush()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any = None) -> None:
        if not reason.is_failure:
            client.subscribe(SUBSCRIPTION, qos=1)
            if self.loop is not None:
                self.loop.call_soon_threadsafe(self.connected.set)
            log.info("MQTT connected to %s:%s", self.host, self.port)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        m = _TOPIC.match(msg.topic)
        try:
            body = orjson.loads(msg.payload)
        except orjson.JSONDecodeError:
            body = None
        item = (m.group(1) if m else "", int(m.group(2)) if m else 0, body, msg.topic)
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.pending.append, item)

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await self.flush()
            except Exception:  # say the write process restarting: the next round retries
                log.exception("storing MQTT readings failed")

    async def flush(self) -> None:
        items, self.pending = self.pending, []
        if not items:
            return
        from cityops.core import utcnow

        by_gateway: dict[str, list[tuple[int, Any, Any]]] = {}
        for gateway, d, body, topic in items:
            by_gateway.setdefault(gateway, []).append((d, body, topic))
        for gateway, mine in by_gateway.items():  # each gateway's readings are checked against what it owns
            rejects = Rejects()
            cols = _columns(mine, rejects)
            result = await self.platform.awrite(ingest_client, cols, rejects, utcnow(), gateway or None, True)
            self.stored += result.stored
            self.rejected += result.rejects.total
            if result.detections:
                self.publish(result.detections)

    def publish(self, detections: Sequence[Detection]) -> None:
        for d in detections:
            self.client.publish(DETECTION_TOPIC.format(kind=d.kind), detection_payload(d), qos=1)


def _columns(items: list[tuple[int, Any, Any]], rejects: Rejects) -> Columns:
    """Messages → readings; malformed ones refused (and counted) by reason."""
    ds: list[int] = []
    ts: list[int] = []
    rs: list[float] = []
    for n, (d, body, topic) in enumerate(items, start=1):
        t = parse_time(body.get("phenomenonTime")) if isinstance(body, dict) else None
        r = body.get("result") if isinstance(body, dict) else None
        if d <= 0:
            rejects.add(n, "bad_topic", topic)
        elif t is None:
            rejects.add(n, "bad_time" if isinstance(body, dict) else "malformed_json")
        elif isinstance(r, bool) or not isinstance(r, int | float):
            rejects.add(n, "bad_result")
        else:
            ds.append(d)
            ts.append(t)
            rs.append(float(r))
    return Columns.of(ds, ts, rs)


def publish_detections(state: Any, detections: Sequence[Detection]) -> None:
    """Every write path's detections out on MQTT (the batch, SensorThings' single POST and
    CreateObservations alike), when the server runs a bridge (`app.state.publish_detections`)."""
    publish = getattr(state, "publish_detections", None)
    if publish is not None and detections:
        publish(detections)


def broker_setting(platform: Platform) -> tuple[str, int] | None:
    with platform.store.read() as repo:
        value = repo.get_setting(SETTING)
    if not value:
        return None
    host, _, port = value.rpartition(":")
    return (host or "127.0.0.1"), int(port or 1883)


async def start_bridge(platform: Platform, app: Any) -> MqttBridge | None:
    """Start the bridge when the setting names a broker; the app then publishes the
    detections of HTTP batches too."""
    where = broker_setting(platform)
    if where is None:
        return None
    bridge = MqttBridge(platform, *where)
    await bridge.start()
    app.state.mqtt = bridge
    app.state.publish_detections = bridge.publish
    return bridge
