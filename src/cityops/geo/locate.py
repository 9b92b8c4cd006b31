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

District16 = npt.NDArray[np.int16]
Grid32 = npt.NDArray[np.int32]


@dataclass(frozen=True)
class DistrictRaster:
    """Coarse raster over the city.

    cells: >= 0 the district holding the whole cell, -1 no district, <= -2 a cell that
    boundaries cross, whose candidate districts are the bits of masks[-2 - value].
    """

    lattice: Lattice
    cells: npt.NDArray[np.int32]
    masks: npt.NDArray[np.uint64]
    geoms: tuple[shapely.Geometry, ...]

    def lookup(self, lon: FloatArray, lat: FloatArray) -> District16:
        """District index per point (-1 outside every district); exact like contains_xy."""
        row, col, inside = self.lattice.cell_of(lon, lat)
        value = np.where(inside, self.cells[row, col], -1)
        out = value.astype(np.int16)
        mixed = np.flatnonzero(value <= -2)
        if mixed.size:
            out[mixed] = -1
            masks = self.masks[-2 - value[mixed]]
            x, y = lon[mixed], lat[mixed]
            for i, geom in enumerate(self.geoms):
                sel = np.flatnonzero(masks & np.uint64(1 << i))
                if sel.size:
                    hit = shapely.contains_xy(geom, x[sel], y[sel])
                    out[mixed[sel[hit]]] = i
        return out


def _grow(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """mask plus its 8 neighbours."""
    out = mask.copy()
    out[1:, :] |= mask[:-1, :]
    out[:-1, :] |= mask[1:, :]
    rows = out.copy()
    out[:, 1:] |= rows[:, :-1]
    out[:, :-1] |= rows[:, 1:]
    return out


def build_district_raster(
    geoms: Sequence[shapely.Geometry], cell_m: float = 250.0
) -> DistrictRaster:
    """Classify coarse cells: inside one district, outside all, or crossed by boundaries."""
    if len(geoms) > 64:
        raise ValueError("the district raster handles at most 64 districts")
    bounds = shapely.total_bounds(np.asarray(geoms, dtype=object))
    lattice = lattice_covering(
        (float(bounds[0]), float(bounds[1]), float(bounds[2]), float(bounds[3])), cell_m
    )
    shape = (lattice.rows, lattice.cols)
    bits = np.zeros(shape, dtype=np.uint64)
    # Boundary samples at a quarter cell, grown by one cell, give every cell a boundary may
    # cross; an exact box/boundary test then keeps only the cells it really crosses.
    step = min(lattice.deg_lon, lattice.deg_lat) / 4.0
    for i, geom in enumerate(geoms):
        boundary = shapely.boundary(geom)
        coords = shapely.get_coordinates(shapely.segmentize(boundary, step))
        row, col, inside = lattice.cell_of(coords[:, 0], coords[:, 1])
        near = np.zeros(shape, dtype=bool)
        near[row[inside], col[inside]] = True
        rr, cc = np.nonzero(_grow(near))
        lon, lat = lattice.centre(rr, cc)
        half_lon, half_lat = lattice.deg_lon / 2, lattice.deg_lat / 2
        boxes = shapely.box(lon - half_lon, lat - half_lat, lon + half_lon, lat + half_lat)
        shapely.prepare(boundary)
        hit = shapely.intersects(boundary, boxes)
        bits[rr[hit], cc[hit]] |= np.uint64(1 << i)
    mixed = bits != 0
    # Cells no boundary crosses: a run of them along a row lies in one district (or none),
    # so one centre test per run labels the run.
    pure = ~mixed
    start = pure.copy()
    start[:, 1:] &= mixed[:, :-1]
    sr, sc = np.nonzero(start)
    lon, lat = lattice.centre(sr, sc)
    run_label = np.full(len(sr), -1, dtype=np.int32)
    for i, geom in enumerate(geoms):
        run_label[shapely.contains_xy(geom, lon, lat)] = i
    run = np.cumsum(start.ravel()) - 1
    cells = np.where(pure.ravel(), run_label[np.maximum(run, 0)], -1).astype(np.int32)
    # A crossed cell may also lie wholly inside a district whose boundary misses it (only if
    # the data overlap); its centre test adds that district to the candidates.
    mr, mc = np.nonzero(mixed)
    lon, lat = lattice.centre(mr, mc)
    for i, geom in enumerate(geoms):
        hit = shapely.contains_xy(geom, lon, lat)
        bits[mr[hit], mc[hit]] |= np.uint64(1 << i)
    masks, inverse = np.unique(bits[mr, mc], return_inverse=True)
    cells[mr * lattice.cols + mc] = -2 - inverse.astype(np.int32)
    for geom in geoms:
        shapely.prepare(geom)
    return DistrictRaster(lattice, cells.reshape(shape), masks, tuple(geoms))


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
    # 100 m district cells keep boundary-crossed cells under ~1 % of a city; coarser only
    # where the raster would pass ~8 million cells (a province-sized "city").
    bounds = shapely.total_bounds(np.asarray(geoms, dtype=object))
    extent = lattice_covering(
        (float(bounds[0]), float(bounds[1]), float(bounds[2]), float(bounds[3])), 100.0
    )
    coarse = 100.0 * 2 ** max(0, math.ceil(math.log2(extent.rows * extent.cols / 8e6) / 2))
    return Locator(
        lattice,
        cells,
        np.append(grid_district, -1).astype(np.int16),
        build_district_raster(geoms, coarse),
    )
