"""Write a simulated waterlogging point's record as `time,value` CSVs, to try the back-test.

    .venv/bin/python examples/backtest/synthetic.py OUT_DIR [DAYS]

OUT_DIR/level.csv: depth in cm every 5 minutes (China Standard Time, +08:00);
OUT_DIR/rain.csv: mm per 5 minutes at the point's gauge. From cityops.sim.storm, seed 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl

from cityops.sim.storm import storm_series


def main(out: Path, days: float) -> None:
    s = storm_series(seed=1, points=1, days=days)
    out.mkdir(parents=True, exist_ok=True)
    times = (pl.from_numpy((s.t * 1000).astype(np.int64), schema=["ms"])
             .select(pl.from_epoch("ms", time_unit="ms").dt.replace_time_zone("UTC")
                     .dt.convert_time_zone("Asia/Shanghai").dt.strftime("%Y-%m-%dT%H:%M:%S%:z"))
             .to_series())
    pl.DataFrame({"time": times, "value": np.round(s.depth[0], 2)}).write_csv(out / "level.csv")
    pl.DataFrame({"time": times, "value": np.round(s.point_rain[0], 3)}).write_csv(out / "rain.csv")
    print(f"wrote {out / 'level.csv'} and {out / 'rain.csv'} ({len(s.t)} rows each)")


if __name__ == "__main__":
    main(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 40)
