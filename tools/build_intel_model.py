"""Build the shipped matter classifier from the project's own corpus (src/cityops/intel/corpus.py).

Run: `PYTHONPATH=src python tools/build_intel_model.py` (about two minutes on two cores).
"""

from __future__ import annotations

import time
from pathlib import Path

from cityops.catalog.service import load_catalogue
from cityops.intel.corpus import matter_corpus
from cityops.intel.model import TextModel

OUT = Path(__file__).resolve().parents[1] / "src" / "cityops" / "intel" / "data" / "matters.model"

if __name__ == "__main__":
    start = time.perf_counter()
    texts, labels = matter_corpus(load_catalogue())
    model = TextModel.fit(texts, labels)
    model.info["built_by"] = "tools/build_intel_model.py"
    OUT.write_bytes(model.dumps())
    print(f"{OUT}: {len(texts)} texts, {len(model.labels)} matters, T={model.temperature:.3f}, "
          f"{OUT.stat().st_size} bytes, {time.perf_counter() - start:.0f} s")
