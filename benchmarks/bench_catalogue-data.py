"""The data-resource catalogue (一本账): import of 20,000 entries and Chinese full-text search.

Run: `python benchmarks/run.py catalogue-data`. Baselines in the same run, same database
kind: the same rows stored with a plain executemany into a table without the search index
(what the index costs the import), and the same searches as LIKE scans over that table
(what the index saves a search). Target: search p95 <= 50 ms over 20,000 entries.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

Row = tuple[str, float, str, float, str]
ENTRIES = 20_000
QUERIES = ("供水管网", "供水", "市公安局 名录", "空气质量 监测数据", "垃圾转运站", "停车", "不动产登记 变更记录",
           "医疗 统计", "古树名木", "应急避难场所 空间分布", "社保", "燃气管线 实时数据")
ROUNDS = 10


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def run() -> list[Row]:
    from cityops.core import open_platform, utcnow
    from cityops.data import catalogue, importer, sample, service

    folder = Path(tempfile.mkdtemp(prefix="cityops-bench-data-"))
    platform = open_platform(folder / "data.db")
    sheet = sample.sheet(ENTRIES).encode()
    start = time.perf_counter()
    stored = platform.store.write(lambda repo: service.import_csv(repo, platform, sheet, "bench", utcnow()))
    imported = time.perf_counter() - start
    assert stored == ENTRIES

    # Baseline: the same parsed rows, a plain table, one executemany, no search index.
    rows = importer.rows(importer.read_sheet(sheet), utcnow(), "bench")
    plain = sqlite3.connect(folder / "plain.db", isolation_level=None)
    plain.execute("PRAGMA journal_mode = WAL")
    plain.execute("PRAGMA synchronous = FULL")
    plain.execute(f"CREATE TABLE r (id INTEGER PRIMARY KEY, {', '.join(catalogue.COLS)}, UNIQUE(code))")
    start = time.perf_counter()
    read = importer.rows(importer.read_sheet(sheet), utcnow(), "bench")
    plain.execute("BEGIN")
    plain.executemany(f"INSERT INTO r ({', '.join(catalogue.COLS)}) VALUES ({', '.join('?' * len(catalogue.COLS))})",
                      read)
    plain.execute("COMMIT")
    baseline_import = time.perf_counter() - start
    assert len(read) == len(rows)

    indexed, scanned = [], []
    with platform.store.read() as repo:
        for _ in range(ROUNDS):
            for text in QUERIES:
                t = time.perf_counter()
                catalogue.search(repo.conn, catalogue.Query(text))
                indexed.append(time.perf_counter() - t)
                t = time.perf_counter()
                like = " AND ".join(["(name LIKE ? OR description LIKE ? OR provider LIKE ? OR keywords LIKE ?)"]
                                    * len(text.split()))
                args = [f"%{w}%" for w in text.split() for _ in range(4)]
                plain.execute(f"SELECT count(*) FROM r WHERE {like}", args).fetchone()
                plain.execute(f"SELECT * FROM r WHERE {like} ORDER BY code LIMIT 20", args).fetchall()
                scanned.append(time.perf_counter() - t)
    platform.close()
    plain.close()
    for f in folder.iterdir():
        os.unlink(f)
    os.rmdir(folder)
    return [
        (f"import {ENTRIES} entries (CSV, checked, indexed)", imported, "s",
         baseline_import, "s plain executemany, no index"),
        (f"search p95 over {ENTRIES} entries", p95(indexed) * 1000, "ms",
         p95(scanned) * 1000, "ms LIKE scan"),
        (f"search median over {ENTRIES} entries", statistics.median(indexed) * 1000, "ms",
         statistics.median(scanned) * 1000, "ms LIKE scan"),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
