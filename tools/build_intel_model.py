"""Build the shipped matter classifier from the project's own corpus (src/cityops/intel/corpus.py).

Run: `PYTHONPATH=src python tools/build_intel_model.py` (about four minutes on two cores, most of
it embedding the corpus; a second run reads the vectors from the cache). The
temperature is then refitted on the authored evaluation reports (`intel/data/matter_eval.csv`);
`--calibrate-only` does that step alone on the existing artifact.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from cityops.catalog.service import load_catalogue
from cityops.intel.corpus import matter_corpus
from cityops.intel.evaluation import matter_set
from cityops.intel.model import TextModel
from cityops.intel.service import fit_matters

OUT = Path(__file__).resolve().parents[1] / "src" / "cityops" / "intel" / "data" / "matters.model"

if __name__ == "__main__":
    start = time.perf_counter()
    if "--calibrate-only" in sys.argv:
        model, stats = TextModel.loads(OUT.read_bytes()).calibrated(*matter_set())
        OUT.write_bytes(model.dumps())
        print(f"{OUT}: temperature {stats['temperature_before']:.3f} -> {stats['temperature']:.3f}")
        sys.exit(0)
    texts, labels = matter_corpus(load_catalogue())
    # T from the authored real-style reports, not the synthetic hold-out (too easy: over-confident)
    model, stats = fit_matters(texts, labels).calibrated(*matter_set())
    print(f"temperature {stats['temperature_before']:.3f} -> {stats['temperature']:.3f}")
    model.info["built_by"] = "tools/build_intel_model.py"
    OUT.write_bytes(model.dumps())
    print(f"{OUT}: {len(texts)} texts, {len(model.labels)} matters, T={model.temperature:.3f}, "
          f"{OUT.stat().st_size} bytes, {time.perf_counter() - start:.0f} s")
