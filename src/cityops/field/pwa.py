"""The inspector's phone page (城管通), a Progressive Web App at /m/, and the little it needs
from the server: the catalogue with pinyin initials, today's patrol for the inspector's grid.

Every file the page uses is in field/static and served from here: nothing from the internet.
"""

from __future__ import annotations

import hashlib
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pypinyin import Style, lazy_pinyin

from cityops.api.deps import ActorDep, PlatformDep
from cityops.api.routing import feature_router
from cityops.catalog.service import Catalogue
from cityops.core import Platform, utcnow
from cityops.errors import NotFound
from cityops.field import plan

STATIC = Path(__file__).with_name("static")
FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "sw.js": "text/javascript; charset=utf-8",
    "manifest.webmanifest": "application/manifest+json",
    "icon.svg": "image/svg+xml",
    "app.css": "text/css; charset=utf-8",
}
GRID_SETTING = "field.grid:"  # + user name: the patrol grid an inspector walks

router = feature_router("", "field")


@router.get("/m", include_in_schema=False)
def to_app() -> RedirectResponse:
    return RedirectResponse("/m/")


@router.get("/m/", include_in_schema=False)
def index() -> Response:
    return _file("index.html")


@router.get("/m/catalogue.json", summary="Matters for the phone's picker, with pinyin initials")
def catalogue_json(platform: PlatformDep) -> Response:
    body = _catalogue_body(platform.catalogue)
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-cache"})


@router.get("/m/{name}", include_in_schema=False)
def static(name: str) -> Response:
    if name not in FILES:
        raise NotFound(f"no file {name}", f"文件 {name} 不存在")
    return _file(name)


def _file(name: str) -> Response:
    data = (STATIC / name).read_bytes()
    headers = {"Cache-Control": "no-cache", "ETag": '"' + hashlib.sha256(data).hexdigest()[:16] + '"'}
    if name == "sw.js":
        headers["Service-Worker-Allowed"] = "/m/"
    return Response(data, media_type=FILES[name], headers=headers)


def initials(name: str) -> str:
    """拼音首字母: 暴露垃圾 -> bllj (letters and digits in the name are kept as they are)."""
    return "".join(lazy_pinyin(name, style=Style.FIRST_LETTER, errors="default")).lower()


_BODIES: dict[int, tuple[Catalogue, bytes]] = {}


def _catalogue_body(catalogue: Catalogue) -> bytes:
    """Built once per catalogue (pinyin for 250 names takes a few ms)."""
    import orjson

    cached = _BODIES.get(id(catalogue))
    if cached is not None and cached[0] is catalogue:
        return cached[1]
    matters = [{"code": m.code, "name": m.name, "name_en": m.name_en, "py": initials(m.name)}
               for m in catalogue.matters()]
    body = orjson.dumps({"matters": matters, "version": zlib.crc32(repr(matters).encode())})
    _BODIES[id(catalogue)] = (catalogue, body)
    return body


def inspector_grid(repo: Any, platform: Platform, user: str) -> str:
    """The patrol grid assigned to the user (setting field.grid:<user>), else one picked
    stably from the name, so a demo inspector always has a beat."""
    chosen = repo.get_setting(GRID_SETTING + user)
    codes = [p.code for p in platform.city.patrol_grids]
    if chosen in codes:
        return str(chosen)
    return codes[zlib.crc32(user.encode()) % len(codes)]


def assign_grid(repo: Any, platform: Platform, user: str, code: str) -> None:
    plan.patrol_polygon(platform.city, code)  # unknown codes are refused
    repo.set_setting(GRID_SETTING + user, code)


@router.get("/api/v1/patrols/today", summary="Today's patrol for the calling inspector: grid, outline, route")
def today(request: Request, platform: PlatformDep, actor: ActorDep, grid: str | None = None) -> dict[str, Any]:
    with platform.store.read() as repo:
        code = grid or inspector_grid(repo, platform, actor.name)
    return patrol_json(platform, code)


@lru_cache(maxsize=256)
def _route(city_id: int, code: str, city: Any) -> tuple[list[list[list[float]]], list[tuple[float, float]]]:
    poly = plan.patrol_polygon(city, code)
    import shapely

    rings = [[list(xy) for xy in shapely.get_coordinates(p.exterior).round(6).tolist()]
             for p in getattr(poly, "geoms", [poly])]
    return rings, plan.walking_route(city, code)


def patrol_json(platform: Platform, code: str) -> dict[str, Any]:
    grid = platform.city.patrol_grid(code)
    if grid is None:
        raise NotFound(f"no patrol grid {code}", f"巡查网格 {code} 不存在")
    rings, route = _route(id(platform.city), code, platform.city)
    day = utcnow().astimezone(platform.calendar.zone).date().isoformat()
    return {"day": day, "patrol_grid": code, "name": grid.name, "name_en": grid.name_en,
            "district": grid.district, "outline": rings, "route": route}
