"""HTTP: the catalogue under /api/v1/data/resources, DCAT-AP under /dcat, CKAN under /api/3/action."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import anyio
from fastapi import Query as Q
from fastapi import Request, Response
from pydantic import BaseModel, Field

from cityops.api.deps import ActorDep, PlatformDep, require
from cityops.api.routing import feature_router
from cityops.cases.models import Role
from cityops.core import Platform, utcnow
from cityops.data import catalogue, dcat, own, service
from cityops.data.models import COLUMNS, Item, Resource
from cityops.errors import InvalidInput, NotFound

router = feature_router("/api/v1/data", "data")
dcat_router = feature_router("/dcat", "dcat")
MAX_CSV = 32_000_000  # a sheet of ~100,000 entries (app.BODY_LIMITS names the route)


class ItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    type: str = Field(default="C", max_length=2, description="C 字符型, N 数值型, D 日期型, T 日期时间型, …")
    description: str = Field(default="", max_length=500)


class ResourceIn(BaseModel):
    code: str = Field(min_length=1, max_length=100, description=COLUMNS["code"])
    name: str = Field(min_length=1, max_length=300, description=COLUMNS["name"])
    provider: str = Field(min_length=1, max_length=200, description=COLUMNS["provider"])
    sharing: str = Field(description="无条件共享 | 有条件共享 | 不予共享")
    openness: str = Field(description="开放 | 有条件开放 | 不开放")
    published: str = Field(description="YYYY-MM-DD")
    description: str = Field(default="", max_length=4000)
    provider_code: str = Field(default="", max_length=50)
    classification: str = Field(default="", max_length=200)
    theme: str = Field(default="", max_length=100)
    items: list[ItemIn] = Field(default_factory=list, max_length=500)
    sharing_condition: str = Field(default="", max_length=1000)
    openness_condition: str = Field(default="", max_length=1000)
    update_cycle: str = "不定期"
    format: str = Field(default="CSV", max_length=50)
    keywords: str = Field(default="", max_length=500)

    def to_resource(self, by: str) -> Resource:
        fields = self.model_dump(exclude={"items"})
        return Resource(**fields, items=tuple(Item(**i.model_dump()) for i in self.items), source=by)


def resource_dict(r: Resource) -> dict[str, Any]:
    out = {k: getattr(r, k) for k in COLUMNS if k != "items"}
    out["items"] = [i.__dict__ for i in r.items]
    out["modified"] = catalogue.from_us(r.modified).isoformat()
    out["source"] = r.source
    return out


def _search(platform: Platform, q: catalogue.Query) -> tuple[list[Resource], int]:
    with platform.store.read() as repo:
        return catalogue.search(repo.conn, q)


@router.get("/resources")
async def search_resources(
    platform: PlatformDep, actor: ActorDep,
    q: Annotated[str, Q(max_length=200, description="words, all must appear (Chinese or not)")] = "",
    provider: Annotated[str | None, Q(max_length=200)] = None,
    theme: Annotated[str | None, Q(max_length=100)] = None,
    limit: Annotated[int, Q(ge=1, le=catalogue.MAX_ROWS)] = 20,
    offset: Annotated[int, Q(ge=0)] = 0,
) -> dict[str, Any]:
    """数据资源目录检索 / Search the catalogue (一本账)."""
    await service.ensure_described(platform)
    found, total = await asyncio.to_thread(_search, platform, catalogue.Query(q, provider, theme, limit=limit,
                                                                               offset=offset))
    return {"total": total, "resources": [resource_dict(r) for r in found]}


@router.get("/resources/{code}")
async def show_resource(code: str, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    await service.ensure_described(platform)
    found = await platform.aread(lambda repo: catalogue.get(repo.conn, code))
    if found is None:
        raise NotFound(f"no data resource {code}", f"数据资源 {code} 不存在")
    return resource_dict(found)


@router.post("/resources", status_code=201)
async def register_resources(body: list[ResourceIn], platform: PlatformDep, actor: ActorDep) -> dict[str, int]:
    """登记数据资源 / Register (or replace by code) other departments' resources, as a JSON list."""
    require(actor, Role.SUPERVISOR)
    if not body or len(body) > 1000:
        raise InvalidInput("send 1 to 1000 resources; larger sets go through /resources/import (CSV)",
                           "每次登记 1-1000 条，更多请用 CSV 导入")
    stored = await platform.awrite(service.register, [r.to_resource(actor.name) for r in body], utcnow())
    return {"stored": stored}


@router.post("/resources/import", status_code=201)
async def import_resources(request: Request, platform: PlatformDep, actor: ActorDep) -> dict[str, int]:
    """CSV 批量导入 / Import a catalogue sheet (text/csv; Chinese or English headers, see docs/data.md)."""
    require(actor, Role.SUPERVISOR)
    data = await request.body()
    if not data.strip():
        raise InvalidInput("empty body: send the CSV sheet as the request body", "请求体为空，请发送 CSV 表格")
    stored = await platform.awrite(service.import_csv, data, actor.name, utcnow())
    return {"stored": stored}


@router.delete("/resources/{code}", status_code=204)
async def remove_resource(code: str, platform: PlatformDep, actor: ActorDep) -> Response:
    require(actor, Role.SUPERVISOR)
    if not await platform.awrite(service.remove, code):
        raise NotFound(f"no data resource {code}", f"数据资源 {code} 不存在")
    return Response(status_code=204)


# rdflib builds a page at about 10 s per 1,000 datasets of one core (measured on 2 cores): one
# build at a time, on its own thread, so that many large pages queue instead of taking every
# worker thread the other features' reads share.
DCAT_BUILDS = anyio.CapacityLimiter(1)
DcatLimit = Annotated[int, Q(ge=1, le=5000, description="datasets per page (rdflib builds the whole page)")]
DcatOffset = Annotated[int, Q(ge=0)]


def _dcat(platform: Platform, base: str, fmt: str, limit: int, offset: int) -> bytes:
    with platform.store.read() as repo:
        resources = catalogue.all_resources(repo.conn, limit, offset)
    return dcat.serialise(dcat.graph(resources, base, platform.city.name, own.OWNER), fmt)


@dcat_router.get("/catalog.jsonld", response_class=Response)
async def catalog_jsonld(request: Request, platform: PlatformDep, limit: DcatLimit = 1000,
                        offset: DcatOffset = 0) -> Response:
    """DCAT-AP 3 目录（JSON-LD）/ The catalogue as DCAT-AP 3, JSON-LD. Public, like a data portal's."""
    await service.ensure_described(platform)
    body = await anyio.to_thread.run_sync(_dcat, platform, str(request.base_url), "jsonld", limit, offset,
                                          limiter=DCAT_BUILDS)
    return Response(body, media_type="application/ld+json")


@dcat_router.get("/catalog.ttl", response_class=Response)
async def catalog_ttl(request: Request, platform: PlatformDep, limit: DcatLimit = 1000,
                        offset: DcatOffset = 0) -> Response:
    """DCAT-AP 3 目录（Turtle）/ The catalogue as DCAT-AP 3, Turtle."""
    await service.ensure_described(platform)
    body = await anyio.to_thread.run_sync(_dcat, platform, str(request.base_url), "ttl", limit, offset,
                                          limiter=DCAT_BUILDS)
    return Response(body, media_type="text/turtle; charset=utf-8")
