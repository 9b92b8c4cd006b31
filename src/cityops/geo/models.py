"""City pack model: districts, departments, unit grids, patrol grids, waterlogging points.

A CityPack is everything the platform needs to know about one city's geography and
organisation. It is built by cityops.geo.wuhan (the demo) or loaded by cityops.geo.io.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from cityops.catalog.models import DEPARTMENT_TYPES
from cityops.geo.lattice import FloatArray, Lattice
from cityops.geo.locate import Locator, build_locator

Str = npt.NDArray[np.str_]
Int = npt.NDArray[np.int64]


@dataclass(frozen=True)
class District:
    """区 (district): code is the 6-digit GB/T 2260 adcode."""

    code: str
    name: str
    name_en: str


@dataclass(frozen=True)
class Department:
    """责任部门: serves department-type keys of DEPARTMENT_TYPES.

    district None: a city-wide owner (权属单位); a district code: a department of that
    district. The *area* department (属地) of a district is its department serving
    "urban_management".
    """

    code: str
    name: str
    name_en: str
    serves: tuple[str, ...]
    district: str | None = None

    def __post_init__(self) -> None:
        unknown = [s for s in self.serves if s not in DEPARTMENT_TYPES]
        if unknown:
            raise ValueError(f"department {self.code}: unknown department types {unknown}")


@dataclass(frozen=True)
class WaterloggingPoint:
    """易渍水点: a known low spot that floods. simulated marks invented positions."""

    code: str
    name: str
    lon: float
    lat: float
    district: str
    simulated: bool = False
    # Depth thresholds of its gauge (cm); None: the detector's defaults (Wuhan: 20 / 27).
    yellow_cm: float | None = None
    red_cm: float | None = None


@dataclass(frozen=True)
class PatrolGrid:
    """巡查网格: a beat for inspectors and drones, a contiguous group of unit grids."""

    code: str
    name: str
    name_en: str
    district: str


@dataclass(frozen=True)
class Grid:
    """One unit grid (单元网格), as read from the grid table."""

    code: str
    district: str
    area_class: str
    lon: float  # centre
    lat: float
    bounds: tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat
    patrol: str  # patrol grid code, "" if none


@dataclass(frozen=True)
class GridTable:
    """Unit grids as columns, sorted by code; cells of `lattice` addressed by row/col."""

    lattice: Lattice
    code: Str  # 15 digits
    district: Str  # 6-digit adcode
    area_class: Str  # 'A' / 'B' / 'C'
    row: Int
    col: Int
    patrol: Int  # index into CityPack.patrol_grids, -1 for none
    simulated: bool = True  # streets/communities in the codes are synthetic

    def __post_init__(self) -> None:
        n = len(self.code)
        for name in ("district", "area_class", "row", "col", "patrol"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"grid table column {name} has {len(getattr(self, name))} rows, code has {n}"
                )
        if n and np.any(self.code[1:] <= self.code[:-1]):
            raise ValueError("grid codes must be unique and sorted")

    def __len__(self) -> int:
        return len(self.code)

    @cached_property
    def centre(self) -> tuple[FloatArray, FloatArray]:
        """(lon, lat) of each grid's centre."""
        return self.lattice.centre(self.row, self.col)

    @property
    def lon(self) -> FloatArray:
        return self.centre[0]

    @property
    def lat(self) -> FloatArray:
        return self.centre[1]

    @cached_property
    def bounds(self) -> npt.NDArray[np.float64]:
        """n × 4 array of (min_lon, min_lat, max_lon, max_lat)."""
        half_lon, half_lat = self.lattice.deg_lon / 2, self.lattice.deg_lat / 2
        lon, lat = self.centre
        return np.column_stack([lon - half_lon, lat - half_lat, lon + half_lon, lat + half_lat])

    def index(self, code: str) -> int | None:
        """Row of the grid with this code (binary search on the sorted codes)."""
        i = int(np.searchsorted(self.code, code))
        return i if i < len(self.code) and self.code[i] == code else None


@dataclass(frozen=True)
class Located:
    """Result of CityPack.locate: per point, indices and codes ("" where none)."""

    grid_index: npt.NDArray[np.int32]  # row of the grid table, -1 none
    district_index: npt.NDArray[np.int16]  # position in CityPack.districts, -1 outside the city
    _grid_codes: Str = field(repr=False)
    _grid_classes: Str = field(repr=False)
    _district_codes: Str = field(repr=False)

    def __len__(self) -> int:
        return len(self.grid_index)

    @cached_property
    def grid_code(self) -> Str:
        return self._grid_codes[self.grid_index]

    @cached_property
    def area_class(self) -> Str:
        return self._grid_classes[self.grid_index]

    @cached_property
    def district_code(self) -> Str:
        return self._district_codes[self.district_index]


@dataclass(frozen=True)
class LocatedPoint:
    """One located point: its grid ("" when the point is in the city but in no grid)."""

    lon: float
    lat: float
    district_code: str
    district_name: str
    grid_code: str
    area_class: str
    patrol_code: str


