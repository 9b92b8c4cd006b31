"""A flashy urban point with a short, gappy record: write its CSVs, or back-test many seeds.

    .venv/bin/python examples/backtest/flashy.py write OUT_DIR [SEED]
    .venv/bin/python examples/backtest/flashy.py run [SEED ...] [-- BACKTEST OPTIONS]

`write`: OUT_DIR/level.csv (cm, every 15 min with gaps), rain.csv (mm per 5 min),
nowcast.csv (`issued,time,value`: the next 2 h of rain, issued every 10 min) and
threshold.txt, from `cityops.sim.flashy` (4 days of history, then 6 stormy days).
`run`: for each seed (default 1–12), writes them to a temporary folder and runs
`cityops warnings backtest --train-fraction 0.4 --forecast none` with and without the
nowcast, printing one line per seed and the totals.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

from cityops.sim.flashy import flashy_record

KEYS = ("events", "warned", "false_alarms", "median_lead_min")


def _iso(t: np.ndarray) -> pl.Series:
    return (pl.from_numpy((t * 1000).astype(np.int64), schema=["ms"])
            .select(pl.from_epoch("ms", time_unit="ms").dt.replace_time_zone("UTC")
                    .dt.convert_time_zone("Asia/Shanghai").dt.strftime("%Y-%m-%dT%H:%M:%S%:z"))
            .to_series())


def write(out: Path, seed: int) -> float:
    f = flashy_record(seed)
    out.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"time": _iso(f.level_t), "value": f.level}).write_csv(out / "level.csv")
    wet = f.rain > 0
    pl.DataFrame({"time": _iso(f.rain_t[wet]), "value": f.rain[wet]}).write_csv(out / "rain.csv")
    issued, valid, value = f.nowcast
    pl.DataFrame({"issued": _iso(issued), "time": _iso(valid), "value": value}).write_csv(out / "nowcast.csv")
    (out / "threshold.txt").write_text(f"{f.threshold}\n")
    return f.threshold


def _figures(text: str, prefix: str = "") -> dict[str, float]:
    return {k: float(re.search(rf"^{prefix}{k}: (\S+)$", text, re.M).group(1))  # type: ignore[union-attr]
            for k in KEYS}


def run(seeds: list[int], extra: list[str]) -> None:
    rows = {"model": np.zeros(3), "model+nowcast": np.zeros(3), "persistence_margin": np.zeros(3),
            "always_warn": np.zeros(3)}
    leads: dict[str, list[float]] = {k: [] for k in rows}
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            thr = write(d, seed)
            base = [sys.executable, "-m", "cityops", "warnings", "backtest", "--level", str(d / "level.csv"),
                    "--input", f"rain={d / 'rain.csv'}", "--threshold", str(thr),
                    "--train-fraction", "0.4", "--forecast", "none", *extra]
            plain = subprocess.run(base, check=True, capture_output=True, text=True).stdout
            now = subprocess.run([*base, "--input", f"nowcast={d / 'nowcast.csv'}"], check=True,
                                 capture_output=True, text=True).stdout
        used = re.search(r"^# model: (.*)$", plain, re.M)
        line = [f"seed {seed:2d} ({used.group(1) if used else '?'})"]
        for name, text, prefix in (("model", plain, ""), ("model+nowcast", now, ""),
                                   ("persistence_margin", plain, "persistence_margin "),
                                   ("always_warn", plain, "always_warn ")):
            f = _figures(text, prefix)
            rows[name] += (f["events"], f["warned"], f["false_alarms"])
            if f["warned"]:
                leads[name].append(f["median_lead_min"])
            line.append(f"{name} {f['warned']:.0f}/{f['events']:.0f} fa {f['false_alarms']:.0f} "
                        f"lead {f['median_lead_min']:.0f}")
        print(" | ".join(line), flush=True)
    for name, (ev, warned, fa) in rows.items():
        true = warned  # one true warning per warned event at least; precision from the counts below
        print(f"# {name}: events {ev:.0f}, warned {warned:.0f} (recall {warned / max(ev, 1):.2f}), "
              f"false alarms {fa:.0f} (precision ~{true / max(true + fa, 1):.2f}), "
              f"median of the seeds' median leads {np.median(leads[name]) if leads[name] else 0:.0f} min")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["write"]:
        print(write(Path(args[1]), int(args[2]) if len(args) > 2 else 1))
    elif args[:1] == ["run"]:
        rest = args[1:]
        extra = rest[rest.index("--") + 1:] if "--" in rest else []
        nums = [int(a) for a in (rest[:rest.index("--")] if "--" in rest else rest)]
        run(nums or list(range(1, 13)), extra)
    else:
        print(__doc__)
        sys.exit(2)
