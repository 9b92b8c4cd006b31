"""HTTP: the exchange endpoints another city or a city below calls, over mutual TLS only
(`cityops data exchange-gateway`), and the province's list of received reports."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import Request

from cityops.api.deps import ActorDep, PlatformDep, require
from cityops.api.routing import feature_router
from cityops.cases.models import Role
from cityops.core import Platform, utcnow
from cityops.data import exchange
from cityops.errors import Forbidden, InvalidInput

router = feature_router("/exchange/v1", "exchange")
reports_router = feature_router("/api/v1/data", "data")


async def _message(request: Request) -> dict[str, Any]:
    if request.url.scheme != "https":
        raise Forbidden("exchange runs over mutual TLS only: call the exchange gateway (cityops data exchange-gateway)",
                        "数据交换仅经双向 TLS 的交换网关进行")
    try:
        message = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise InvalidInput("malformed JSON body", "JSON 格式错误") from None
    if not isinstance(message, dict):
        raise InvalidInput("the body must be a signed message (a JSON object)", "请求体应为签名报文（JSON 对象）")
    return message


@router.post("/pull")
async def pull(request: Request, platform: PlatformDep) -> dict[str, Any]:
    """按授权拉取数据产品 / Another city pulls a product under its grant (signed request, signed answer)."""
    message = await _message(request)
    now = utcnow()
    checked = await asyncio.to_thread(_check_pull, platform, message, now)  # read snapshot, off the writer
    return await platform.awrite(exchange.finish_pull, message, checked, now)  # type: ignore[no-any-return]


def _check_pull(platform: Platform, message: dict[str, Any], now: Any) -> Any:
    with platform.store.read() as repo:
        return exchange.check_pull(repo, platform, message, now)


@router.post("/reports")
async def report(request: Request, platform: PlatformDep) -> dict[str, Any]:
    """接收下级报送 / A city's daily report arrives (this instance acting as the province)."""
    message = await _message(request)
    return await platform.awrite(exchange.receive_report, message, utcnow())  # type: ignore[no-any-return]


def _received(platform: Platform, limit: int) -> list[dict[str, Any]]:
    with platform.store.read() as repo:
        rows = repo.conn.execute("SELECT id, sender, day, mapping, body, received_at FROM data_report_in "
                                 "ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    return [{"id": r[0], "sender": r[1], "period": r[2], "mapping": r[3], "report": orjson.loads(r[4])} for r in rows]


@reports_router.get("/reports")
async def received_reports(platform: PlatformDep, actor: ActorDep, limit: int = 50) -> list[dict[str, Any]]:
    """收到的报送 / Reports received from cities (province side)."""
    require(actor, Role.SUPERVISOR)
    return await asyncio.to_thread(_received, platform, max(1, min(limit, 500)))
