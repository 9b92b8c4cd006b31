"""Shared by the sensing tests: one platform per module with few users (Argon2 is slow on a
busy machine), gauges registered, tokens for admin, acceptor, collector and a sensor gateway."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from conftest import add_users
from stores import new_db

ARROW = "application/vnd.apache.arrow.stream"
NDJSON = "application/x-ndjson"
USERS = {"admin": "admin", "acceptor": "acceptor", "collector": "collector", "gw1": "sensor"}


class SensingApi:
    def __init__(self, client: Any, platform: Any, tokens: dict[str, str], gauges: list[int]) -> None:
        self.client = client
        self.platform = platform
        self.tokens = tokens
        self.gauges = gauges

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, who: str, url: str, **kw: Any) -> Any:
        return self.client.get(url, headers=self.h(who), **kw)


def sensing_api(tmp: Path) -> Iterator[SensingApi]:
    from fastapi.testclient import TestClient

    from cityops.api.app import create_app
    from cityops.auth.service import new_user
    from cityops.core import open_platform
    from cityops.sensing.registry import register_point_gauges

    platform = open_platform(new_db(tmp, "sensing.db"))
    users = [new_user(name, role, None, "test-password-1", set()) for name, role in USERS.items()]

    tokens = add_users(platform, users)
    gauges = register_point_gauges(platform)
    with TestClient(create_app(platform), base_url="http://testserver") as client:
        yield SensingApi(client, platform, tokens, gauges)
    platform.close()


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ndjson(rows: list[dict[str, Any]]) -> bytes:
    return b"\n".join(orjson.dumps(r) for r in rows) + b"\n"


def arrow_body(ds: Any, t_ms: Any, result: Any) -> bytes:
    import pyarrow as pa

    table = pa.table({"datastream": pa.array(ds, pa.int64()),
                      "phenomenonTime": pa.array(t_ms, pa.timestamp("ms", tz="UTC")),
                      "result": pa.array(result, pa.float64())})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()
