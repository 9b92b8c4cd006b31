"""Case intake throughput over HTTP against a trivial endpoint of the same stack.

Both run on the same `cityops serve` process: `POST /api/v1/cases` (auth, validation, point
lookup, a durable group-committed SQLite write, history entry) and `POST /api/v1/echo`
(reads the body, answers 201). Goal: intake at least 60 % of the trivial endpoint.
"""

from __future__ import annotations

import json
import sys

from harness import Row, alternate, count, post_load, print_rows, running_server

SECONDS = 4
ROUNDS = 5  # alternate baseline and intake, and report the median round: the machine is noisy
BODY = json.dumps({
    "matter_code": "06001", "description": "人行道上有暴露垃圾 / rubbish on the pavement",
    "lon": 114.3055, "lat": 30.5928, "source": "bench",
}, ensure_ascii=False).encode()


def run(db: str | None = None) -> list[Row]:
    with running_server(db=db) as srv:
        headers = {"Authorization": f"Bearer {srv.token}", "Content-Type": "application/json"}
        post_load(srv.url + "/api/v1/echo", BODY, headers, 201, seconds=2)  # warm up
        base, intake, acknowledged = alternate(
            lambda: post_load(srv.url + "/api/v1/echo", BODY, headers, 201, seconds=SECONDS),
            lambda: post_load(srv.url + "/api/v1/cases", BODY, headers, 201, seconds=SECONDS),
            ROUNDS,
        )
        stored = count(srv.db, "SELECT count(*) FROM cases WHERE source = 'bench'")
    if stored < acknowledged:
        raise RuntimeError(f"{acknowledged} intakes acknowledged but only {stored} stored")
    return [
        ("case_intake_http", intake.rps, "req/s", base.rps, "req/s (trivial POST, same stack)"),
        ("case_intake_p99", intake.p99_ms, "ms", base.p99_ms, "ms (trivial POST)"),
        ("case_intake_acknowledged_stored", float(stored), "cases", float(acknowledged), f"acknowledged ({intake.tool})"),
    ]


if __name__ == "__main__":
    sys.path.insert(0, ".")
    print_rows(run())
