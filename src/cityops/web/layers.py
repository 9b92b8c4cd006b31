"""Map layers: what the page draws, as compact columns (no per-feature GeoJSON objects).

The base map comes from the city pack and never changes while serving, so it is built once.
Unit grids travel as rasters over the pack's lattice (one cell a grid): the page paints them
with one drawImage, whatever the zoom, instead of 97,000 rectangles.

Layer hook: features that land later (gauges, detectors, warnings) add an entry with
`register_layer`; the page reads `GET /api/v1/dashboard/layers` and draws every layer whose
endpoint answers `{"type": "points", "lon": [...], "lat": [...], "value": [...], ...}` or
`{"type": "polygons", "rings": [...], ...}`.
"""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
import shapely

from cityops.geo.models import CityPack


@dataclass(frozen=True)
class Layer:
    id: str
    name: str
    name_en: str
    kind: str  # "points" | "polygons" | "cases" | "base"
    url: str  # answers the layer's data (JSON)
    live: bool = False  # redrawn on every change event
    colour: str = "#3fb6ff"


# A live public layer's data now: the columns its endpoint answers, from a read connection.
Source = Callable[[sqlite3.Connection, CityPack, datetime], dict[str, Any]]

_LAYERS: dict[str, Layer] = {}
_SOURCES: dict[str, Source] = {}


def register_layer(layer: Layer, source: Source | None = None) -> Layer:
    """Add (or replace) a layer the page draws; call at import time of the feature's views.
    With `source` (public layers only: every stream gets it) the change feed pushes the
    layer's new columns to the pages whenever they change (`event: layer`)."""
    _LAYERS[layer.id] = layer
    if source is not None:
        _SOURCES[layer.id] = source
    return layer


def remove_layer(layer_id: str) -> None:
    _LAYERS.pop(layer_id, None)
    _SOURCES.pop(layer_id, None)


def sources() -> dict[str, Source]:
    """The pushed layers' sources, by layer id."""
    return dict(_SOURCES)


def layers() -> list[dict[str, Any]]:
    return [asdict(layer) for layer in _LAYERS.values()]


for _layer in (
    Layer("districts", "行政区", "Districts", "base", "/api/v1/dashboard/basemap"),
    Layer("grids", "单元网格", "Unit grids", "base", "/api/v1/dashboard/basemap"),
    Layer("patrols", "巡查网格", "Patrol grids", "base", "/api/v1/dashboard/basemap"),
    Layer("waterlogging", "易渍水点", "Waterlogging points", "base", "/api/v1/dashboard/basemap", colour="#2ec7ff"),
    Layer("roads", "道路", "Roads", "base", "/api/v1/dashboard/basemap", colour="#8899aa"),
    Layer("cases", "在办案件", "Open cases", "cases", "/api/v1/dashboard/cases", live=True, colour="#ffb300"),
    Layer("overdue", "超期案件", "Overdue cases", "cases", "/api/v1/dashboard/cases", live=True, colour="#ff4d4f"),
):
    register_layer(_layer)


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


def _rings(geom: shapely.Geometry, digits: int = 5) -> list[list[float]]:
    """Every ring of a (multi)polygon as a flat [lon, lat, lon, lat, …] list."""
    out: list[list[float]] = []
    for poly in getattr(geom, "geoms", [geom]):
        for ring in (poly.exterior, *poly.interiors):
            xy = np.round(np.asarray(ring.coords)[:, :2], digits)
            out.append(xy.ravel().tolist())
    return out


@lru_cache(maxsize=4)
def basemap(city: CityPack) -> dict[str, Any]:
    """The city's base layers. Rasters are row-major over the lattice, row 0 the northern edge:
    `district` (uint8, 0 none, else 1 + district index), `area` (uint8, 0 none, 1 A, 2 B, 3 C),
    `patrol` (int16, -1 none)."""
    g = city.grids
    lat = g.lattice
    shape = (lat.rows, lat.cols)
    pos = {d.code: i + 1 for i, d in enumerate(city.districts)}
    district = np.zeros(shape, np.uint8)
    area = np.zeros(shape, np.uint8)
    patrol = np.full(shape, -1, np.int16)
    if len(g):
        codes, inverse = np.unique(g.district, return_inverse=True)
        district[g.row, g.col] = np.array([pos[c] for c in codes.tolist()], np.uint8)[inverse]
        area[g.row, g.col] = np.searchsorted(np.array(["A", "B", "C"]), g.area_class) + 1
        patrol[g.row, g.col] = g.patrol.astype(np.int16)
    minx, miny, maxx, maxy = shapely.total_bounds(list(city.geometries.values()))
    return {
        "city": {"code": city.code, "name": city.name, "name_en": city.name_en},
        "bounds": [round(float(v), 5) for v in (minx, miny, maxx, maxy)],
        "districts": [
            {"code": d.code, "name": d.name, "name_en": d.name_en,
             "rings": _rings(city.geometries[d.code]),
             "label": [round(c, 5) for c in _label_point(city.geometries[d.code])]}
            for d in city.districts
        ],
        "lattice": {"origin_lon": lat.origin_lon, "origin_lat": lat.origin_lat,
                    "deg_lon": lat.deg_lon, "deg_lat": lat.deg_lat, "rows": lat.rows, "cols": lat.cols,
                    "grids": len(g), "district": _b64(district), "area": _b64(area), "patrol": _b64(patrol)},
        "patrols": [{"code": p.code, "name": p.name, "name_en": p.name_en} for p in city.patrol_grids],
        "waterlogging": {
            "code": [w.code for w in city.waterlogging_points],
            "lon": [round(w.lon, 5) for w in city.waterlogging_points],
            "lat": [round(w.lat, 5) for w in city.waterlogging_points],
            "name": [w.name for w in city.waterlogging_points],
            "simulated": any(w.simulated for w in city.waterlogging_points),
        },
        # The city pack has no road network yet; a pack that grows one fills this list with
        # flat [lon, lat, …] polylines and the page draws them.
        "roads": [list(r) for r in getattr(city, "roads", ())],
    }


def _label_point(geom: shapely.Geometry) -> tuple[float, float]:
    p = shapely.point_on_surface(geom)
    return float(p.x), float(p.y)
