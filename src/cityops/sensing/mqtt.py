"""MQTT: readings in on SensorThings topics, detections out, through a broker (Mosquitto).

Readings come only from authenticated gateways, each under its own prefix:
`cityops/gw/<user>/v1.1/Datastreams(<id>)/Observations` (the SensorThings MQTT create-observation
topic behind the gateway's prefix: one JSON object `{"phenomenonTime", "result"}` per message).
The broker authenticates the gateway (Mosquitto's password file) and its ACL lets user <user>
publish only under `cityops/gw/<user>/` (`pattern write cityops/gw/%u/#`), so the topic names
who sent it; the server then stores a reading only for a datastream that sensor user owns
(`cityops sensing own`), refusing and counting the rest (`not_owner`), and bounds its time
and result like every other write path. See docs/sensing.md. The server's own broker login
comes from the environment (CITYOPS_MQTT_USERNAME, CITYOPS_MQTT_PASSWORD). The server publishes
each detection, as JSON, on `cityops/v1/detections/<kind>`.

Nothing acknowledged is lost (docs/sensing.md, "What is guaranteed"): the bridge speaks MQTT 5
with a persistent session (clean start off, the city's session expiry), subscribes with QoS 1
and acknowledges each message itself (paho's manual ack) only after the transaction holding
its reading committed. A message not acknowledged when the server dies or restarts is sent
again by the broker when the same client id comes back; the store keeps the first reading of a
(datastream, phenomenonTime), so the copy is counted as a duplicate and not stored twice.
Servers share the feed through the shared subscription `$share/cityops/…`, each with a client
id of its own that stays the same across its restarts (`client_id`).

Enabled by the setting `sensing.mqtt_broker` = "host:port" (`cityops sensing mqtt --broker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from cityops.detect.columns import Columns, Detection
from cityops.sensing.ingest import IngestResult, Rejects, ingest_client, parse_time
from cityops.sensing.store import MAX_DATASTREAM

if TYPE_CHECKING:
    from cityops.core import Platform

log = logging.getLogger("cityops.mqtt")
SETTING = "sensing.mqtt_broker"
EXPIRY_SETTING = "sensing.mqtt_session_expiry_s"
DEFAULT_SESSION_EXPIRY_S = 3600
MAX_SESSION_EXPIRY_S = 2**32 - 1  # MQTT 5: a four-byte integer (this value: never expires)
SHARE_GROUP = "cityops"
TOPIC_FILTER = "cityops/gw/+/v1.1/+/Observations"
SUBSCRIPTION = f"$share/{SHARE_GROUP}/{TOPIC_FILTER}"  # several servers split one feed
GATEWAY_TOPIC = "cityops/gw/{user}/v1.1/Datastreams({datastream})/Observations"
_TOPIC = re.compile(r"^cityops/gw/([^/]+)/v1\.1/Datastreams\((\d+)\)/Observations$")
# The standard's own topic (OGC 18-088 §14.2.1), read only where the city turns it on
# (`cityops sensing mqtt --sta-topic on`): the broker cannot say who published there, so what
# arrives on it is written as STA_WRITER, a name no user can have, which owns no datastream:
# only unowned datastreams take it; a gateway's own ones take readings only under its prefix.
STA_SETTING = "sensing.mqtt_sta_topic"
STA_FILTER = "v1.1/+/Observations"
STA_SUBSCRIPTION = f"$share/{SHARE_GROUP}/{STA_FILTER}"
STA_WRITER = "(mqtt)"
_STA_TOPIC = re.compile(r"^v1\.1/Datastreams\((\d+)\)/Observations$")
DETECTION_TOPIC = "cityops/v1/detections/{kind}"
CLIENT_ID_ENV = "CITYOPS_MQTT_CLIENT_ID"
SERVE_PORT_ENV = "CITYOPS_SERVE_PORT"  # set by `cityops serve` for its workers
FLUSH_SECONDS = 0.2
# Messages the broker may have in flight to us, unacknowledged (MQTT 5 Receive Maximum; without
# it Mosquitto sends 20 at a time). As messages are acknowledged only after their batch commits,
# this bounds the throughput: the flusher starts a batch early once half of it is waiting.
RECEIVE_MAXIMUM = 2000
WAKE_AT = RECEIVE_MAXIMUM // 2


class Arrival(NamedTuple):
    """One message as paho's network thread hands it over."""

    gateway: str
    datastream: int
    body: Any
    topic: str
    mid: int
    qos: int
    connection: int  # which connection it came on: acknowledged only on that one


