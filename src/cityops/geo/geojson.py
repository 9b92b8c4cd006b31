"""Geometries as GeoJSON the way RFC 7946 §3.1.6 asks: exterior rings counter-clockwise,
holes clockwise (the right-hand rule). Boundary data comes in either orientation (GEOS
keeps what it is given; a union may turn rings over), and strict clients, d3-geo among
them, read a clockwise exterior as the whole globe minus the district."""

from __future__ import annotations

from typing import Any

import orjson


def geojson_geometry(geom: Any) -> dict[str, Any]:
    """A shapely geometry as a GeoJSON object with its polygons' rings oriented."""
    import shapely

    return orjson.loads(shapely.to_geojson(shapely.orient_polygons(geom, exterior_cw=False)))  # type: ignore[no-any-return]
