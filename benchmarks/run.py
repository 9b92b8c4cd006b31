"""Run the benchmarks: `python benchmarks/run.py [NAME ...]`.

Each `bench_<name>.py` module has `run() -> list[Row]`; every figure is printed beside a
baseline measured in the same run, since these machines are noisy.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from harness import print_rows  # noqa: E402


def main(names: list[str]) -> int:
    available = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    # Options after the names go to the one benchmark named, e.g. `run.py megacity --scale 0.1`.
    first = next((i for i, n in enumerate(names) if n.startswith("-")), len(names))
    names, options = names[:first], names[first:]
    chosen = names or available
    if options and len(chosen) != 1:
        print("options go to one benchmark: name it alone, e.g. `run.py megacity --scale 0.1`")
        return 2
    unknown = [n for n in chosen if n not in available]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}")
        return 2
    for name in chosen:
        print(f"# {name}", flush=True)
        module = importlib.import_module(f"bench_{name}")
        print_rows(module.run(options) if options else module.run())
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
