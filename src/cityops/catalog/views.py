"""HTTP views for the catalogue of components and matters."""

from __future__ import annotations

from typing import Any

from cityops.api.deps import ActorDep, PlatformDep
from cityops.api.routing import feature_router
from cityops.catalog.export import entry_json
from cityops.errors import NotFound

router = feature_router("/api/v1/catalogue", "catalogue")


@router.get("/matters", summary="Matters (管理事项), optionally filtered by text")
def matters(platform: PlatformDep, actor: ActorDep, q: str | None = None) -> list[dict[str, Any]]:
    found = platform.catalogue.search(q) if q else platform.catalogue.matters()
    return [entry_json(e) for e in found if e.kind == "matter"]


@router.get("/matters/{code}", summary="One matter")
def matter(code: str, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    try:
        return entry_json(platform.catalogue.matter(code))
    except KeyError:
        raise NotFound(f"unknown matter code '{code}'", f"未知的管理事项代码 {code}") from None


@router.get("/components", summary="Components (管理部件)")
def components(platform: PlatformDep, actor: ActorDep) -> list[dict[str, Any]]:
    return [entry_json(e) for e in platform.catalogue.components()]
