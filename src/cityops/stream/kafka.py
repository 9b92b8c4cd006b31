"""The same outbox rows to a Kafka topic (`confluent-kafka`), for a city whose data platform is Kafka.

One topic (`stream.kafka_topic`, default cityops.v1.events); each message's key is the event's
order key (case id, datastream id), so one case's events land on one partition in order; the
headers carry `event_id` and `subject` (the NATS subject below the root). The sink keeps its
own position (`stream.kafka_cursor`, the last outbox id delivered), advanced only after every
message up to it was acknowledged (acks=all, idempotent producer). A crash in between sends a
batch again: Kafka keeps both copies, and consumers drop the second by `event_id`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from cityops.stream import outbox
from cityops.stream.models import KAFKA_CURSOR_SETTING

if TYPE_CHECKING:
    from cityops.core import Platform
    from cityops.stream.service import StreamConfig

log = logging.getLogger("cityops.stream.kafka")
PARTITIONS = 3


class KafkaDeliveryError(RuntimeError):
    pass


def producer(bootstrap: str) -> Any:
    from confluent_kafka import Producer

    return Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                     "linger.ms": 5, "message.timeout.ms": 15_000})


def ensure_topic(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> None:
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)]).values():
        try:
            future.result(15)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


def deliver(prod: Any, topic: str, rows: list[outbox.Row], timeout: float = 15) -> int:
    """Produce the rows in order and wait for every acknowledgement; the last id delivered."""
    from cityops.stream.service import message

    errors: list[Any] = []

    def done(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(err)

    for row in rows:
        subject, body, event_id = message(row)
        prod.produce(topic, key=row[2].encode(), value=body, on_delivery=done,
                     headers={"event_id": event_id.encode(), "subject": subject.encode()})
        prod.poll(0)
    left = prod.flush(timeout)
    if left or errors:
        raise KafkaDeliveryError(f"{left} messages unacknowledged, errors: {errors[:3]}")
    return rows[-1][0]


def pending_after_cursor(platform: Platform, limit: int) -> list[outbox.Row]:
    with platform.store.read() as repo:
        cursor = int(repo.get_setting(KAFKA_CURSOR_SETTING) or 0)
        return outbox.after(repo.conn, cursor, limit)


async def deliver_pending(platform: Platform, prod: Any, topic: str, limit: int) -> int:
    from cityops.stream.service import set_kafka_cursor

    rows = await asyncio.to_thread(pending_after_cursor, platform, limit)
    if rows:
        last = await asyncio.to_thread(deliver, prod, topic, rows)
        await platform.awrite(set_kafka_cursor, last)
    return len(rows)


async def kafka_sink(platform: Platform, cfg: StreamConfig) -> None:
    from cityops.stream.service import BATCH, IDLE_SECONDS, RETRY_SECONDS, is_publisher

    assert cfg.kafka
    prod = None
    while True:
        try:
            if prod is None:
                await asyncio.to_thread(ensure_topic, cfg.kafka, cfg.kafka_topic)
                prod = producer(cfg.kafka)
            n = await deliver_pending(platform, prod, cfg.kafka_topic, BATCH) if is_publisher(platform) else 0
            if n < BATCH:
                await asyncio.sleep(IDLE_SECONDS)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivering the event stream to Kafka failed; retrying")
            await asyncio.sleep(RETRY_SECONDS)
