"""geo: the city pack (districts, unit grids, patrol grids, waterlogging points) and point location.

The names below load on first use (PEP 562): importing `cityops.geo.errors` for the CLI's error
handling must not pull in Polars and Shapely.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "CityPackError": "cityops.geo.errors",
    "load_city_pack": "cityops.geo.io",
    "save_city_pack": "cityops.geo.io",
    "wuhan_demo_pack": "cityops.geo.wuhan",
    **{name: "cityops.geo.models" for name in (
        "CityPack", "Department", "District", "Grid", "GridTable", "Located", "LocatedPoint", "PatrolGrid",
        "WaterloggingPoint")},
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'cityops.geo' has no attribute {name!r}")
