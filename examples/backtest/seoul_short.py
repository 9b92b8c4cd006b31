"""A short, gappy stand-in cut from the Seoul 2020 record (../shared/data/hydro).

    .venv/bin/python examples/backtest/seoul_short.py [DATA_DIR]

For each window below: the level at 잠수교 Jamsu Bridge (`wl_1018680`) is thinned to one
reading per quarter hour (the last 10-minute reading at or before it, at its own time), loses
random stretches of 1–8 hours (seed 22), and is cut to a few weeks; the three city rain gauges
and the dam and tide stay as they are. Then `cityops warnings backtest --train-fraction 0.4`
runs with the default horizon and window (3 h) and a 12 h quiet gap. The record itself is only
read, never copied into the repository.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
from seoul2020 import DEFAULT, DRIVERS  # the same record and drivers as the full back-test

WINDOWS = [("2020-07-10", "2020-08-15", 450.0), ("2020-07-20", "2020-08-20", 550.0),
           ("2020-08-15", "2020-09-15", 400.0)]


def thin(frame: pl.DataFrame, col: str, rng: np.random.Generator) -> pl.DataFrame:
    t = frame["ymdhm"].str.to_datetime("%Y-%m-%d %H:%M")
    q = t.dt.truncate("15m")
    out = (frame.with_columns(q.alias("q"), pl.col(col).cast(pl.Float64, strict=False))
           .drop_nulls(col).group_by("q", maintain_order=True).last())
    keep = rng.random(out.height) > 0.04
    for _ in range(rng.poisson(out.height / 400)):
        s = int(rng.integers(0, out.height))
        keep[s:s + int(rng.integers(4, 33))] = False
    return out.filter(pl.Series(keep)).select((pl.col("ymdhm") + "+09:00").alias("time"), pl.col(col).alias("value"))


def main(data: Path) -> int:
    if not (data / "water_10min_2020.csv").exists():
        print(f"no record at {data}", file=sys.stderr)
        return 2
    water = pl.read_csv(data / "water_10min_2020.csv", infer_schema=False)
    rain = pl.read_csv(data / "rain_10min_2020.csv", infer_schema=False)
    for start, end, thr in WINDOWS:
        rng = np.random.default_rng(22)
        span = (pl.col("ymdhm") >= start) & (pl.col("ymdhm") < end)
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            thin(water.filter(span), "wl_1018680", rng).write_csv(d / "level.csv")
            args = [sys.executable, "-m", "cityops", "warnings", "backtest", "--level", str(d / "level.csv")]
            for name, col in DRIVERS.items():
                src = rain if col.startswith("rf_") else water
                src.filter(span).select((pl.col("ymdhm") + "+09:00").alias("time"), pl.col(col).alias("value")) \
                    .write_csv(d / f"{name}.csv")
                args += ["--input", f"{name}={d / name}.csv"]
            print(f"## 잠수교 Jamsu Bridge {start} – {end}, threshold {thr:g} cm", flush=True)
            subprocess.run([*args, "--threshold", str(thr), "--train-fraction", "0.4", "--gap", "720"], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT))
