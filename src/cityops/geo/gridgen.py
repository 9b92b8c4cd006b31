"""Generate unit grids (单元网格) over districts: cells, 15-digit codes, area classes, patrols.

A cell belongs to the district holding its centre. Codes follow the GB/T layout
6-digit district adcode + 3-digit street + 3-digit community + 3-digit sequence, each level
numbered west→east along a row, rows north→south. Cities that have not loaded their real
streets (街道) and communities (社区) get SIMULATED ones: streets are street_cells-square
blocks of the lattice, communities community_cells-square blocks inside them. Such codes are
stable and well-formed but name no real street; packs built this way say `simulated: true`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from cityops.geo.lattice import Lattice
from cityops.geo.patrol import partition

Int = npt.NDArray[np.int64]


@dataclass(frozen=True)
class GridSettings:
    """How to generate grids; every field can be set in city.yaml under `grid:`."""

    cell_m: float = 100.0
    street_cells: int = 20  # simulated street = 2 km block at 100 m cells
    community_cells: int = 5  # simulated community = 500 m block
    patrol_grids: int = 186
    # Area class by distance (metres) from area_centre: A within a_radius_m, B within
    # b_radius_m, C beyond. A rough stand-in for a city's own A/B/C zoning, which a grids
    # file can set cell by cell.
    area_centre: tuple[float, float] | None = None
    a_radius_m: float = 6000.0
    b_radius_m: float = 12000.0


def settings_dict(settings: GridSettings) -> dict[str, Any]:
    """GridSettings as plain YAML-able values."""
    return {
        "cell_m": settings.cell_m,
        "street_cells": settings.street_cells,
        "community_cells": settings.community_cells,
        "patrol_grids": settings.patrol_grids,
        "area_centre": list(settings.area_centre) if settings.area_centre else None,
        "a_radius_m": settings.a_radius_m,
        "b_radius_m": settings.b_radius_m,
    }


def settings_from_dict(values: Mapping[str, Any]) -> GridSettings:
    """GridSettings from city.yaml's `grid:` mapping (unknown keys are the caller's)."""
    centre = values.get("area_centre")
    defaults = GridSettings()
    return GridSettings(
        cell_m=float(values.get("cell_m", defaults.cell_m)),
        street_cells=int(values.get("street_cells", defaults.street_cells)),
        community_cells=int(values.get("community_cells", defaults.community_cells)),
        patrol_grids=int(values.get("patrol_grids", defaults.patrol_grids)),
        area_centre=(float(centre[0]), float(centre[1])) if centre else None,
        a_radius_m=float(values.get("a_radius_m", defaults.a_radius_m)),
        b_radius_m=float(values.get("b_radius_m", defaults.b_radius_m)),
    )


@dataclass(frozen=True)
class GeneratedGrids:
    """Columns of generated unit grids (one row per cell), sorted by code."""

    code: npt.NDArray[np.str_]
    district: Int  # index into the district list given
    area_class: npt.NDArray[np.str_]
    row: Int
    col: Int
    patrol: Int  # patrol grid index (district-major, see patrol.partition)


def owner_raster(lattice: Lattice, geoms: Sequence[shapely.Geometry]) -> Int:
    """District index (position in geoms) holding each lattice cell's centre, else -1."""
    rr, cc = np.divmod(np.arange(lattice.rows * lattice.cols, dtype=np.int64), lattice.cols)
    lon, lat = lattice.centre(rr, cc)
    owner = np.full(lattice.rows * lattice.cols, -1, dtype=np.int64)
    for i, geom in enumerate(geoms):
        min_lon, min_lat, max_lon, max_lat = geom.bounds
        near = np.flatnonzero(
            (owner < 0) & (lon >= min_lon) & (lon <= max_lon) & (lat >= min_lat) & (lat <= max_lat)
        )
        hit = shapely.contains_xy(geom, lon[near], lat[near])
        owner[near[hit]] = i
    return owner.reshape(lattice.rows, lattice.cols)


def dense_rank(group: Int, key: Int) -> Int:
    """1-based rank of each distinct key inside its group (ties share a rank)."""
    order = np.lexsort((key, group))
    g, k = group[order], key[order]
    new_group = np.r_[True, g[1:] != g[:-1]]
    new_key = new_group | np.r_[True, k[1:] != k[:-1]]
    running: Int = np.cumsum(new_key, dtype=np.int64)
    group_start = running[np.flatnonzero(new_group)]
    ranked = running - group_start[np.cumsum(new_group) - 1] + 1
    out: Int = np.empty_like(ranked)
    out[order] = ranked
    return out


def grid_codes(
    adcodes: Sequence[str],
    district: Int,
    row: Int,
    col: Int,
    street_cells: int,
    community_cells: int,
) -> npt.NDArray[np.str_]:
    """15-digit codes for cells (district index, lattice row/col); simulated streets/communities."""
    if street_cells % community_cells:
        raise ValueError("street_cells must be a multiple of community_cells")
    wide = np.int64(1 << 20)  # row * wide + col orders cells row-major (north→south, west→east)
    street = dense_rank(district, (row // street_cells) * wide + col // street_cells)
    in_street = row % street_cells, col % street_cells
    community = dense_rank(
        district * 1000 + street,
        (in_street[0] // community_cells) * wide + in_street[1] // community_cells,
    )
    sequence = dense_rank((district * 1000 + street) * 1000 + community, row * wide + col)
    for name, values in (("street", street), ("community", community), ("sequence", sequence)):
        if values.size and values.max() > 999:
            raise ValueError(f"more than 999 {name} numbers; use smaller blocks")
    prefix = np.array([int(a) for a in adcodes], dtype=np.int64)[district]
    number = prefix * 10**9 + street * 10**6 + community * 10**3 + sequence
    return number.astype("U15")


def area_classes(
    lattice: Lattice, row: Int, col: Int, settings: GridSettings
) -> npt.NDArray[np.str_]:
    """A/B/C by distance of the cell centre from settings.area_centre (default: lattice centre)."""
    lon, lat = lattice.centre(row, col)
    min_lon, min_lat, max_lon, max_lat = lattice.bounds
    centre = settings.area_centre or ((min_lon + max_lon) / 2, (min_lat + max_lat) / 2)
    x, y = lattice.metres(lon, lat)
    cx, cy = lattice.metres(np.array([centre[0]]), np.array([centre[1]]))
    dist = np.hypot(x - cx[0], y - cy[0])
    return np.where(
        dist <= settings.a_radius_m, "A", np.where(dist <= settings.b_radius_m, "B", "C")
    ).astype("U1")


def generate(
    lattice: Lattice,
    adcodes: Sequence[str],
    geoms: Sequence[shapely.Geometry],
    settings: GridSettings,
) -> GeneratedGrids:
    """Unit grids over geoms (one per district, same order as adcodes), sorted by code."""
    owner = owner_raster(lattice, geoms)
    live = np.flatnonzero(owner.ravel() >= 0)
    if live.size == 0:
        raise ValueError("no lattice cell lies inside the gridded districts")
    row, col = np.divmod(live, lattice.cols)
    district = owner.ravel()[live]
    code = grid_codes(adcodes, district, row, col, settings.street_cells, settings.community_cells)
    patrol = partition(owner, settings.patrol_grids).ravel()[live]
    order = np.argsort(code, kind="stable")
    return GeneratedGrids(
        code=code[order],
        district=district[order],
        area_class=area_classes(lattice, row, col, settings)[order],
        row=row[order],
        col=col[order],
        patrol=patrol[order],
    )
