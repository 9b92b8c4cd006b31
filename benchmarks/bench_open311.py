"""Open311 POST requests throughput and p99 at 16 connections, against a trivial endpoint.

Both run on the same `cityops serve` process: `POST /open311/v2/requests.json` (form parsing,
API key check, rate limiter, attribute and location checks, a durable group-committed SQLite
write with history, idempotency and token rows) and `POST /api/v1/echo` (checks a token,
parses the same form, stores nothing, answers 201). Goal: Open311 POST at least 60 % of the trivial endpoint; every accepted request
must be in the database afterwards.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlencode

from harness import Row, alternate, cityops, count, post_load, print_rows, running_server

SECONDS = 4
ROUNDS = 5


def run(db: str | None = None) -> list[Row]:
    os.environ["CITYOPS_OPEN311_RATE"] = "1000000"  # the server inherits it: measure, don't throttle
    with running_server(db=db) as srv:
        key = cityops("apikey", "create", "bench", "--db", str(srv.db))
        body = urlencode({
            "api_key": key, "service_code": "06010", "lat": "30.5928", "long": "114.3055",
            "description": "人行道上有暴露垃圾 / rubbish on the pavement", "attribute[landmark]": "江汉关",
        }).encode()
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        echo = {**form, "Authorization": f"Bearer {srv.token}"}
        post_load(srv.url + "/api/v1/echo", body, echo, 201, seconds=2)  # warm up
        post_load(srv.url + "/open311/v2/requests.json", body, form, 200, seconds=2)
        warm = count(srv.db, "SELECT count(*) FROM cases WHERE source = 'open311'")
        base, o311, acknowledged = alternate(
            lambda: post_load(srv.url + "/api/v1/echo", body, echo, 201, seconds=SECONDS),
            lambda: post_load(srv.url + "/open311/v2/requests.json", body, form, 200, seconds=SECONDS),
            ROUNDS,
        )
        stored = count(srv.db, "SELECT count(*) FROM cases WHERE source = 'open311'") - warm
    if stored < acknowledged:
        raise RuntimeError(f"{acknowledged} Open311 requests acknowledged but only {stored} stored")
    return [
        ("open311_post_http", o311.rps, "req/s", base.rps, "req/s (trivial POST, same stack)"),
        ("open311_post_p99", o311.p99_ms, "ms", base.p99_ms, "ms (trivial POST)"),
        ("open311_acknowledged_stored", float(stored), "cases", float(acknowledged), f"acknowledged ({o311.tool})"),
    ]


if __name__ == "__main__":
    sys.path.insert(0, ".")
    print_rows(run())
