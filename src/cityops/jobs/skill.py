"""Every gauge's warning back-test over its whole history: `cityops jobs skill`.

The unit of work is one gauge: its level readings and the rain of its nearest rain gauge go
through the back-test of `cityops warnings backtest` (warning/backtest.py: align, choose and
fit the model on the first part, replay the rest against the baselines). `gauge_skill` is
that call; the in-process runner loops over the gauges, the Spark job groups the readings by
gauge and calls the same function in each group (applyInArrow). The figures go back to the
store as each point's skill (warning_skill, as `warnings backtest --point` stores them).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import polars as pl
import pyarrow as pa

from cityops.errors import CityopsError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

FORECAST: Final = "none"  # observed rain only: what a live point has
FIGURES: Final = ("events", "warned", "false_alarms", "warnings", "recall", "precision", "median_lead_min")
RESULT_SCHEMA: Final = pa.schema([
    ("gauge", pa.int64()), ("point", pa.string()), ("rain", pa.int64()), ("threshold", pa.float64()),
    ("ok", pa.bool_()), ("reason", pa.string()),
    ("events", pa.int64()), ("warned", pa.int64()), ("false_alarms", pa.int64()), ("warnings", pa.int64()),
    ("recall", pa.float64()), ("precision", pa.float64()), ("median_lead_min", pa.float64()),
    ("model", pa.string()), ("margin", pa.float64()), ("train_steps", pa.int64()),
    ("test_steps", pa.int64()), ("step_s", pa.int64()), ("baselines", pa.string()),
])
SPARK_SCHEMA: Final = ("gauge bigint, point string, rain bigint, threshold double, ok boolean, reason string, "
                       "events bigint, warned bigint, false_alarms bigint, warnings bigint, recall double, "
                       "precision double, median_lead_min double, model string, margin double, "
                       "train_steps bigint, test_steps bigint, step_s bigint, baselines string")


def assign_rain(datastreams: pl.DataFrame) -> pl.DataFrame:
    """Each water-depth gauge with a yellow threshold, and the rain gauge nearest to it
    (null where the city has none): gauge, point, threshold, rain."""
    gauges = datastreams.filter((pl.col("kind") == "water_depth") & pl.col("yellow").is_not_null())
    rains = datastreams.filter((pl.col("kind") == "rain") & pl.col("lon").is_not_null()
                               & pl.col("lat").is_not_null()).sort("id")
    if rains.is_empty():
        nearest = pl.Series("rain", [None] * gauges.height, pl.Int64)
    else:
        lon, lat = gauges["lon"].fill_null(np.nan).to_numpy(), gauges["lat"].fill_null(np.nan).to_numpy()
        east = np.cos(np.deg2rad(lat))[:, None]  # degrees of longitude shrink away from the equator
        d = np.hypot((lon[:, None] - rains["lon"].to_numpy()[None, :]) * east,
                     lat[:, None] - rains["lat"].to_numpy()[None, :])
        d = np.where(np.isnan(d), np.inf, d)
        nearest = pl.Series("rain", rains["id"].to_numpy()[np.argmin(d, axis=1)], pl.Int64)
    return gauges.select(pl.col("id").alias("gauge"), pl.coalesce("point", pl.col("id").cast(pl.Utf8)).alias("point"),
                         pl.col("yellow").alias("threshold")).with_columns(nearest).sort("gauge")


def gauge_skill(gauge: int, point: str, rain_id: int | None, threshold: float,
                level_t: np.ndarray, level_v: np.ndarray, rain_t: np.ndarray, rain_v: np.ndarray) -> dict[str, Any]:
    """One gauge's back-test, exactly as `cityops warnings backtest` runs it (times in ms)."""
    from cityops.warning import backtest as bt
    from cityops.warning.series import Series

    row: dict[str, Any] = {"gauge": gauge, "point": point, "rain": rain_id, "threshold": threshold, "ok": False,
                           "reason": "", **dict.fromkeys(FIGURES), "model": None, "margin": None,
                           "train_steps": None, "test_steps": None, "step_s": None, "baselines": None}
    if rain_id is None or len(rain_t) == 0:
        return {**row, "reason": "no rain gauge / 无雨量站"}
    order, rorder = np.argsort(level_t, kind="stable"), np.argsort(rain_t, kind="stable")
    level = Series((level_t[order] // 1000).astype(np.int64), level_v[order].astype(np.float64))
    rain = Series((rain_t[rorder] // 1000).astype(np.int64), rain_v[rorder].astype(np.float64))
    opts = bt.Options(threshold=threshold)
    try:
        r = bt.run(bt.align(level, {"rain": rain}, opts), opts, FORECAST)
    except CityopsError as exc:
        return {**row, "reason": f"{exc.message_en} / {exc.message_zh}"}
    baselines = {"persistence": r.persistence.as_dict(), "persistence_margin": r.persistence_calibrated.as_dict(),
                 "always_warn": r.always.as_dict()}
    return {**row, "ok": True, **r.model.as_dict(), "model": r.chosen, "margin": r.margin,
            "train_steps": r.train_steps, "test_steps": r.test_steps, "step_s": r.step_s,
            "baselines": json.dumps(baselines, sort_keys=True)}


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    frame = pl.from_arrow(pa.Table.from_pylist(rows, schema=RESULT_SCHEMA))
    assert isinstance(frame, pl.DataFrame)
    return frame.sort("gauge")


def skill_in_process(readings: pl.DataFrame, datastreams: pl.DataFrame) -> pl.DataFrame:
    """The reference: every gauge one after the other in this process."""
    plan = assign_rain(datastreams)
    wanted = set(plan["gauge"].to_list()) | set(plan["rain"].drop_nulls().to_list())
    by_ds = {int(k[0]): g for k, g in readings.filter(pl.col("datastream").is_in(list(wanted)))
             .partition_by("datastream", as_dict=True).items()}
    empty = readings.clear()
    rows = []
    for g in plan.iter_rows(named=True):
        lv = by_ds.get(g["gauge"], empty)
        rn = by_ds.get(g["rain"], empty) if g["rain"] is not None else empty
        rows.append(gauge_skill(g["gauge"], g["point"], g["rain"], g["threshold"], lv["t"].to_numpy(),
                                lv["result"].to_numpy(), rn["t"].to_numpy(), rn["result"].to_numpy()))
    return _frame(rows)


def _group(table: pa.Table) -> pa.Table:
    """applyInArrow: one gauge's rows (role level or rain) → its skill row."""
    role = table.column("role").to_numpy(zero_copy_only=False)
    t, v = table.column("t").to_numpy(), table.column("result").to_numpy()
    first = table.slice(0, 1).to_pylist()[0]
    lv, rn = role == "level", role == "rain"
    row = gauge_skill(first["gauge"], first["point"], first["rain"], first["threshold"],
                      t[lv], v[lv], t[rn], v[rn])
    return pa.Table.from_pylist([row], schema=RESULT_SCHEMA)


def skill_job(spark: SparkSession, source: str) -> pl.DataFrame:
    """The same back-test for every gauge at once, one Spark group per gauge."""
    from pyspark.sql import functions as F

    from cityops.jobs.session import load, to_polars

    plan = assign_rain(to_polars(load(spark, source, "datastreams")))
    if plan.is_empty():
        return _frame([])
    assigned = spark.createDataFrame(plan.to_arrow())  # small: one row per gauge
    readings = load(spark, source, "readings")
    level = readings.join(F.broadcast(assigned), readings["datastream"] == assigned["gauge"]).select(
        "gauge", "point", "rain", "threshold", F.lit("level").alias("role"), "t", "result")
    rain = readings.join(F.broadcast(assigned), readings["datastream"] == assigned["rain"]).select(
        "gauge", "point", "rain", "threshold", F.lit("rain").alias("role"), "t", "result")
    # A gauge with no reading at all still gets its row (the reason says why no figures).
    empty = assigned.select("gauge", "point", "rain", "threshold", F.lit("none").alias("role"),
                            F.lit(None).cast("bigint").alias("t"), F.lit(None).cast("double").alias("result"))
    rows = level.unionByName(rain).unionByName(empty).groupBy("gauge").applyInArrow(_group, SPARK_SCHEMA)
    return to_polars(rows).sort("gauge")  # type: ignore[no-any-return]


def write_back(db: str, skills: pl.DataFrame, now: datetime) -> int:
    """Each point's figures into the store (warning_skill; a SQLite file or a PostgreSQL URL),
    through the warnings service, in one transaction."""
    from cityops.core import open_platform
    from cityops.warning.score import Skill
    from cityops.warning.service import save_skill

    rows = [r for r in skills.iter_rows(named=True) if r["ok"]]

    def write(repo: Any) -> None:
        for r in rows:
            model, baselines, protocol = _stored(r)
            save_skill(repo.conn, r["point"], FORECAST, r["threshold"], model,
                       {k: Skill(**v) for k, v in baselines.items()}, protocol, now)

    platform = open_platform(db)
    try:
        platform.store.write(write)
    finally:
        platform.close()
    return len(rows)


def _stored(r: dict[str, Any]) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    from cityops.warning import backtest as bt
    from cityops.warning.score import Skill

    protocol = {**asdict(bt.Options(threshold=r["threshold"])), "datastream": r["gauge"], "rain": r["rain"],
                "model": r["model"], "margin": r["margin"], "train_steps": r["train_steps"],
                "test_steps": r["test_steps"], "step_s": r["step_s"], "job": "cityops jobs skill"}
    return Skill(**{k: r[k] for k in FIGURES}), json.loads(r["baselines"]), protocol