def detection_payload(d: Detection) -> bytes:
    return orjson.dumps(asdict(d), option=orjson.OPT_SERIALIZE_NUMPY)


def client_id(port: int | None = None) -> str:
    """This server process's MQTT client id: unique among the servers (the broker drops the
    older of two connections with one id) and the same after a restart (the persistent
    session, with the readings sent meanwhile, belongs to the id). $CITYOPS_MQTT_CLIENT_ID
    when set, else `cityops-<hostname>-<serve port>-<slot>`: the port from `cityops serve`
    ($CITYOPS_SERVE_PORT), the slot the lowest number no other live process serving that port
    on this host holds (`--workers N`: 0 … N-1; a worker that dies frees its slot, and the one
    started in its place takes it). A process that serves no port (tests) gets its pid."""
    given = os.environ.get(CLIENT_ID_ENV, "").strip()
    if given:
        return given
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname()) or "host"
    port = port or int(os.environ.get(SERVE_PORT_ENV) or 0)
    if not port:
        return f"cityops-{host}-pid{os.getpid()}"
    return f"cityops-{host}-{port}-{_slot(port)}"


_slots: dict[int, tuple[int, Any]] = {}  # port → (slot, its lock file, held open while the process lives)


def _slot(port: int) -> int:
    """The lowest free slot of `port` on this host, held by an exclusive lock on a file that the
    system releases when the process ends, kill -9 included."""
    import fcntl
    import tempfile

    if port not in _slots:
        for k in range(1024):
            f = open(os.path.join(tempfile.gettempdir(), f"cityops-mqtt-{port}-{k}.lock"), "a")  # noqa: SIM115 - held open
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # another live process has it
                f.close()
                continue
            _slots[port] = (k, f)
            break
        else:
            raise RuntimeError(f"no free MQTT client slot for port {port}")
    return _slots[port][0]


def ingest_gateways(repo: Any, platform: Platform | None, batches: list[tuple[str, Columns, Rejects]],
                    now: datetime) -> list[IngestResult]:
    """Write op: every gateway's readings of one flush in one transaction, each checked against
    what its gateway owns, so that a flush commits (and is then acknowledged) whole or not at all."""
    return [ingest_client(repo, platform, cols, rejects, now, gateway or None, gateway != STA_WRITER)
            for gateway, cols, rejects in batches]


