"""`cityops jobs …`: export the store as Parquet, run the whole-history jobs on Spark."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from cityops.clitools import existing_db, missing_db_message

SOURCE_HELP = ("what to read: a SQLite database file (exported to Parquet first), a folder written by "
               "`cityops jobs export`, or a PostgreSQL URL postgresql://user@host:5432/db (read over JDBC)")


@click.group("jobs")
def jobs() -> None:
    """全量历史作业 / Jobs over the whole history on Apache Spark (docs/spark.md)."""


@jobs.command("export")
@click.option("--db", required=True, callback=existing_db, help="SQLite database file")
@click.option("--to", "to", required=True, type=click.Path(file_okay=False), help="folder for the Parquet files")
def export_cmd(db: str, to: str) -> None:
    """导出 Parquet / Write the tables the jobs read (readings, datastreams, cases, case history)."""
    from cityops.jobs.export import export

    counts = export(db, to, _zone_of_db(db))
    for name, n in counts.items():
        click.echo(f"{name}\t{n}\t{Path(to) / (name + '.parquet')}")


def _source_options(f: Any) -> Any:
    f = click.option("--check", is_flag=True,
                     help="also compute in this process and say whether the results are equal")(f)
    f = click.option("--master", default=None, envvar="CITYOPS_SPARK_MASTER",
                     help="Spark master: local[N] or spark://host:7077 [default: $CITYOPS_SPARK_MASTER, "
                          "else spark-submit's --master, else local[*]]")(f)
    return click.option("--db", "source", required=True, help=SOURCE_HELP)(f)


def _zone_of_db(db: str) -> str:
    from cityops.core import open_platform

    platform = open_platform(db)
    try:
        return str(platform.calendar.tz)
    finally:
        platform.close()


@contextmanager
def _running(source: str, master: str | None, app: str) -> Iterator[tuple[Any, str, Any]]:
    """The progress display, the source the job reads (a SQLite file exported first) and Spark."""
    from cityops.jobs import progress as pg
    from cityops.jobs.session import is_jdbc, jdbc_target, reachable, session

    if is_jdbc(source):
        jdbc_target(source)
        reachable(source)
    elif not Path(source).exists():
        raise click.BadParameter(missing_db_message(source), param_hint="--db")
    with pg.shown() as progress, tempfile.TemporaryDirectory(prefix="cityops-jobs-") as tmp:
        read = source
        if not is_jdbc(source):
            path = Path(source)
            if path.is_file():
                from cityops.jobs.export import export

                with pg.step(progress, f"导出 export {source} → Parquet"):
                    export(source, tmp, _zone_of_db(source))
                read = tmp
        with pg.step(progress, f"启动 Spark starting ({master or 'spark-submit / local[*]'})"):
            spark = session(master, app, jdbc=is_jdbc(source))
        try:
            yield progress, read, spark
        finally:
            spark.stop()


def _timed(progress: Any, spark: Any, what: str, fn: Callable[[], Any]) -> tuple[Any, str]:
    import time

    from cityops.jobs.progress import spark_tasks

    started = time.perf_counter()
    with spark_tasks(progress, spark, what):
        out = fn()
    return out, f"{time.perf_counter() - started:.1f} s on {spark.sparkContext.master}"


def _reference(check: bool, fn: Callable[[], Any]) -> tuple[Any, float] | None:
    """The in-process result (for --check), and the seconds it took once its input was read."""
    import time

    if not check:
        return None
    started = time.perf_counter()
    return fn(), time.perf_counter() - started


def _verdict(result: Any, ref: tuple[Any, float]) -> None:
    equal = result.equals(ref[0])
    click.echo(f"# in process: {ref[1]:.1f} s (reading the input included)")
    click.echo("# equal to the in-process result / 与单进程结果一致" if equal else
               "# DIFFERENT from the in-process result / 与单进程结果不一致")
    if not equal:
        sys.exit(1)


def _frame(spark: Any, source: str, table: str) -> Any:
    from cityops.jobs.session import load, to_polars

    return to_polars(load(spark, source, table))


@jobs.command("skill")
@_source_options
@click.option("--no-write", is_flag=True, help="print the figures only; do not store them as each point's skill")
def skill_cmd(source: str, master: str | None, check: bool, no_write: bool) -> None:
    """回测成绩 / Back-test every gauge over its whole history; store each point's skill."""
    from cityops.jobs import skill
    from cityops.jobs.session import is_jdbc

    with _running(source, master, "cityops-skill") as (progress, read, spark):
        result, took = _timed(progress, spark, "回测 back-test per gauge", lambda: skill.skill_job(spark, read))
        ref = _reference(check, lambda: skill.skill_in_process(_frame(spark, read, "readings"),
                                                               _frame(spark, read, "datastreams")))
    ok = result.filter(result["ok"])
    click.echo(f"# {result.height} gauges, {ok.height} back-tested, {result.height - ok.height} without figures "
               f"(too short or no rain gauge), {took}")
    for r in ok.sort("recall", descending=True).head(10).iter_rows(named=True):
        click.echo(f"{r['point']}\tevents {r['events']}\twarned {r['warned']}\tfalse {r['false_alarms']}\t"
                   f"recall {r['recall']:.2f}\tprecision {r['precision']:.2f}\tlead {r['median_lead_min']:.0f} min\t"
                   f"{r['model']}")
    if not no_write and ok.height:
        now = datetime.now(UTC)
        n = skill.write_back(source, result, now) if is_jdbc(source) or Path(source).is_file() else None
        click.echo(f"# stored {n} points' skill (warning_skill) / 已写回 {n} 个监测点的回测成绩" if n is not None
                   else "# not stored: a Parquet folder is not a store (give --db the database) / 未写回")
    if ref is not None:
        _verdict(result, ref)


