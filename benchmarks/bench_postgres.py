"""cityops on PostgreSQL: case intake, Open311 and reading ingest, with one and two servers.

Each figure beside its baseline in the same run: intake and Open311 against the trivial
endpoint of the same stack (`POST /api/v1/echo`); reading ingest against PostgreSQL's own
binary COPY of the same rows; two servers' intake (both loaded at once, on one database)
against one server's in the same run. Goals on a 2-core machine (issue #19): ingest ≥ 50 % of
raw COPY, two servers ≥ 1.5× one server, p99 ≤ 50 ms.

Needs PostgreSQL ($CITYOPS_BENCH_PG, default postgresql://postgres@127.0.0.1:5432); each part
makes a fresh database. Run: `.venv/bin/python benchmarks/run.py postgres`.
"""

from __future__ import annotations

import json
import sys
import threading

from harness import (
    Load,
    Row,
    count,
    fresh_postgres,
    post_load,
    prepared_db,
    print_rows,
    serve,
    stop,
)

SECONDS = 5
BODY = json.dumps({"matter_code": "06001", "description": "人行道上有暴露垃圾 / rubbish on the pavement",
                   "lon": 114.3055, "lat": 30.5928, "source": "bench"}, ensure_ascii=False).encode()


def _together(loads: list[tuple[str, dict[str, str]]]) -> list[Load]:
    """The same intake load on several servers at once."""
    out: list[Load | None] = [None] * len(loads)

    def one(i: int) -> None:
        url, headers = loads[i]
        out[i] = post_load(url, BODY, headers, 201, seconds=SECONDS, connections=8)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(loads))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [o for o in out if o is not None]


def two_servers() -> list[Row]:
    db = fresh_postgres("cityops_bench_two")
    token = prepared_db(db)
    a, b = serve(db, token), serve(db, token)
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        for s in (a, b):
            post_load(s.url + "/api/v1/cases", BODY, headers, 201, seconds=1)  # warm up both
        one = _together([(a.url + "/api/v1/cases", headers)])
        both = _together([(a.url + "/api/v1/cases", headers), (b.url + "/api/v1/cases", headers)])
        again = _together([(a.url + "/api/v1/cases", headers)])
    finally:
        stop(a)
        stop(b)
    single = (one[0].rps + again[0].rps) / 2
    acknowledged = sum(x.ok for x in one + both + again)
    stored = count(db, "SELECT count(*) FROM cases WHERE source = 'bench'")
    if stored < acknowledged:
        raise RuntimeError(f"{acknowledged} intakes acknowledged but only {stored} stored")
    return [
        ("pg_case_intake_two_servers", sum(x.rps for x in both), "req/s", single, "req/s one server, same run"),
        ("pg_case_intake_two_servers_p99", max(x.p99_ms for x in both), "ms", max(one[0].p99_ms, again[0].p99_ms),
         "ms one server"),
    ]


def run() -> list[Row]:
    import bench_ingest
    import bench_intake
    import bench_open311

    rows: list[Row] = []
    for name, module in (("intake", bench_intake), ("open311", bench_open311), ("ingest", bench_ingest)):
        rows += [(f"pg_{r[0]}", *r[1:]) for r in module.run(db=fresh_postgres(f"cityops_bench_{name}"))]
    return rows + two_servers()


if __name__ == "__main__":
    sys.path.insert(0, ".")
    print_rows(two_servers() if "--two" in sys.argv else run())
