"""HTTP views for the city pack: districts, departments, point lookup."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from cityops.api.deps import ActorDep, PlatformDep
from cityops.api.routing import feature_router
from cityops.errors import NotFound

router = feature_router("/api/v1/city", "city")


@router.get("", summary="The city this platform serves")
def city(platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    c = platform.city
    return {"code": c.code, "name": c.name, "name_en": c.name_en, "timezone": c.timezone,
            "districts": len(c.districts), "grids": len(c.grids.code),
            "departments": len(c.departments)}


@router.get("/districts", summary="Districts")
def districts(platform: PlatformDep, actor: ActorDep) -> list[dict[str, str]]:
    return [{"code": d.code, "name": d.name, "name_en": d.name_en} for d in platform.city.districts]


@router.get("/departments", summary="Departments that handle cases")
def departments(platform: PlatformDep, actor: ActorDep) -> list[dict[str, Any]]:
    return [{"code": d.code, "name": d.name, "name_en": d.name_en, "serves": list(d.serves),
             "district": d.district} for d in platform.city.departments]


@router.get("/locate", summary="Which grid and district hold a point")
def locate(
    platform: PlatformDep, actor: ActorDep,
    lon: Annotated[float, Query(ge=-180, le=180)], lat: Annotated[float, Query(ge=-90, le=90)],
) -> dict[str, Any]:
    where = platform.city.locate_one(lon, lat)
    if where is None:
        raise NotFound(f"({lon}, {lat}) is outside the city", "该点不在本市范围内")
    return {"district": where.district_code, "grid": where.grid_code, "area_class": where.area_class}
