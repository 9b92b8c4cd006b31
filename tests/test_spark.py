"""The whole-history jobs on Spark (cityops.jobs) give exactly the in-process results.

One local[2] session for the file. Sources: the storm demo's database exported to Parquet
(with a month of simulated gauge history and two years of cases added, so that the jobs see
many gauges, months and tiles), a synthetic province of reports with planted duplicates, and
PostgreSQL over JDBC (a scratch database on 127.0.0.1:5432, when one answers).
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import polars as pl
import pytest

if shutil.which("java") is None:
    pytest.skip("no java on PATH: Spark needs a JVM (Java 17)", allow_module_level=True)
pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'cityops[spark]')")

from cityops.jobs import history, merging, skill  # noqa: E402
from cityops.jobs.export import export  # noqa: E402
from cityops.jobs.session import JDBC_JAR  # noqa: E402

AS_OF = datetime(2027, 1, 1, tzinfo=UTC)
ZONE = "Asia/Shanghai"
PG_SERVER = os.environ.get("CITYOPS_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
PG_HOST, PG_PORT = urlsplit(PG_SERVER).hostname or "127.0.0.1", urlsplit(PG_SERVER).port or 5432


def _pg_up() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


PG = _pg_up() and Path(os.environ.get("CITYOPS_JDBC_JAR", JDBC_JAR)).exists()


@pytest.fixture(scope="session")
def spark_starting() -> Iterator[Future[Any]]:
    """The JVM starts in the background while the storm demo is built (both take a while)."""
    from cityops.jobs.session import session

    with ThreadPoolExecutor(1) as pool:
        starting = pool.submit(session, "local[2]", "cityops-tests", PG)
        yield starting
        starting.result().stop()


@pytest.fixture(scope="session")
def spark(spark_starting: Future[Any]) -> Any:
    return spark_starting.result()


@pytest.fixture(scope="module")
def storm_db(spark_starting: Future[Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cityops.sim.demo import run_demo

    db = tmp_path_factory.mktemp("storm") / "storm.db"
    run_demo(str(db), reports=120, seed=7, serve=False, host="127.0.0.1", port=0, storm=True)
    return db


@pytest.fixture(scope="module")
def source(storm_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The storm demo's export, with 3 weeks of 4 simulated gauges and 24 months of cases added."""
    from cityops.sim.storm import storm_series

    out = tmp_path_factory.mktemp("export")
    export(storm_db, out, ZONE)
    ds, readings, cases = (pl.read_parquet(out / f"{n}.parquet") for n in ("datastreams", "readings", "cases"))
    h = storm_series(11, points=4, days=21, step_s=300)
    t_ms = (h.t * 1000).astype(np.int64)
    base = int(ds["id"].max()) + 1
    p = len(h.depth)
    gauges = pl.DataFrame({"id": [base + i for i in range(2 * p)], "name": [f"sim-{i}" for i in range(2 * p)],
                           "kind": ["water_depth"] * p + ["rain"] * p, "point": [f"SIM-{i % p}" for i in range(2 * p)],
                           "district": ["420102"] * 2 * p, "lon": [100.0 + i % p for i in range(2 * p)],
                           "lat": [20.0] * 2 * p, "yellow": [20.0] * p + [None] * p, "red": [27.0] * p + [None] * p},
                          schema=ds.schema)
    extra = pl.concat([pl.DataFrame({"datastream": np.full(len(t_ms), base + i), "t": t_ms,
                                     "result": h.depth[i] if i < p else h.point_rain[i - p]})
                       for i in range(2 * p)])
    pl.concat([ds, gauges]).write_parquet(out / "datastreams.parquet")
    pl.concat([readings, extra.cast(readings.schema)]).write_parquet(out / "readings.parquet")
    month_us = 30 * 86400 * 10**6
    times = [c for c in cases.columns if c.endswith("_at")]
    shifted = [cases.with_columns(pl.col("id") + k * 100_000, *[pl.col(c) - k * month_us for c in times])
               for k in range(24)]
    pl.concat(shifted).write_parquet(out / "cases.parquet")
    return out


def test_export_is_the_store(storm_db: Path, source: Path, tmp_path: Path) -> None:
    """The Parquet readings are the store's readings; the case frame is the store's."""
    from cityops.core import open_platform

    out = tmp_path / "x"
    counts = export(storm_db, out, ZONE)
    conn = sqlite3.connect(storm_db)
    rows = conn.execute("SELECT datastream, t, result FROM observation ORDER BY datastream, t").fetchall()
    conn.close()
    readings = pl.read_parquet(out / "readings.parquet")
    assert counts["readings"] == len(rows) > 1000
    assert readings.rows() == [(d, t, r) for d, t, r in rows]
    platform = open_platform(storm_db)
    try:
        with platform.store.read() as repo:
            frame = repo.case_frame()
    finally:
        platform.close()
    mine = history.case_frame(pl.read_parquet(out / "cases.parquet"))
    assert mine.equals(frame.sort("case_id").select(mine.columns))


