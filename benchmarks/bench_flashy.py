"""Issue 22's acceptance rule over many unseen flashy records of two differently-built families.

Run alone: `PYTHONPATH=src python benchmarks/bench_flashy.py [--seeds 101-130] [--seoul DIR]`
(or `python benchmarks/run.py flashy`). For each seed of each family the record goes through
the back-test exactly as `cityops warnings backtest --train-fraction 0.4 --forecast none`
runs it (`align` then `run`, no nowcast), and passes when the model's recall ≥ 0.5,
precision ≥ 0.5, median lead > 0 and its F1 beats both persistence-with-margin and
always-warn. Families: `flashy` (`cityops.sim.flashy`: infiltration-capacity runoff and a
non-linear reservoir, level in cm) and `creek` (`cityops.sim.creek`: SCS curve number, a
linear-reservoir cascade, Huff storms, a drifting base, level in m, readings off the rain's
clock). The default seeds (101–130) were never looked at while the rules were built. With
the Han River record present (../shared/data/hydro/han_river_seoul_2020) it also prints the
Seoul figures through `examples/backtest/seoul2020.py`'s protocol, observed rain only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "POLARS_MAX_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from cityops.sim.creek import creek_record  # noqa: E402
from cityops.sim.flashy import flashy_record  # noqa: E402
from cityops.warning import backtest as bt  # noqa: E402
from cityops.warning.score import Skill  # noqa: E402
from cityops.warning.series import Series  # noqa: E402

Row = tuple[str, float, str, float, str]
ROOT = Path(__file__).resolve().parents[1]
SEOUL = ROOT.parent / "shared" / "data" / "hydro" / "han_river_seoul_2020"


def record(family: str, seed: int) -> tuple[bt.Grid, bt.Options]:
    """One seed's record on the CLI's path (readings → align), trained on the first 40 %."""
    f = flashy_record(seed) if family == "flashy" else creek_record(seed)
    wet = f.rain > 0
    opts = bt.Options(threshold=f.threshold, train_fraction=0.4)
    g = bt.align(Series(f.level_t.astype(np.int64), f.level),
                 {"rain": Series(f.rain_t[wet].astype(np.int64), f.rain[wet])}, opts)
    return g, opts


def f1(s: Skill) -> float:
    return 2 * s.precision * s.recall / (s.precision + s.recall) if s.precision + s.recall else 0.0


def passes(r: bt.Result) -> bool:
    m = r.model
    return (m.events > 0 and m.recall >= 0.5 and m.precision >= 0.5 and m.median_lead_min > 0
            and f1(m) > f1(r.persistence_calibrated) and f1(m) > f1(r.always))


def why(r: bt.Result) -> str:
    m = r.model
    out = []
    if m.recall < 0.5:
        out.append("recall")
    if m.precision < 0.5:
        out.append("precision")
    if m.median_lead_min <= 0:
        out.append("lead")
    if f1(m) <= max(f1(r.persistence_calibrated), f1(r.always)):
        out.append("baseline")
    return "+".join(out) or "ok"


def family(name: str, seeds: list[int], verbose: bool) -> tuple[int, int, Counter[str], list[Skill]]:
    ok, reasons, skills = 0, Counter[str](), []
    for seed in seeds:
        g, opts = record(name, seed)
        r = bt.run(g, opts, "none")
        skills.append(r.model)
        good = passes(r)
        ok += good
        reasons[why(r)] += 1
        if verbose:
            m = r.model
            print(f"{name} {seed:4d} {'PASS' if good else 'fail':4s} {r.chosen:8s} {m.warned}/{m.events} "
                  f"fa {m.false_alarms} lead {m.median_lead_min:.0f} | pm {r.persistence_calibrated.warned}/"
                  f"{r.persistence_calibrated.events} fa {r.persistence_calibrated.false_alarms} | {why(r)}"
                  f" | {r.reason}", flush=True)
    return ok, len(seeds), reasons, skills


def seoul() -> list[str]:
    """The Seoul cases' model and baseline lines, observed rain only."""
    if not (SEOUL / "water_10min_2020.csv").exists():
        return ["# Seoul: no record at ../shared/data (skipped)"]
    sys.path.insert(0, str(ROOT / "examples" / "backtest"))
    import seoul2020

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        seoul2020.extract(SEOUL, Path(tmp))
        for level, name, thr in seoul2020.CASES:
            args = [a if a != "both" else "none" for a in seoul2020.command(Path(tmp), level, thr)]
            text = subprocess.run(args, capture_output=True, text=True, check=True,
                                  env={**os.environ, "PYTHONPATH": str(ROOT / "src")}).stdout
            vals = {}
            for line in text.splitlines():
                if ":" in line and not line.startswith("#"):
                    k, v = line.rsplit(":", 1)
                    vals[k.strip()] = float(v)
            used = next((ln for ln in text.splitlines() if ln.startswith("# model: ")), "")
            for pre in ("", "persistence_margin ", "always_warn "):
                out.append(f"# Seoul {name} {thr:g}: {pre or 'model '}{vals[pre + 'events']:.0f} events, "
                           f"{vals[pre + 'warned']:.0f} warned, {vals[pre + 'false_alarms']:.0f} false, "
                           f"recall {vals[pre + 'recall']:.3f}, precision {vals[pre + 'precision']:.3f}, "
                           f"lead {vals[pre + 'median_lead_min']:.0f}" + (f"  ({used[9:60]})" if not pre else ""))
    return out


def _seeds(text: str) -> list[int]:
    a, _, b = text.partition("-")
    return list(range(int(a), int(b) + 1)) if b else [int(x) for x in text.split(",")]


def run(options: list[str] | None = None) -> list[Row]:
    opts = list(options or [])
    seeds = _seeds(opts[opts.index("--seeds") + 1]) if "--seeds" in opts else list(range(101, 131))
    verbose = "--quiet" not in opts
    rows: list[Row] = []
    for name in ("flashy", "creek"):
        ok, n, reasons, skills = family(name, seeds, verbose)
        ev = sum(s.events for s in skills)
        warned = sum(s.warned for s in skills)
        fa = sum(s.false_alarms for s in skills)
        w = sum(s.warnings for s in skills)
        print(f"# {name}: {ok}/{n} seeds pass; floods warned {warned}/{ev}, false alarms {fa} of {w} warnings; "
              f"why the others fail: {dict(reasons)}", flush=True)
        rows.append((f"{name}: seeds passing the issue-22 rule", ok, f"of {n}", n, "seeds"))
    if "--no-seoul" not in opts:
        for line in seoul():
            print(line, flush=True)
    return rows


if __name__ == "__main__":
    from harness import print_rows

    print_rows(run(sys.argv[1:]))