@jobs.command("indicators")
@_source_options
@click.option("--as-of", "as_of", default=None, help="evaluation moment, ISO 8601 with an offset [default: now]")
@click.option("--zone", default=None, help="the city's time zone for months [default: the database's, else Asia/Shanghai]")
@click.option("--csv", "csv_path", default=None, type=click.Path(dir_okay=False), help="write every row to this CSV")
def indicators_cmd(source: str, master: str | None, check: bool, as_of: str | None, zone: str | None,
                   csv_path: str | None) -> None:
    """指标历史 / Every national indicator per district and department, month by month."""
    from cityops.jobs import history
    from cityops.jobs.session import zone_of

    moment = _moment(as_of)
    with _running(source, master, "cityops-indicators") as (progress, read, spark):
        tz = zone or zone_of(read)
        result, took = _timed(progress, spark, "指标 indicators per month",
                              lambda: history.history_job(spark, read, moment, tz))
        ref = _reference(check, lambda: history.history_in_process(_frame(spark, read, "cases"), moment, tz))
    months = result["month"].unique().sort().to_list()
    click.echo(f"# {len(months)} months ({months[0] if months else '-'} … {months[-1] if months else '-'}), "
               f"{result.height} rows, {took}, as of {moment.isoformat()}")
    city = result.filter(result["key"] == "city")
    for r in city.iter_rows(named=True):
        rate = r["on_time_close_rate"]
        click.echo(f"{r['month']}\tcity\taccepted {r['accepted']}\tclosed {r['closed']}\t"
                   f"on-time close {'-' if rate is None else f'{rate:.1%}'}")
    if csv_path:
        result.write_csv(csv_path)
        click.echo(f"# wrote {csv_path}")
    if ref is not None:
        _verdict(result, ref)


@jobs.command("merge")
@_source_options
@click.option("--open-only", is_flag=True, help="only reports still open to merging (reported, registered)")
@click.option("--csv", "csv_path", default=None, type=click.Path(dir_okay=False), help="write the links to this CSV")
def merge_cmd(source: str, master: str | None, check: bool, open_only: bool, csv_path: str | None) -> None:
    """合并重复 / Link duplicate reports across a province (merge.plan on spatial tiles)."""
    from cityops.jobs import merging

    with _running(source, master, "cityops-merge") as (progress, read, spark):
        result, took = _timed(progress, spark, "合并 linking per tile",
                              lambda: merging.links_job(spark, read, open_only=open_only))
        ref = _reference(check, lambda: merging.links_in_process(_frame(spark, read, "cases"), open_only=open_only))
    click.echo(f"# {result.pairs.height} links, {result.target.height} reports merge into an earlier one, "
               f"{took}")
    if csv_path:
        result.target.join(result.pairs.rename({"a": "case", "b": "into"}), on=["case", "into"], how="left") \
            .write_csv(csv_path)
        click.echo(f"# wrote {csv_path}")
    if ref is not None:
        _verdict(result, ref)


def _moment(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"'{text}' is not an ISO 8601 time", param_hint="--as-of") from None
    if moment.tzinfo is None:
        raise click.BadParameter(f"'{text}' has no offset (like +08:00) / 须带时区", param_hint="--as-of")
    return moment
