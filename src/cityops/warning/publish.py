"""Publishing issued CAP documents to MQTT and webhook subscribers, after the commit.

Best effort and bounded in time: a subscriber that is down never blocks or undoes a warning
(the feeds /cap/alerts.atom and .geojson always hold the truth). The broker is
$CITYOPS_MQTT (host:port, default 127.0.0.1:1883); the topic is cityops/warnings/<identifier>.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

from cityops.security.settings import Network

log = logging.getLogger("cityops.warning")


@dataclass(frozen=True)
class Delivery:
    mqtt: bool
    webhooks_ok: int
    webhooks_failed: int


def broker() -> tuple[str, int]:
    host, _, port = os.environ.get("CITYOPS_MQTT", "127.0.0.1:1883").rpartition(":")
    return host or "127.0.0.1", int(port or 1883)


def to_mqtt(identifier: str, xml: bytes, timeout: float = 3.0) -> bool:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    host, port = broker()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"cityops-warn-{os.getpid()}")
    try:
        client.connect(host, port, keepalive=10)
        client.loop_start()
        info = client.publish(f"cityops/warnings/{identifier}", xml, qos=1, retain=False)
        info.wait_for_publish(timeout)
        return bool(info.is_published())
    except (OSError, ValueError, RuntimeError) as exc:
        log.warning("MQTT publish of %s failed: %s", identifier, exc)
        return False
    finally:
        client.loop_stop()
        client.disconnect()


def to_webhooks(urls: list[str], xml: bytes, timeout: float = 5.0, allow: Sequence[Network] = ()) -> tuple[int, int]:
    """Each URL vetted again now (cityops.security.egress: DNS may have changed since it was
    added), called at the vetted address, no redirect followed."""
    from cityops.security import egress

    ok = bad = 0
    for url in urls:  # a handful of subscribers
        error = egress.post(url, xml, {"Content-Type": "application/cap+xml"}, allow, timeout=timeout)
        if error is None:
            ok += 1
        else:
            log.warning("webhook %s failed: %s", url, error)
            bad += 1
    return ok, bad


def publish(identifier: str, xml: bytes, urls: list[str], mqtt: bool = True,
            allow: Sequence[Network] = ()) -> Delivery:
    sent = to_mqtt(identifier, xml) if mqtt else False
    ok, bad = to_webhooks(urls, xml, allow=allow)
    return Delivery(sent, ok, bad)