def test_skill_of_every_gauge(spark: Any, source: Path, storm_db: Path, tmp_path: Path) -> None:
    """Per-point skill on Spark equals the back-test run gauge by gauge, and goes to the store."""
    from cityops.core import open_platform
    from cityops.warning.service import get_skill

    got = skill.skill_job(spark, str(source))
    ref = skill.skill_in_process(pl.read_parquet(source / "readings.parquet"),
                                 pl.read_parquet(source / "datastreams.parquet"))
    assert got.equals(ref)
    ok = got.filter(pl.col("ok"))
    assert ok.height >= 16 + 4 and ok.filter(pl.col("point").str.starts_with("SIM"))["events"].sum() > 0
    assert got.filter(~pl.col("ok"))["reason"].str.contains("too short").all()
    db = tmp_path / "copy.db"
    shutil.copy(storm_db, db)
    assert skill.write_back(str(db), got, AS_OF) == ok.height
    platform = open_platform(db)
    try:
        with platform.store.read() as repo:
            stored = get_skill(repo.conn, "SIM-0", platform.calendar.zone)
    finally:
        platform.close()
    row = ok.filter(pl.col("point") == "SIM-0").row(0, named=True)
    assert stored[0]["events"] == row["events"] and stored[0]["recall"] == row["recall"]
    assert stored[0]["protocol"]["model"] == row["model"]


def test_indicator_history(spark: Any, source: Path) -> None:
    """Every indicator per district, department and month equals `cityops indicators` month by month."""
    got = history.history_job(spark, str(source), AS_OF, ZONE)
    ref = history.history_in_process(pl.read_parquet(source / "cases.parquet"), AS_OF, ZONE)
    assert got.equals(ref)
    assert got["month"].n_unique() >= 24 and set(got["by"]) == {"district", "department"}


def _province(n: int, seed: int = 3) -> pl.DataFrame:
    """Reports over ~250 km × 250 km with planted duplicates (same place within 100 m, same
    matter, similar text, within hours), many straddling the tiles' edges."""
    rng = np.random.default_rng(seed)
    base = n * 2 // 3
    lon = rng.uniform(113.0, 115.6, base)
    lat = rng.uniform(29.0, 31.3, base)
    t = rng.uniform(0, 30 * 86400, base)
    codes = np.array(["01004", "06010", "06013", "09009", "08001", "06036"])
    texts = np.array(["井盖缺失 积水严重", "垃圾堆放 无人清运", "路面破损 坑洼", "车辆乱停 堵塞消防通道",
                      "夜间施工 噪声扰民", "乱堆杂物 占道"])
    kind = rng.integers(0, len(codes), base)
    dup = rng.integers(0, base, n - base)
    east = 111_320.0 * np.cos(np.deg2rad(30.0))
    lon = np.concatenate([lon, lon[dup] + rng.normal(0, 40, len(dup)) / east])
    lat = np.concatenate([lat, lat[dup] + rng.normal(0, 40, len(dup)) / 111_320.0])
    t = np.concatenate([t, t[dup] + rng.uniform(0, 3 * 3600, len(dup))])
    kind = np.concatenate([kind, kind[dup]])
    return pl.DataFrame({"id": np.arange(1, n + 1), "status": "reported", "matter_code": codes[kind],
                         "description": [f"{texts[k]} #{i % 7}" for i, k in enumerate(kind)],
                         "lon": lon, "lat": lat, "reported_at": (t * 1e6).astype(np.int64) + 1_790_000_000_000_000})


def test_merge_of_a_province(spark: Any, tmp_path: Path) -> None:
    """Links and merge targets on spatial tiles equal merge.plan over the whole province, and
    links across the tiles' edges are among them (none is lost)."""
    reports = _province(30_000)
    reports.write_parquet(tmp_path / "cases.parquet")
    got = merging.links_job(spark, str(tmp_path))
    ref = merging.links_in_process(reports)
    assert got.equals(ref)
    assert ref.pairs.height > 5_000 and ref.target.height > 5_000
    tile = merging.tile_size_m(merging.merge.Params())
    east = merging.merge.EARTH_M_PER_DEG * np.cos(np.deg2rad(float(np.nanmean(
        merging.reports(reports)["lat"].to_numpy()))))
    home = reports.select("id", tx=(pl.col("lon") * east / tile).floor(),
                          ty=(pl.col("lat") * merging.merge.EARTH_M_PER_DEG / tile).floor())
    across = (ref.pairs.join(home, left_on="a", right_on="id").join(home, left_on="b", right_on="id", suffix="_b")
              .filter((pl.col("tx") != pl.col("tx_b")) | (pl.col("ty") != pl.col("ty_b"))))
    assert across.height > 20


