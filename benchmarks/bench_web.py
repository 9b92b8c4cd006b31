"""The dashboard's first meaningful paint: the city map drawn, from navigation start.

Run alone: `PYTHONPATH=src python benchmarks/bench_web.py` (or `python benchmarks/run.py web`).
Needs Debian's Chromium (/usr/bin/chromium) and the PyPI playwright; says so and measures
nothing without them. A real `cityops serve` over a fresh database (the demo city pack) and
a fresh browser context per load (nothing cached). The baseline, in the same run and the
same browser: the load event of a blank page from the same server (`/healthz`), i.e. what
any page costs here before the dashboard does anything. Each figure is the median of RUNS.
The page records its phases in `window.cityops.marks` (base map fetched, map library
loaded, base map built, first frame drawn); the medians of those are printed too.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from harness import Row, running_server

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]
RUNS = 5


def _load(browser: Any, url: str, ready: str, value: str) -> tuple[float, dict[str, float], str]:
    """One load in a fresh context: the figure, the page's phase marks, its map renderer."""
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080}, bypass_csp=True)  # wait_for_function uses eval
    try:
        page = ctx.new_page()
        page.goto(url)
        page.wait_for_function(ready, timeout=60_000)
        marks, kind = page.evaluate("window.cityops ? [window.cityops.marks, window.cityops.map.kind] : [{}, '']")
        return float(page.evaluate(value)), dict(marks), str(kind)
    finally:
        ctx.close()


def _median(browser: Any, url: str, ready: str, value: str) -> tuple[float, dict[str, float], str]:
    runs = [_load(browser, url, ready, value) for _ in range(RUNS)]
    marks = {k: statistics.median(m[k] for _, m, _ in runs if k in m) for k in runs[0][1]}
    return statistics.median(t for t, _, _ in runs), marks, runs[0][2]


def run() -> list[Row]:
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} not installed (apt-get install chromium): nothing measured")
        return []
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("the PyPI package playwright is not installed: nothing measured")
        return []
    rows: list[Row] = []
    painted = "window.cityops?.firstPaintMs"
    with running_server() as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            _load(browser, server.url + "/", painted, "0")  # the server's caches warm
            base = _median(browser, server.url + "/healthz", "document.readyState === 'complete'",
                           "performance.getEntriesByType('navigation')[0].loadEventEnd")[0]
            for query, name in (("", "first meaningful paint, the renderer the page chooses"),
                                ("?map=canvas", "first meaningful paint, 2D canvas"),
                                ("?map=webgl", "first meaningful paint, MapLibre GL (WebGL)")):
                ms, marks, kind = _median(browser, server.url + "/" + query, painted, "window.cityops.firstPaintMs")
                print(f"  {name} [{kind}]: {ms:.0f} ms; phases (median ms from navigation start): {marks}")
                rows.append((f"{name} [{kind}]", ms, "ms", base, "ms blank page load"))
        finally:
            browser.close()
    return rows


if __name__ == "__main__":
    from harness import print_rows

    print_rows(run())
