"""Back-test protocol on the Han River, Seoul, May–October 2020 (../shared/data/hydro).

    .venv/bin/python examples/backtest/seoul2020.py [DATA_DIR]

Extracts `time,value` CSVs (KST times written with +09:00) into a temporary folder — the
record itself is never copied into the repository — and runs `cityops warnings backtest`
for each case below with both rain-forecast modes. The protocol is fixed here:

* split: first half (1 May – 31 Jul) trains, second half (1 Aug – 31 Oct) is replayed live;
* step: 10 min (the record's own); horizon and warning window 6 h (a big river rises over
  hours, driven by the dam upstream); quiet gap 12 h;
* drivers: rain at the three city gauges (대곡교, 진관교, 송정동), Paldang Dam's total
  outflow (`tototf`) and the tide at Ganghwa Bridge (`tide_level`);
* levels and thresholds (cm on the gauge): 잠수교 Jamsu Bridge (`wl_1018680`) 450 and 550
  (pedestrian access to the submersible bridge is closed around 5.5 m); 한강대교 Hangang
  Bridge (`wl_1018683`) 500.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve()
DEFAULT = HERE.parents[2].parent / "shared" / "data" / "hydro" / "han_river_seoul_2020"
DRIVERS = {"rain": "rf_10184100", "rain_jingwan": "rf_10184110", "rain_songjeong": "rf_10184140",
           "dam": "tototf", "tide": "tide_level"}
CASES = [("wl_1018680", "잠수교 Jamsu Bridge", 450.0), ("wl_1018680", "잠수교 Jamsu Bridge", 550.0),
         ("wl_1018683", "한강대교 Hangang Bridge", 500.0)]
OPTIONS = ["--train-fraction", "0.5", "--horizon", "360", "--gap", "720", "--forecast", "both"]


def extract(data: Path, out: Path) -> None:
    """One `time,value` CSV per column of the two record files."""
    for name in ("rain_10min_2020.csv", "water_10min_2020.csv"):
        frame = pl.read_csv(data / name, infer_schema=False)
        for col in frame.columns[1:]:
            frame.select((pl.col("ymdhm") + "+09:00").alias("time"), pl.col(col).alias("value")) \
                .write_csv(out / f"{col}.csv")


def command(csvs: Path, level: str, threshold: float) -> list[str]:
    args = [sys.executable, "-m", "cityops", "warnings", "backtest", "--level", str(csvs / f"{level}.csv")]
    for name, col in DRIVERS.items():
        args += ["--input", f"{name}={csvs / col}.csv"]
    return [*args, "--threshold", str(threshold), *OPTIONS]


def main(data: Path) -> int:
    if not (data / "water_10min_2020.csv").exists():
        print(f"no record at {data / 'water_10min_2020.csv'}: the Han River record is not in the repository; "
              "it is the Dacon 2022 Han River water-level competition release (Han River Flood Control Office "
              "and Paldang Dam records), kept in ../shared/data/hydro/han_river_seoul_2020 on development "
              "machines (the README's \"Data the repository does not carry\"); pass its folder as the argument. "
              "examples/backtest/synthetic.py makes a record of the same shape.", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="seoul2020-") as tmp:
        extract(data, Path(tmp))
        for level, name, threshold in CASES:
            print(f"## {name} ({level}) threshold {threshold:g} cm", flush=True)
            subprocess.run(command(Path(tmp), level, threshold), check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT))
