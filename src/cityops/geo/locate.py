"""Point location: lon/lat → unit grid and district, for millions of points at once.

Two rasters answer almost every point by arithmetic and one array index:

* the unit-grid lattice (int32 grid row per cell, -1 for none): a point in a grid gets that
  grid and the grid's district — the grid layer is authoritative where it exists, as in
  grid management (网格化管理), so a grid code never disagrees with its district;
* a coarse district raster over the whole city: a cell that no district boundary crosses
  holds its district (or "outside"); only points in cells a boundary crosses are tested
  against the polygons, with shapely's vectorised ``contains_xy``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely

from cityops.geo.lattice import FloatArray, Lattice, lattice_covering

_MIXED = -2  # coarse cell crossed by a boundary: ask the polygons
District16 = npt.NDArray[np.int16]
Grid32 = npt.NDArray[np.int32]


@dataclass(frozen=True)
class DistrictRaster:
    """Coarse raster over the city: district index per cell, -1 outside, -2 mixed."""

    lattice: Lattice
    cells: District16
    geoms: tuple[shapely.Geometry, ...]

    def lookup(self, lon: FloatArray, lat: FloatArray) -> District16:
        """District index per point (-1 outside every district); exact like contains_xy."""
        row, col, inside = self.lattice.cell_of(lon, lat)
        out = np.where(inside, self.cells[row, col], np.int16(-1)).astype(np.int16)
        mixed = np.flatnonzero(out == _MIXED)
        if mixed.size:
            out[mixed] = -1
            x, y = lon[mixed], lat[mixed]
            for i, geom in enumerate(self.geoms):
                hit = shapely.contains_xy(geom, x, y)
                out[mixed[hit]] = i
        return out


def build_district_raster(geoms: Sequence[shapely.Geometry], cell_m: float = 250.0) -> DistrictRaster:
    """Classify coarse cells as pure (one district or none) or mixed (a boundary crosses)."""
    bounds = shapely.total_bounds(np.asarray(geoms, dtype=object))
    lattice = lattice_covering(tuple(float(b) for b in bounds), cell_m)  # type: ignore[arg-type]
    cells = np.full((lattice.rows, lattice.cols), -1, dtype=np.int16)
    # Boundaries sampled at a quarter cell, then grown by one cell, mark every crossed cell:
    # a boundary cannot pass through a cell without a sample in it or in a neighbour.
    step = min(lattice.deg_lon, lattice.deg_lat) / 4.0
    mixed = np.zeros_like(cells, dtype=bool)
    for geom in geoms:
        coords = shapely.get_coordinates(shapely.segmentize(shapely.boundary(geom), step))
        row, col, inside = lattice.cell_of(coords[:, 0], coords[:, 1])
        mixed[row[inside], col[inside]] = True
    grown = mixed.copy()
    grown[1:, :] |= mixed[:-1, :]
    grown[:-1, :] |= mixed[1:, :]
    grown[:, 1:] |= mixed[:, :-1]
    grown[:, :-1] |= mixed[:, 1:]
    grown[1:, 1:] |= mixed[:-1, :-1]
    grown[:-1, :-1] |= mixed[1:, 1:]
    grown[1:, :-1] |= mixed[:-1, 1:]
    grown[:-1, 1:] |= mixed[1:, :-1]
    pure_r, pure_c = np.nonzero(~grown)
    lon, lat = lattice.centre(pure_r, pure_c)
    for i, geom in enumerate(geoms):
        hit = shapely.contains_xy(geom, lon, lat)
        cells[pure_r[hit], pure_c[hit]] = i
    cells[grown] = _MIXED
    for geom in geoms:
        shapely.prepare(geom)
    return DistrictRaster(lattice, cells, tuple(geoms))


@dataclass(frozen=True)
class Locator:
    """Grid lattice + district raster; see the module docstring."""

    lattice: Lattice
    grid_cells: Grid32  # flat rows*cols grid row index (-1 none), plus one trailing -1
    grid_district: District16  # district index per grid row, plus one trailing -1
    districts: DistrictRaster

    def locate(self, lon: FloatArray, lat: FloatArray) -> tuple[Grid32, District16]:
        """(grid index, district index) per point, -1 where none."""
        lon = np.ascontiguousarray(lon, dtype=np.float64)
        lat = np.ascontiguousarray(lat, dtype=np.float64)
        lat_ = self.lattice
        # Lattice.cell_of inlined: this is the hot path, every temporary costs.
        col = (lon - lat_.origin_lon) * (1.0 / lat_.deg_lon)
        row = (lat_.origin_lat - lat) * (1.0 / lat_.deg_lat)
        inside = (col >= 0) & (col < lat_.cols) & (row >= 0) & (row < lat_.rows)
        with np.errstate(invalid="ignore"):  # NaN / huge values: masked by inside
            flat = row.astype(np.int64) * lat_.cols + col.astype(np.int64)
        # Outside points read the trailing -1; index -1 of grid_district is -1 too.
        grid = self.grid_cells[np.where(inside, flat, len(self.grid_cells) - 1)]
        district = self.grid_district[grid]
        miss = np.flatnonzero(grid < 0)
        if miss.size:
            district[miss] = self.districts.lookup(lon[miss], lat[miss])
        return grid, district


def build_locator(
    lattice: Lattice,
    grid_row: npt.NDArray[np.int64],
    grid_col: npt.NDArray[np.int64],
    grid_district: npt.NDArray[np.int64],
    geoms: Sequence[shapely.Geometry],
) -> Locator:
    """Index grids (rows of the grid table) and district polygons for fast lookup."""
    cells = np.full(lattice.rows * lattice.cols + 1, -1, dtype=np.int32)
    cells[grid_row * lattice.cols + grid_col] = np.arange(len(grid_row), dtype=np.int32)
    # The coarse raster's cell is a multiple of the lattice cell, at least 250 m.
    coarse = lattice.cell_m * math.ceil(250.0 / lattice.cell_m)
    return Locator(
        lattice,
        cells,
        np.append(grid_district, -1).astype(np.int16),
        build_district_raster(geoms, coarse),
    )