class MqttBridge:
    """One paho client on its own network thread; readings handed to the event loop through a
    deque (appended by that thread, drained by `flush`), acknowledged after their commit."""

    def __init__(self, platform: Platform, host: str, port: int, client_id: str = "cityops-server",
                 session_expiry_s: int = DEFAULT_SESSION_EXPIRY_S, subscription: str = SUBSCRIPTION,
                 sta_topic: bool = False) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.platform = platform
        self.host, self.port = host, port
        self.client_id, self.session_expiry_s, self.subscription = client_id, session_expiry_s, subscription
        self.sta_topic = sta_topic
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                                  manual_ack=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)
        user = os.environ.get("CITYOPS_MQTT_USERNAME")
        if user:  # a broker with a password file: the server logs in like any client
            self.client.username_pw_set(user, os.environ.get("CITYOPS_MQTT_PASSWORD"))
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.loop: asyncio.AbstractEventLoop | None = None
        self.incoming: deque[Arrival] = deque()  # append/popleft are thread-safe
        self.task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self._wake = asyncio.Event()
        self._wake_asked = False
        self._flushing = asyncio.Lock()  # one flush at a time: acknowledgements go out in arrival order
        self._ack_lock = threading.Lock()
        self.connection = 0
        self.received = 0
        self.stored = 0
        self.duplicates = 0
        self.acked = 0  # PUBACKs handed to the client (a message of a lost connection is not acknowledged: it comes again)
        self.rejected = 0
        self.failed_flushes = 0

    async def start(self) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self.loop = asyncio.get_running_loop()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        # clean_start off: the broker keeps our subscription and the messages sent while we are away.
        self.client.connect_async(self.host, self.port, keepalive=10, clean_start=False, properties=props)
        self.client.loop_start()  # network thread: connects, and reconnects after a drop
        self.task = self.loop.create_task(self._flusher())

    async def stop(self) -> None:
        """Store and acknowledge what arrived, then leave (the session stays with the broker for
        its expiry: what is published meanwhile waits there for this client id)."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        with contextlib.suppress(Exception):  # a write that fails now is sent again by the broker
            await self.flush()
        self.client.disconnect()
        self.client.loop_stop()
        with contextlib.suppress(Exception):  # arrived meanwhile: stored, not acknowledged (sent again)
            await self.flush()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any = None) -> None:
        if reason.is_failure:
            return
        from paho.mqtt.subscribeoptions import SubscribeOptions

        # With a session present the broker has the subscription already; subscribing again is harmless.
        topics = [(self.subscription, SubscribeOptions(qos=1))]
        if self.sta_topic:
            topics.append((STA_SUBSCRIPTION, SubscribeOptions(qos=1)))
        client.subscribe(topics)
        log.info("MQTT connected to %s:%s as %s (session present: %s)", self.host, self.port, self.client_id,
                 getattr(flags, "session_present", None))

    def _on_subscribe(self, client: Any, userdata: Any, mid: Any, reasons: Any, props: Any = None) -> None:
        if any(r.is_failure for r in reasons):  # say the broker's ACL does not let the server read the feed
            log.error("MQTT broker %s:%s refused the subscription %s: %s", self.host, self.port,
                      self.subscription, [str(r) for r in reasons])
        elif self.loop is not None:  # `connected`: subscribed, readings flow
            self.loop.call_soon_threadsafe(self.connected.set)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any = None) -> None:
        # Message ids belong to a connection: after a reconnect the broker sends unacknowledged
        # messages again and may give an id already acknowledged to another message, so what
        # came on the old connection is stored but never acknowledged on the new one.
        with self._ack_lock:
            self.connection += 1
        if self.loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop may be closed at shutdown
                self.loop.call_soon_threadsafe(self.connected.clear)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        m = _TOPIC.match(msg.topic)
        sta = _STA_TOPIC.match(msg.topic) if m is None and self.sta_topic else None
        try:
            body = orjson.loads(msg.payload)
        except orjson.JSONDecodeError:
            body = None
        gateway, datastream = (m.group(1), int(m.group(2))) if m else (STA_WRITER, int(sta.group(1))) if sta else ("", 0)
        self.incoming.append(Arrival(gateway, datastream, body, msg.topic, msg.mid, msg.qos, self.connection))
        self.received += 1
        if len(self.incoming) >= WAKE_AT and not self._wake_asked and self.loop is not None:
            self._wake_asked = True
            self.loop.call_soon_threadsafe(self._wake.set)

    async def _flusher(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), FLUSH_SECONDS)
            self._wake.clear()
            self._wake_asked = False
            try:
                await self.flush()
            except Exception:  # say the write process restarting: the same messages next round
                log.exception("storing MQTT readings failed; kept for the next round, not acknowledged")
                await asyncio.sleep(FLUSH_SECONDS)

    async def flush(self) -> None:
        """Store what arrived in one transaction, then acknowledge it. On failure the messages go
        back to the front of the queue, unacknowledged, and the error is raised."""
        from cityops.core import utcnow

        async with self._flushing:
            items = [self.incoming.popleft() for _ in range(len(self.incoming))]
            if not items:
                return
            by_gateway: dict[str, list[tuple[int, Any, Any]]] = {}
            for a in items:
                by_gateway.setdefault(a.gateway, []).append((a.datastream, a.body, a.topic))
            batches = [(gateway, *_columns(mine)) for gateway, mine in by_gateway.items()]
            try:
                results = await self.platform.awrite(ingest_gateways, batches, utcnow())
            except BaseException:
                self.failed_flushes += 1
                self.incoming.extendleft(reversed(items))
                raise
            self._ack(items)
            for result in results:
                self.stored += result.stored
                self.duplicates += result.duplicates
                self.rejected += result.rejects.total
                if result.detections:
                    self.publish(result.detections)

    def _ack(self, items: list[Arrival]) -> None:
        """PUBACK for committed QoS 1 messages of the current connection, in arrival order."""
        with self._ack_lock:
            for a in items:
                if a.qos and a.connection == self.connection:
                    self.client.ack(a.mid, a.qos)
                    self.acked += 1

    def publish(self, detections: Sequence[Detection]) -> None:
        for d in detections:
            self.client.publish(DETECTION_TOPIC.format(kind=d.kind), detection_payload(d), qos=1)


def _columns(items: list[tuple[int, Any, Any]]) -> tuple[Columns, Rejects]:
    """Messages → readings; malformed ones refused (and counted) by reason. Never raises: a
    message that made the write fail every time would hold up the feed behind it."""
    rejects = Rejects()
    ds: list[int] = []
    ts: list[int] = []
    rs: list[float] = []
    for n, (d, body, topic) in enumerate(items, start=1):
        t = parse_time(body.get("phenomenonTime")) if isinstance(body, dict) else None
        r = body.get("result") if isinstance(body, dict) else None
        if d <= 0:
            rejects.add(n, "bad_topic", topic)
        elif d > MAX_DATASTREAM:  # as the HTTP batch: a number no datastream can have
            rejects.add(n, "bad_datastream", str(d)[:80])
        elif t is None:
            rejects.add(n, "bad_time" if isinstance(body, dict) else "malformed_json")
        elif isinstance(r, bool) or not isinstance(r, int | float):
            rejects.add(n, "bad_result")
        else:
            ds.append(d)
            ts.append(t)
            rs.append(float(r))
    return Columns.of(ds, ts, rs), rejects


def publish_detections(state: Any, detections: Sequence[Detection]) -> None:
    """Every write path's detections out on MQTT (the batch, SensorThings' single POST and
    CreateObservations alike), when the server runs a bridge (`app.state.publish_detections`)."""
    publish = getattr(state, "publish_detections", None)
    if publish is not None and detections:
        publish(detections)


def parse_session_expiry(value: Any) -> int:
    """Seconds the broker keeps the session of an absent server: 0 … 2**32-1 (never expires)."""
    s = int(value)
    if not 0 <= s <= MAX_SESSION_EXPIRY_S:
        raise ValueError(f"session expiry must be 0…{MAX_SESSION_EXPIRY_S} s")
    return s


def broker_setting(platform: Platform) -> tuple[str, int] | None:
    with platform.store.read() as repo:
        value = repo.get_setting(SETTING)
    if not value:
        return None
    host, _, port = value.rpartition(":")
    return (host or "127.0.0.1"), int(port or 1883)


def session_expiry_setting(platform: Platform) -> int:
    with platform.store.read() as repo:
        value = repo.get_setting(EXPIRY_SETTING)
    try:
        return parse_session_expiry(value) if value not in (None, "") else DEFAULT_SESSION_EXPIRY_S
    except ValueError:
        log.warning("%s = %r is not a number of seconds; using %d", EXPIRY_SETTING, value, DEFAULT_SESSION_EXPIRY_S)
        return DEFAULT_SESSION_EXPIRY_S


async def start_bridge(platform: Platform, app: Any) -> MqttBridge | None:
    """Start the bridge when the setting names a broker; the app then publishes the
    detections of HTTP batches too."""
    where = broker_setting(platform)
    if where is None:
        return None
    with platform.store.read() as repo:
        sta_topic = repo.get_setting(STA_SETTING) == "on"
    bridge = MqttBridge(platform, *where, client_id=client_id(), session_expiry_s=session_expiry_setting(platform),
                        sta_topic=sta_topic)
    await bridge.start()
    app.state.mqtt = bridge
    app.state.publish_detections = bridge.publish
    return bridge
