"""HTTP for authorised operation: data users apply, owners grant and revoke, grants are used,
and the owner reads the access log. Data users authenticate with their own key (cdu_…) or a
grant's credential (cdg_…), never with a staff token."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query as Q
from fastapi import Request
from pydantic import BaseModel, Field

from cityops.api.deps import ActorDep, PlatformDep, require
from cityops.api.routing import feature_router
from cityops.cases.models import Role
from cityops.core import Platform, utcnow
from cityops.data import accesslog, grants, privacy
from cityops.data.products import DOMAINS, PRODUCTS
from cityops.errors import CityopsError, Unauthorized

router = feature_router("/api/v1/data", "data")


def _bearer(request: Request, prefix: str, what_zh: str) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip().startswith(prefix):
        raise Unauthorized(f"send 'Authorization: Bearer {prefix}…' ({what_zh})", f"缺少{what_zh}")
    return token.strip()


async def _data_user(request: Request, platform: Platform) -> str:
    key = _bearer(request, grants.USER_PREFIX, "数据使用方密钥 data-user key")
    return await platform.aread(lambda repo: grants.user_for_key(repo.conn, key))


class UserIn(BaseModel):
    name: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    org_name: str = Field(min_length=2, max_length=200, description="单位名称")
    org_code: str = Field(default="", max_length=18, description="统一社会信用代码")
    kind: str = Field(default="company", description="company 企业 | city 其他城市")


class ApplicationIn(BaseModel):
    product: str = Field(description="cases | sensors (GET /api/v1/data/products)")
    domain: str = Field(description="health, finance, transport, education, governance")
    purpose: str = Field(min_length=4, max_length=1000, description="用途")
    user_product: str = Field(min_length=1, max_length=200, description="所用于的产品或场景")


class GrantIn(BaseModel):
    fields: list[str] = Field(min_length=1, max_length=50)
    districts: list[str] = Field(default_factory=list, max_length=50)
    start: datetime | None = None
    end: datetime | None = None
    days: int = Field(default=30, ge=1, le=grants.MAX_DAYS)
    mode: str = Field(default="rows", description="rows (去标识化明细) | inside (可用不可见，仅汇总查询)")
    min_cell: int = Field(default=privacy.DEFAULT_MIN_CELL, ge=privacy.MIN_CELL_FLOOR, le=10_000)
    epsilon: float | None = Field(default=None, gt=0, le=10)
    budget: float | None = Field(default=None, gt=0, le=100)

    def terms(self) -> grants.Terms:
        return grants.Terms(tuple(self.fields), tuple(self.districts), self.start, self.end, self.days, self.mode,
                            self.min_cell, self.epsilon, self.budget)


class ReasonIn(BaseModel):
    reason: str = Field(default="", max_length=1000)


class QueryIn(BaseModel):
    group_by: list[str] = Field(min_length=1, max_length=4)


# the owner ---------------------------------------------------------------------------------
def _create_user(repo: Any, platform: Platform, body: dict[str, str], by: str, now: datetime) -> str:
    return grants.create_user(repo.conn, body["name"], body["org_name"], body["org_code"], body["kind"], now, by)


@router.post("/users", status_code=201)
async def create_data_user(body: UserIn, platform: PlatformDep, actor: ActorDep) -> dict[str, str]:
    """开设数据使用方账户 / Open a data-user account (company or city); the key is shown once."""
    require(actor, Role.SUPERVISOR)
    key = await platform.awrite(_create_user, body.model_dump(), actor.name, utcnow())
    return {"name": body.name, "key": key}


def _set_active(repo: Any, platform: Platform, name: str, active: bool, by: str, now: datetime) -> None:
    grants.set_user_active(repo.conn, name, active, by, now)


@router.post("/users/{name}/disable")
async def disable_data_user(name: str, platform: PlatformDep, actor: ActorDep) -> dict[str, str]:
    """停用数据使用方 / Disable a data user: all their grants are refused from the next request on."""
    require(actor, Role.SUPERVISOR)
    await platform.awrite(_set_active, name, False, actor.name, utcnow())
    return {"name": name, "status": "disabled"}


@router.post("/users/{name}/enable")
async def enable_data_user(name: str, platform: PlatformDep, actor: ActorDep) -> dict[str, str]:
    require(actor, Role.SUPERVISOR)
    await platform.awrite(_set_active, name, True, actor.name, utcnow())
    return {"name": name, "status": "enabled"}


def _read(platform: Platform, fn: Any, *args: Any) -> Any:
    with platform.store.read() as repo:
        return fn(repo.conn, *args)


@router.get("/applications")
async def list_applications(platform: PlatformDep, actor: ActorDep) -> list[dict[str, Any]]:
    require(actor, Role.SUPERVISOR)
    return await asyncio.to_thread(_read, platform, grants.applications)  # type: ignore[no-any-return]


def _grant(repo: Any, platform: Platform, app_id: int, terms: grants.Terms, by: str,
           now: datetime) -> tuple[int, str, datetime]:
    return grants.grant(repo.conn, app_id, terms, by, {d.code for d in platform.city.districts}, now)


@router.post("/applications/{app_id}/grant", status_code=201)
async def grant_application(app_id: int, body: GrantIn, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """批准授权 / Grant with scope, duration, mode and protection; the credential is shown once."""
    require(actor, Role.SUPERVISOR)
    grant_id, credential, expires = await platform.awrite(_grant, app_id, body.terms(), actor.name, utcnow())
    return {"grant_id": grant_id, "credential": credential, "expires_at": expires.isoformat()}


def _reject(repo: Any, platform: Platform, app_id: int, by: str, reason: str, now: datetime) -> None:
    grants.reject(repo.conn, app_id, by, reason, now)


@router.post("/applications/{app_id}/reject")
async def reject_application(app_id: int, body: ReasonIn, platform: PlatformDep, actor: ActorDep) -> dict[str, str]:
    require(actor, Role.SUPERVISOR)
    await platform.awrite(_reject, app_id, actor.name, body.reason, utcnow())
    return {"status": "rejected"}


@router.get("/grants")
async def list_grants(platform: PlatformDep, actor: ActorDep) -> list[dict[str, Any]]:
    require(actor, Role.SUPERVISOR)
    return await asyncio.to_thread(_read, platform, grants.grants)  # type: ignore[no-any-return]


def _revoke(repo: Any, platform: Platform, grant_id: int, by: str, reason: str, now: datetime) -> None:
    grants.revoke(repo.conn, grant_id, by, reason, now)


@router.post("/grants/{grant_id}/revoke")
async def revoke_grant(grant_id: int, body: ReasonIn, platform: PlatformDep, actor: ActorDep) -> dict[str, str]:
    """撤销授权 / Revoke: the credential is refused from the next request on."""
    require(actor, Role.SUPERVISOR)
    await platform.awrite(_revoke, grant_id, actor.name, body.reason, utcnow())
    return {"status": "revoked"}


def _log(conn: Any, grant_id: int | None, limit: int, offset: int, check: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"entries": [accesslog.entry_dict(e) for e in accesslog.entries(conn, grant_id, limit, offset)]}
    if check:
        problems = accesslog.check(conn)
        out["verified"] = not problems
        out["problems"] = [{"seq": p.seq, "what": p.what} for p in problems]
    return out


@router.get("/log")
async def access_log(platform: PlatformDep, actor: ActorDep, grant: int | None = None,
                     limit: Annotated[int, Q(ge=1, le=10_000)] = 1000, offset: Annotated[int, Q(ge=0)] = 0,
                     verify: bool = False) -> dict[str, Any]:
    """访问日志 / The access log (hash-chained); verify=true checks the whole chain."""
    require(actor, Role.SUPERVISOR)
    return await asyncio.to_thread(_read, platform, _log, grant, limit, offset, verify)  # type: ignore[no-any-return]


# data users --------------------------------------------------------------------------------
@router.get("/products")
async def list_products() -> dict[str, Any]:
    """可申请的数据产品与领域 / Products on offer and the domains one may apply in."""
    return {"products": [{"code": p.code, "name_zh": p.name_zh, "name_en": p.name_en, "citizen_data": p.citizen,
                          "fields": list(p.fields), "group_fields": list(p.group_fields)} for p in PRODUCTS.values()],
            "domains": {k: {"zh": v[0], "en": v[1]} for k, v in DOMAINS.items()}}


def _apply(repo: Any, platform: Platform, user: str, body: dict[str, str], now: datetime) -> int:
    return grants.apply(repo.conn, user, body["product"], body["domain"], body["purpose"], body["user_product"], now)


@router.post("/market/applications", status_code=201)
async def apply(body: ApplicationIn, request: Request, platform: PlatformDep) -> dict[str, Any]:
    """申请数据产品 / A data user applies (Authorization: Bearer cdu_…)."""
    user = await _data_user(request, platform)
    app_id = await platform.awrite(_apply, user, body.model_dump(), utcnow())
    return {"id": app_id, "status": "pending"}


@router.get("/market/applications")
async def my_applications(request: Request, platform: PlatformDep) -> list[dict[str, Any]]:
    user = await _data_user(request, platform)
    return await asyncio.to_thread(_read, platform, grants.applications, user)  # type: ignore[no-any-return]


def _outcome(result: dict[str, Any] | grants.Refused) -> dict[str, Any]:
    if isinstance(result, grants.Refused):
        err = CityopsError(result.message_en, result.message_zh)
        err.status, err.code = result.status, "refused"
        raise err
    return result


def _prepare(platform: Platform, fn: Any, *args: Any) -> Any:
    with platform.store.read() as repo:
        return fn(repo, platform, *args)


async def _access(platform: Platform, request: Request, product: str, prepare: Any, *args: Any) -> dict[str, Any]:
    """Compute on a read snapshot (a thread: loading a million cases must not hold the writer),
    then check again, log and release in one short write."""
    credential = _bearer(request, grants.GRANT_PREFIX, "授权凭证 grant credential")
    now = utcnow()
    prepared = await asyncio.to_thread(_prepare, platform, prepare, credential, product, *args, now)
    return _outcome(await platform.awrite(grants.record, credential, product, prepared, _who(request), now))


@router.get("/products/{product}/rows")
async def product_rows(product: str, request: Request, platform: PlatformDep,
                       limit: Annotated[int, Q(ge=1, le=grants.MAX_ROWS)] = 1000,
                       offset: Annotated[int, Q(ge=0)] = 0) -> dict[str, Any]:
    """按授权读取去标识化明细 / De-identified rows under a `rows` grant (Bearer cdg_…)."""
    return await _access(platform, request, product, grants.prepare_rows, limit, offset)


@router.post("/products/{product}/query")
async def product_query(product: str, body: QueryIn, request: Request, platform: PlatformDep) -> dict[str, Any]:
    """平台内汇总查询 / Aggregate counts run inside; small cells suppressed, DP noise per the grant."""
    return await _access(platform, request, product, grants.prepare_query, body.group_by)


def _who(request: Request) -> str:
    client = request.client
    return f"unknown@{client.host}" if client else "unknown"
