"""The unit-grid lattice: a regular grid of square cells in a local metric projection.

WGS-84 lon/lat go in; internally a point is projected equirectangularly about a reference
latitude (x east, y south from the lattice's north-west corner, in metres), so finding a
point's cell is two multiplications, two floors and one array index. Over a city (< 100 km)
the projection's scale error is a fraction of a percent, far below the accuracy of any
boundary data a city holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# Metres per degree of latitude on the mean Earth sphere (IUGG R = 6,371,008.8 m).
METRES_PER_DEGREE = 2.0 * math.pi * 6_371_008.8 / 360.0

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Lattice:
    """A rows × cols lattice of cell_m-metre squares; row 0 is the north edge, col 0 the west."""

    origin_lon: float  # west edge
    origin_lat: float  # north edge
    ref_lat: float  # latitude where the projection is true to scale
    cell_m: float
    rows: int
    cols: int

    def __post_init__(self) -> None:
        if self.cell_m <= 0 or self.rows <= 0 or self.cols <= 0:
            raise ValueError(f"lattice needs positive cell size and shape, got {self}")

    @property
    def deg_lon(self) -> float:
        """Cell width in degrees of longitude."""
        return self.cell_m / (METRES_PER_DEGREE * math.cos(math.radians(self.ref_lat)))

    @property
    def deg_lat(self) -> float:
        """Cell height in degrees of latitude."""
        return self.cell_m / METRES_PER_DEGREE

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(min_lon, min_lat, max_lon, max_lat) of the whole lattice."""
        return (
            self.origin_lon,
            self.origin_lat - self.rows * self.deg_lat,
            self.origin_lon + self.cols * self.deg_lon,
            self.origin_lat,
        )

    def cell_of(
        self, lon: FloatArray, lat: FloatArray
    ) -> tuple[IntArray, IntArray, npt.NDArray[np.bool_]]:
        """(row, col, inside) of each point; row/col are meaningless where inside is False."""
        col = np.floor((np.asarray(lon, dtype=np.float64) - self.origin_lon) / self.deg_lon)
        row = np.floor((self.origin_lat - np.asarray(lat, dtype=np.float64)) / self.deg_lat)
        # NaN compares False, so missing coordinates fall outside.
        inside = (col >= 0) & (col < self.cols) & (row >= 0) & (row < self.rows)
        return (
            np.where(inside, row, 0).astype(np.int64),
            np.where(inside, col, 0).astype(np.int64),
            inside,
        )

    def centre(self, row: IntArray, col: IntArray) -> tuple[FloatArray, FloatArray]:
        """Lon/lat of cell centres."""
        lon = self.origin_lon + (np.asarray(col) + 0.5) * self.deg_lon
        lat = self.origin_lat - (np.asarray(row) + 0.5) * self.deg_lat
        return lon.astype(np.float64), lat.astype(np.float64)

    def metres(self, lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Projected (x east, y south) metres from the lattice origin."""
        scale = METRES_PER_DEGREE * math.cos(math.radians(self.ref_lat))
        x = (np.asarray(lon, dtype=np.float64) - self.origin_lon) * scale
        y = (self.origin_lat - np.asarray(lat, dtype=np.float64)) * METRES_PER_DEGREE
        return x, y


def lattice_covering(bounds: tuple[float, float, float, float], cell_m: float) -> Lattice:
    """The smallest lattice of cell_m squares covering bounds, its corner snapped to 0.001°.

    Snapping makes the lattice (and so every grid code) independent of tiny edits to the
    boundary data.
    """
    min_lon, min_lat, max_lon, max_lat = bounds
    origin_lon = math.floor(float(min_lon) * 1000.0) / 1000.0
    origin_lat = math.ceil(float(max_lat) * 1000.0) / 1000.0
    ref_lat = round(float(min_lat + max_lat) / 2.0, 3)
    probe = Lattice(origin_lon, origin_lat, ref_lat, cell_m, 1, 1)
    cols = math.ceil((max_lon - origin_lon) / probe.deg_lon)
    rows = math.ceil((origin_lat - min_lat) / probe.deg_lat)
    return Lattice(origin_lon, origin_lat, ref_lat, cell_m, max(rows, 1), max(cols, 1))


def cell_area_m2(lattice: Lattice, lat: FloatArray) -> FloatArray:
    """True area of cells centred at lat (the east-west side shrinks with cos(lat))."""
    ratio = np.cos(np.radians(np.asarray(lat, dtype=np.float64))) / math.cos(
        math.radians(lattice.ref_lat)
    )
    return np.asarray(lattice.cell_m * lattice.cell_m * ratio, dtype=np.float64)