class CityPack:
    """A city: districts (with polygons), departments, grids, patrols, waterlogging points."""

    def __init__(
        self,
        *,
        code: str,
        name: str,
        name_en: str,
        timezone: str,
        districts: Sequence[District],
        geometries: Mapping[str, shapely.Geometry],
        departments: Sequence[Department],
        calendar: Mapping[str, Any],
        grids: GridTable,
        patrol_grids: Sequence[PatrolGrid],
        waterlogging_points: Sequence[WaterloggingPoint] = (),
        grid_settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.code = code
        self.name = name
        self.name_en = name_en
        self.timezone = timezone
        self.districts = tuple(districts)
        self.geometries = dict(geometries)
        self.departments = tuple(departments)
        self.calendar = dict(calendar)
        self.grids = grids
        self.patrol_grids = tuple(patrol_grids)
        self.waterlogging_points = tuple(waterlogging_points)
        self.grid_settings = dict(grid_settings or {})
        self._check()

    def _check(self) -> None:
        codes = [d.code for d in self.districts]
        if len(set(codes)) != len(codes):
            raise ValueError("duplicate district codes")
        missing = [c for c in codes if c not in self.geometries]
        if missing:
            raise ValueError(f"districts without geometry: {missing}")
        unknown = set(np.unique(self.grids.district).tolist()) - set(codes)
        if unknown:
            raise ValueError(f"grids name unknown districts: {sorted(unknown)}")
        for dept in self.departments:
            if dept.district is not None and dept.district not in codes:
                raise ValueError(f"department {dept.code}: unknown district {dept.district}")
        if len(self.grids) and self.grids.patrol.max() >= len(self.patrol_grids):
            raise ValueError("grid table refers to a patrol grid that does not exist")

    def __repr__(self) -> str:
        return (
            f"CityPack({self.code} {self.name}/{self.name_en}: {len(self.districts)} districts, "
            f"{len(self.grids)} grids, {len(self.patrol_grids)} patrol grids, "
            f"{len(self.waterlogging_points)} waterlogging points)"
        )

    @cached_property
    def _district_pos(self) -> dict[str, int]:
        return {d.code: i for i, d in enumerate(self.districts)}

    @cached_property
    def locator(self) -> Locator:
        """The lookup index, built on first use (well under a second for a big city)."""
        pos = self._district_pos
        grid_district = np.array([pos[c] for c in self.grids.district.tolist()], dtype=np.int64)
        geoms = [self.geometries[d.code] for d in self.districts]
        return build_locator(
            self.grids.lattice, self.grids.row, self.grids.col, grid_district, geoms
        )

    @cached_property
    def _tables(self) -> tuple[Str, Str, Str]:
        # A trailing "" so that index -1 reads as "none".
        return (
            np.append(self.grids.code, ""),
            np.append(self.grids.area_class, ""),
            np.append(np.array([d.code for d in self.districts], dtype="U6"), ""),
        )

    def locate(
        self, lon: FloatArray | Sequence[float], lat: FloatArray | Sequence[float]
    ) -> Located:
        """Grid, district and area class for every point (vectorised)."""
        grid, district = self.locator.locate(
            np.asarray(lon, np.float64), np.asarray(lat, np.float64)
        )
        codes, classes, districts = self._tables
        return Located(grid, district, codes, classes, districts)

    def locate_one(self, lon: float, lat: float) -> LocatedPoint | None:
        """One point; None when it lies outside the city.

        A point on the grid lattice is answered with plain float arithmetic (one request's
        point: NumPy's per-call overhead would cost more than the lookup itself).
        """
        loc = self.locator
        lat_ = loc.lattice
        col = (lon - lat_.origin_lon) / lat_.deg_lon
        row = (lat_.origin_lat - lat) / lat_.deg_lat
        g = -1
        if 0 <= col < lat_.cols and 0 <= row < lat_.rows:
            g = int(loc.grid_cells[int(row) * lat_.cols + int(col)])
        if g >= 0:
            d = int(loc.grid_district[g])
        else:
            grid, district = loc.locate(np.array([lon], np.float64), np.array([lat], np.float64))
            g, d = int(grid[0]), int(district[0])
        if d < 0:
            return None
        patrol = int(self.grids.patrol[g]) if g >= 0 else -1
        return LocatedPoint(
            lon=lon,
            lat=lat,
            district_code=self.districts[d].code,
            district_name=self.districts[d].name,
            grid_code=str(self.grids.code[g]) if g >= 0 else "",
            area_class=str(self.grids.area_class[g]) if g >= 0 else "",
            patrol_code=self.patrol_grids[patrol].code if patrol >= 0 else "",
        )

    def contains(self, lon: float, lat: float) -> bool:
        """Whether the point lies in one of the city's districts."""
        return self.locate_one(lon, lat) is not None

    def grid(self, code: str) -> Grid | None:
        i = self.grids.index(code)
        if i is None:
            return None
        patrol = int(self.grids.patrol[i])
        b = self.grids.bounds[i]
        return Grid(
            code=code,
            district=str(self.grids.district[i]),
            area_class=str(self.grids.area_class[i]),
            lon=float(self.grids.lon[i]),
            lat=float(self.grids.lat[i]),
            bounds=(float(b[0]), float(b[1]), float(b[2]), float(b[3])),
            patrol=self.patrol_grids[patrol].code if patrol >= 0 else "",
        )

    def district(self, code: str) -> District | None:
        pos = self._district_pos.get(code)
        return None if pos is None else self.districts[pos]

    def area_department(self, district_code: str) -> Department | None:
        """属地 department: the district's department serving urban_management."""
        for dept in self.departments:
            if dept.district == district_code and "urban_management" in dept.serves:
                return dept
        return None

    def owner_departments(self, dept_type: str) -> list[Department]:
        """City-wide owners (权属单位) serving a department type."""
        return [d for d in self.departments if d.district is None and dept_type in d.serves]

    def patrol_grid(self, code: str) -> PatrolGrid | None:
        return next((p for p in self.patrol_grids if p.code == code), None)
