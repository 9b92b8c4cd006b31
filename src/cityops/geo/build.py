"""Build a city's grid table and patrol grids from district polygons and grid settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import shapely

from cityops.geo.gridgen import GridSettings, generate
from cityops.geo.lattice import Lattice, lattice_covering
from cityops.geo.models import District, GridTable, PatrolGrid


def lattice_for(geoms: Sequence[shapely.Geometry], cell_m: float) -> Lattice:
    """The lattice covering the gridded districts."""
    bounds = shapely.total_bounds(np.asarray(geoms, dtype=object))
    return lattice_covering(
        (float(bounds[0]), float(bounds[1]), float(bounds[2]), float(bounds[3])), cell_m
    )


def patrol_grids_for(
    districts: Sequence[District], patrol_district: Sequence[str]
) -> list[PatrolGrid]:
    """Codes and names for patrol grids given each one's district, numbered per district."""
    by_code = {d.code: d for d in districts}
    out: list[PatrolGrid] = []
    seen: dict[str, int] = {}
    for code in patrol_district:  # one per patrol grid (~hundreds), not per cell
        n = seen[code] = seen.get(code, 0) + 1
        d = by_code[code]
        out.append(
            PatrolGrid(
                f"{code}-P{n:03d}", f"{d.name}巡查网格{n:02d}", f"{d.name_en} patrol grid {n}", code
            )
        )
    return out


def build_grids(
    districts: Sequence[District],
    geometries: Mapping[str, shapely.Geometry],
    gridded: Sequence[str],
    settings: GridSettings,
    lattice: Lattice | None = None,
) -> tuple[GridTable, list[PatrolGrid]]:
    """Unit grids over the `gridded` districts (simulated streets/communities) + patrol grids."""
    geoms = [geometries[c] for c in gridded]
    lattice = lattice or lattice_for(geoms, settings.cell_m)
    g = generate(lattice, gridded, geoms, settings)
    adcodes = np.asarray(gridded, dtype="U6")
    patrol_count = int(g.patrol.max()) + 1
    patrol_district = np.empty(patrol_count, dtype="U6")
    patrol_district[g.patrol] = adcodes[g.district]
    table = GridTable(
        lattice=lattice,
        code=g.code,
        district=adcodes[g.district],
        area_class=g.area_class,
        row=g.row,
        col=g.col,
        patrol=g.patrol,
        simulated=True,
    )
    return table, patrol_grids_for(districts, patrol_district.tolist())
