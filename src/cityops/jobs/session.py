"""The Spark session and the two sources a job reads: a Parquet export or PostgreSQL (JDBC).

Both give the same table shapes (export.py): a job does not know which it was given.
PySpark is imported here, inside functions, so `import cityops` never starts a JVM.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote, urlsplit

from cityops.errors import InvalidInput

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

JDBC_JAR: Final = "/usr/share/java/postgresql.jar"  # Debian's libpostgresql-jdbc-java
_SCHEMES: Final = ("postgresql://", "postgres://")

# Spark SQL types of each table, as export.py writes them (JDBC columns are cast to these).
TABLES: Final[dict[str, dict[str, str]]] = {
    "datastreams": {"id": "bigint", "name": "string", "kind": "string", "point": "string",
                    "district": "string", "lon": "double", "lat": "double", "yellow": "double",
                    "red": "double"},
    "cases": {"id": "bigint", "status": "string", "matter_code": "string", "description": "string",
              "lon": "double", "lat": "double", "district": "string", "grid": "string",
              "department": "string", "reported_at": "bigint", "registered_at": "bigint",
              "dispatched_at": "bigint", "accepted_at": "bigint", "due_at": "bigint",
              "disposed_at": "bigint", "closed_at": "bigint", "rework_count": "bigint",
              "overdue_disposed": "bigint"},
    "case_history": {"case_id": "bigint", "seq": "bigint", "at": "bigint"},
}
_SQL_TABLE: Final = {"datastreams": "sta_datastream", "cases": "cases", "case_history": "case_history"}


def is_jdbc(source: str) -> bool:
    return source.startswith(_SCHEMES)


def jdbc_target(url: str) -> tuple[str, dict[str, str]]:
    """postgresql://user:password@host:port/db → the JDBC URL and its connection properties."""
    parts = urlsplit(url)
    if not parts.hostname or not parts.path.strip("/"):
        raise InvalidInput(f"not a PostgreSQL URL like postgresql://user@host:5432/db: {url}",
                           f"不是 PostgreSQL 地址（postgresql://user@host:5432/db）：{url}")
    props = {"user": unquote(parts.username or "postgres"), "driver": "org.postgresql.Driver"}
    if parts.password:
        props["password"] = unquote(parts.password)
    query = f"?{parts.query}" if parts.query else ""
    return f"jdbc:postgresql://{parts.hostname}:{parts.port or 5432}{parts.path}{query}", props


def session(master: str | None = "local[2]", app: str = "cityops", jdbc: bool = False,
            conf: dict[str, str] | None = None) -> SparkSession:
    """A Spark session; its Python workers run this interpreter (and so this cityops) unless
    PYSPARK_PYTHON says otherwise. `master` None: spark-submit's --master, else local[*]."""
    import shutil

    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise InvalidInput("Spark needs Java 17: no java on PATH and no JAVA_HOME",
                           "Spark 需要 Java 17：PATH 中没有 java，也未设置 JAVA_HOME")
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise InvalidInput("PySpark is not installed: pip install 'cityops[spark]'",
                           "未安装 PySpark：pip install 'cityops[spark]'") from None
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder if master is None else SparkSession.builder.master(master)
    builder = (builder.appName(app)
               .config("spark.ui.showConsoleProgress", "false")  # cityops shows its own progress
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true"))
    if master and master.startswith("local"):
        builder = builder.config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
    if jdbc:
        jar = os.environ.get("CITYOPS_JDBC_JAR", JDBC_JAR)
        if not Path(jar).exists():
            raise InvalidInput(f"no PostgreSQL JDBC driver at {jar} (apt-get install libpostgresql-jdbc-java)",
                               f"找不到 PostgreSQL JDBC 驱动 {jar}（请安装 libpostgresql-jdbc-java）")
        builder = builder.config("spark.jars", jar)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def reachable(url: str) -> None:
    """Refuse an unreachable PostgreSQL before Spark starts (a clear line, not a JVM trace)."""
    try:
        import psycopg
    except ImportError:
        return  # Spark's JDBC reader will say it
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"cannot read PostgreSQL at {jdbc_target(url)[0]}: {first}",
                           f"无法连接 PostgreSQL {jdbc_target(url)[0]}：{first}") from None