def test_merge_of_the_storm_demo(spark: Any, source: Path) -> None:
    got = merging.links_job(spark, str(source), open_only=True)
    assert got.equals(merging.links_in_process(pl.read_parquet(source / "cases.parquet"), open_only=True))


def test_ballast_brings_the_mean_exactly() -> None:
    rng = np.random.default_rng(5)
    for n in (1, 7, 300, 50_000):
        lat = rng.uniform(22.0, 34.0, n)
        for lat0 in (30.2735, 22.000001, 41.5):
            extra = merging.ballast(lat, lat0)
            assert float(np.nanmean(np.concatenate([lat, extra]))) == lat0


@pytest.fixture(scope="module")
def pg_url(storm_db: Path) -> Iterator[str]:
    """The storm demo copied into a scratch PostgreSQL database by `cityops store copy` (the
    store's own schema and migrations), dropped afterwards."""
    if not PG:
        pytest.skip(f"no PostgreSQL on {PG_HOST}:{PG_PORT} or no JDBC driver at {JDBC_JAR}")
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed")
    from click.testing import CliRunner

    from cityops.cli import main

    name = f"cityops_spark_{uuid.uuid4().hex[:10]}"
    url = f"{PG_SERVER}/{name}"
    out = CliRunner().invoke(main, ["store", "copy", "--from", str(storm_db), "--to", url, "--replace"])
    assert out.exit_code == 0, out.output
    yield url
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_jdbc_reads_what_the_export_holds(spark: Any, pg_url: str, storm_db: Path, tmp_path: Path) -> None:
    """PostgreSQL over JDBC gives the jobs the same tables as the Parquet export of the same
    city, so the same results; the skill goes back into PostgreSQL through the store."""
    from cityops.core import open_platform
    from cityops.jobs.session import load, to_polars
    from cityops.warning.service import get_skill

    export(storm_db, tmp_path, ZONE)
    for table, key in (("readings", ["datastream", "t"]), ("datastreams", ["id"]), ("cases", ["id"])):
        over_jdbc = to_polars(load(spark, pg_url, table)).sort(key)
        assert over_jdbc.equals(pl.read_parquet(tmp_path / f"{table}.parquet").sort(key)), table
    got = skill.skill_job(spark, pg_url)
    assert got.equals(skill.skill_in_process(pl.read_parquet(tmp_path / "readings.parquet"),
                                             pl.read_parquet(tmp_path / "datastreams.parquet")))
    assert history.history_job(spark, pg_url, AS_OF, ZONE).equals(
        history.history_in_process(pl.read_parquet(tmp_path / "cases.parquet"), AS_OF, ZONE))
    assert merging.links_job(spark, pg_url).equals(merging.links_in_process(pl.read_parquet(tmp_path / "cases.parquet")))
    assert skill.write_back(pg_url, got, AS_OF) == got["ok"].sum() > 0
    point = got.filter(pl.col("ok"))["point"][0]
    platform = open_platform(pg_url)
    try:
        with platform.store.read() as repo:
            stored = get_skill(repo.conn, point, platform.calendar.zone)
    finally:
        platform.close()
    assert stored[0]["protocol"]["job"] == "cityops jobs skill"


def test_no_spark_at_import() -> None:
    """`import cityops` and the jobs' command group do not start (or import) Spark."""
    code = ("import sys, cityops.cli, cityops.jobs.cli, cityops.jobs.skill, cityops.jobs.history, "
            "cityops.jobs.merging; print('pyspark' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_commands_refuse_bad_sources_plainly(storm_db: Path, tmp_path: Path) -> None:
    """A missing file, a bad or unreachable PostgreSQL URL, an empty folder: one clear line and
    status 2, before any JVM starts; `jobs export` writes the Parquet files."""
    from click.testing import CliRunner

    from cityops.cli import main

    runner = CliRunner()
    out = runner.invoke(main, ["jobs", "export", "--db", str(storm_db), "--to", str(tmp_path / "pq")])
    assert out.exit_code == 0 and "readings" in out.output and (tmp_path / "pq" / "cases.parquet").exists()
    for args, says in ((["skill", "--db", str(tmp_path / "nope.db")], "no database at"),
                       (["merge", "--db", "postgresql://"], "not a PostgreSQL URL"),
                       (["indicators", "--db", "postgresql://nobody@127.0.0.1:1/x"], "cannot read PostgreSQL"),
                       (["indicators", "--db", str(tmp_path / "pq"), "--as-of", "2026-01-01"], "offset")):
        out = runner.invoke(main, ["jobs", *args])
        assert out.exit_code == 2 and says in out.output, (args, out.output)
        assert "Traceback" not in out.output
