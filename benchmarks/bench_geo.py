"""Point location speed: the city pack's lattice/raster lookup against shapely, one core.

Run alone: `PYTHONPATH=src python benchmarks/bench_geo.py`. Each row is
(name, value, unit, baseline value, baseline unit); baselines run in the same process on
the same points: shapely 2's vectorised contains_xy against every district polygon.
"""

from __future__ import annotations

import os
import time

# Single-threaded numbers: keep BLAS/GEOS helpers from spreading over cores.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "POLARS_MAX_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import shapely  # noqa: E402

from cityops.geo.wuhan import wuhan_demo_pack  # noqa: E402
from harness import Row, best_of  # noqa: E402

N = 1_000_000



def _shapely_districts(
    geoms: list[shapely.Geometry], lon: np.ndarray, lat: np.ndarray
) -> np.ndarray:
    out = np.full(len(lon), -1, dtype=np.int16)
    for i, geom in enumerate(geoms):
        out[shapely.contains_xy(geom, lon, lat)] = i
    return out


def run() -> list[Row]:
    start = time.perf_counter()
    pack = wuhan_demo_pack()
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    locator = pack.locator
    index_s = time.perf_counter() - start
    geoms = [pack.geometries[d.code] for d in pack.districts]
    for geom in geoms:
        shapely.prepare(geom)
    rng = np.random.default_rng(7)
    # 1. points inside the gridded area (a random grid each, anywhere inside it)
    lat_ = pack.grids.lattice
    pick = rng.integers(0, len(pack.grids), N)
    glon = pack.grids.lon[pick] + rng.uniform(-0.5, 0.5, N) * lat_.deg_lon
    glat = pack.grids.lat[pick] + rng.uniform(-0.5, 0.5, N) * lat_.deg_lat
    # 2. points uniform over the whole city's bounding box (most fall outside the grids)
    b = shapely.total_bounds(np.asarray(geoms, dtype=object))
    clon, clat = rng.uniform(b[0], b[2], N), rng.uniform(b[1], b[3], N)
    rows: list[Row] = []
    for name, lon, lat in (("grid_lookup", glon, glat), ("district_lookup_citywide", clon, clat)):
        ours = best_of(lambda lon=lon, lat=lat: locator.locate(lon, lat))
        base = best_of(lambda lon=lon, lat=lat: _shapely_districts(geoms, lon, lat))
        rows.append((name, N / ours, "points/s", N / base, "points/s"))
        # Same answers where the point is in no grid (there the raster path must be exact).
        grid, district = locator.locate(lon, lat)
        free = grid < 0
        assert np.array_equal(district[free], _shapely_districts(geoms, lon[free], lat[free]))
    codes = best_of(lambda: pack.locate(glon, glat).grid_code)
    rows.append(("grid_lookup_with_code_strings", N / codes, "points/s", rows[0][3], "points/s"))
    rows.append(("demo_pack_build", build_s, "s", 3.0, "s (limit)"))
    rows.append(("locator_index_build", index_s, "s", build_s, "s (pack build)"))
    return rows


def main() -> None:
    for name, value, unit, base, base_unit in run():
        print(
            f"{name}: {value:,.3f} {unit} (baseline {base:,.3f} {base_unit}, ratio {value / base:,.2f})"
        )


if __name__ == "__main__":
    main()