def zone_of(source: str, default: str = "Asia/Shanghai") -> str:
    """The city's time zone recorded beside a Parquet export (meta.json), else `default`."""
    import json

    meta = Path(source) / "meta.json"
    if not is_jdbc(source) and meta.exists():
        return str(json.loads(meta.read_text()).get("zone", default))
    return default


def _jdbc(spark: SparkSession, source: str, sql: str, **options: Any) -> DataFrame:
    url, props = jdbc_target(source)
    reader = spark.read.format("jdbc").option("url", url)
    for key, value in {**props, **options}.items():
        reader = reader.option(key, value)
    return reader.option("dbtable", f"({sql}) AS q").load()


def load(spark: SparkSession, source: str, table: str) -> DataFrame:
    """One table of the source with export.py's columns and types."""
    from pyspark.sql import functions as F

    if table == "readings":
        return _readings(spark, source)
    if not is_jdbc(source):
        return load_parquet(spark, source, table)
    cols = TABLES[table]
    frame = _jdbc(spark, source, f"SELECT {', '.join(cols)} FROM {_SQL_TABLE[table]}")
    return frame.select([F.col(c).cast(t).alias(c) for c, t in cols.items()])


def _readings(spark: SparkSession, source: str) -> DataFrame:
    """One row per reading: the stored segments' [[t, result], …] arrays exploded in Spark,
    read in parallel slices of segment ids."""
    from pyspark.sql import functions as F

    if not is_jdbc(source):
        return load_parquet(spark, source, "readings")
    from cityops.sensing.store import SEGMENT_TABLES

    parts = []
    for table in SEGMENT_TABLES:  # settled and recent segments (sensing/store.py), each in slices of ids
        bounds = _jdbc(spark, source, f"SELECT min(id) AS lo, max(id) AS hi FROM {table}").first()  # noqa: S608
        lo, hi = (bounds["lo"], bounds["hi"]) if bounds and bounds["lo"] is not None else (0, 0)
        slices = max(1, spark.sparkContext.defaultParallelism * 2)
        parts.append(_jdbc(spark, source, f"SELECT id, datastream, data FROM {table}",  # noqa: S608
                           partitionColumn="id", lowerBound=str(lo), upperBound=str(hi + 1),
                           numPartitions=str(slices)))
    seg = functools.reduce(lambda a, b: a.unionByName(b), parts)
    pairs = seg.select(F.col("datastream").cast("bigint").alias("datastream"),
                       F.explode(F.from_json(F.col("data").cast("string"), "array<array<double>>")).alias("p"))
    return pairs.select("datastream", F.col("p")[0].cast("bigint").alias("t"), F.col("p")[1].alias("result"))


def load_parquet(spark: SparkSession, source: str, table: str) -> DataFrame:
    path = Path(source) / f"{table}.parquet"
    if not path.exists():
        raise InvalidInput(f"no {path}: run `cityops jobs export` first",
                           f"找不到 {path}：请先运行 cityops jobs export")
    return spark.read.parquet(str(path))


def extend(schema: Any, **columns: str) -> Any:
    """A copy of a Spark schema with columns added (StructType.add changes it in place)."""
    from pyspark.sql.types import StructType, _parse_datatype_string

    out = StructType(list(schema.fields))
    for name, kind in columns.items():
        out = out.add(name, _parse_datatype_string(kind))
    return out


def to_polars(frame: DataFrame) -> Any:
    """A (small) Spark result on the driver as a Polars frame, through Arrow."""
    import polars as pl

    return pl.from_arrow(frame.toArrow())
