"""The event stream's contract in code: subjects, event envelopes and the stream's settings.

Pure: no storage, no network. The contract a consumer reads is docs/stream.md and
docs/stream/events.schema.json (version v1); `tests/test_stream.py` holds these builders to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cityops.cases.models import Case, Change

VERSION = "v1"
# Settings (like `sensing.mqtt_broker`): set by `cityops stream`, read when the server starts.
NATS_SETTING = "stream.nats"  # nats://host:port; empty or absent: no NATS publishing
STREAM_SETTING = "stream.name"  # the JetStream stream (CITYOPS)
ROOT_SETTING = "stream.root"  # the subject root (cityops): events on <root>.v1.>, readings in on <root>.in.>
KAFKA_SETTING = "stream.kafka"  # host:port of a Kafka bootstrap server; empty: no Kafka
KAFKA_TOPIC_SETTING = "stream.kafka_topic"
KAFKA_CURSOR_SETTING = "stream.kafka_cursor"  # the last outbox id the Kafka sink delivered
SINK_SETTINGS = (NATS_SETTING, KAFKA_SETTING)
DEFAULT_STREAM = "CITYOPS"
DEFAULT_ROOT = "cityops"
DEFAULT_KAFKA_TOPIC = "cityops.v1.events"
READINGS_DURABLE = "cityops-readings"  # one durable pull consumer shared by every server

_TOKEN = re.compile(r"[^A-Za-z0-9_-]")
_ROOT = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
_STREAM = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def token(value: object) -> str:
    """One subject token: NATS forbids '.', '*', '>' and spaces in it; anything else odd becomes '_'."""
    return _TOKEN.sub("_", str(value)) or "_"


def check_root(root: str) -> str:
    if not _ROOT.match(root):
        raise ValueError(f"subject root {root!r}: dot-separated tokens of letters, digits, '_' or '-'")
    return root


def check_stream(name: str) -> str:
    if not _STREAM.match(name):
        raise ValueError(f"stream name {name!r}: 1 to 64 letters, digits, '_' or '-'")
    return name


def iso_utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Event:
    """One outbox row before it is stored: `subject` below the root, `key` orders it."""

    subject: str
    key: str
    payload: dict[str, Any]


def case_event(after: Case, change: Change) -> Event:
    """A case step. `seq` is the step's place in the case's history (1 for the report), so
    `case:<id>:<seq>` names it for ever: a consumer drops a second copy by it."""
    seq = after.history_count
    return Event(
        subject=f"{VERSION}.case.{token(after.district)}.{token(change.action)}",
        key=str(after.id),
        payload={
            "event_id": f"case:{after.id}:{seq}", "type": "case.step", "at": iso_utc(change.at),
            "case_id": after.id, "seq": seq, "action": change.action, "from_status": change.from_status,
            "to_status": change.to_status, "role": change.role, "district": after.district,
            "grid": after.grid, "matter_code": after.matter_code, "source": after.source,
            "department": after.department, "due_at": iso_utc(after.due_at) if after.due_at else None,
        },
    )


# kind (as features name it in `hooks.event`) → the subject below the version.
def subject_of(kind: str, data: dict[str, Any]) -> str:
    if kind == "detection":
        return f"{VERSION}.detection.{token(data.get('kind', 'unknown'))}"
    if kind.startswith("warning."):
        return f"{VERSION}.warning.{token(kind.split('.', 1)[1])}"
    if kind == "readings.batch":
        return f"{VERSION}.readings.batch"
    if kind == "indicators.snapshot":
        return f"{VERSION}.indicators"
    return f"{VERSION}.{'.'.join(token(p) for p in kind.split('.'))}"


def other_event(kind: str, key: str, data: dict[str, Any], at: datetime) -> Event:
    """Any other change; its event_id ("outbox:<row id>") is added when the row is published."""
    payload = {"type": kind, "at": iso_utc(at), **data}
    return Event(subject=subject_of(kind, data), key=key, payload=payload)


def envelope(row_id: int, payload: dict[str, Any]) -> dict[str, Any]:
    """The published JSON: the stored payload with its event id (case steps carry their own)."""
    if "event_id" in payload:
        return payload
    return {"event_id": f"outbox:{row_id}", **payload}


def inbound_readings(datastream: str, body: Any) -> list[tuple[int, Any, Any]] | None:
    """A message on <root>.in.readings.<datastream>: one {"phenomenonTime", "result"} object or a
    list of them → (datastream, phenomenonTime, result) triples; None when the subject's last
    token is not a datastream id (the caller refuses the message)."""
    if not datastream.isdigit():
        return None
    d = int(datastream)
    items = body if isinstance(body, list) else [body]
    return [(d, x.get("phenomenonTime") if isinstance(x, dict) else None,
             x.get("result") if isinstance(x, dict) else None) for x in items]
