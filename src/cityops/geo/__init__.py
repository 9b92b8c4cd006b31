"""geo: the city pack (districts, unit grids, patrol grids, waterlogging points) and point location."""

from cityops.geo.errors import CityPackError
from cityops.geo.io import load_city_pack, save_city_pack
from cityops.geo.models import (
    CityPack,
    Department,
    District,
    Grid,
    GridTable,
    Located,
    LocatedPoint,
    PatrolGrid,
    WaterloggingPoint,
)
from cityops.geo.wuhan import wuhan_demo_pack

__all__ = [
    "CityPack",
    "CityPackError",
    "Department",
    "District",
    "Grid",
    "GridTable",
    "Located",
    "LocatedPoint",
    "PatrolGrid",
    "WaterloggingPoint",
    "load_city_pack",
    "save_city_pack",
    "wuhan_demo_pack",
]
