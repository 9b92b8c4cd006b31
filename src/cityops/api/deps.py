"""Request dependencies shared by every feature's views: the platform and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from cityops.auth.service import actor_for_token
from cityops.auth.tokencache import cached_actor
from cityops.cases.models import Actor, Role
from cityops.core import Platform, utcnow
from cityops.errors import Forbidden, Unauthorized

# What a `sensor` (gateway) token may reach: observation writes, SensorThings, its own token.
SENSOR_PATHS = ("/api/v1/observations", "/sta/", "/api/v1/auth/")


async def platform(request: Request) -> Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


async def actor(request: Request) -> Actor:
    # async: in SQLite a token lookup is a few microseconds; a thread hop per request costs far
    # more. On PostgreSQL the answer is remembered (auth/tokencache.py), a miss looked up in a thread.
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(
            "missing bearer token: send 'Authorization: Bearer <token>' (get one from POST /api/v1/auth/token)",
            "缺少令牌",
        )
    p: Platform = request.app.state.platform
    cache = getattr(request.app.state, "token_cache", None)  # PostgreSQL: see auth/tokencache.py
    if cache is None:
        who = actor_for_token(p.store.reader(), token.strip(), utcnow())
    else:
        who = await cached_actor(cache, p.store.reader, token.strip(), utcnow())
    if who.role is Role.SENSOR and not request.url.path.startswith(SENSOR_PATHS):
        raise Forbidden("a sensor gateway may only write observations", "传感网关只能写入观测数据")
    return who


PlatformDep = Annotated[Platform, Depends(platform)]
ActorDep = Annotated[Actor, Depends(actor)]


def require(actor: Actor, *roles: Role) -> None:
    if actor.role is not Role.ADMIN and actor.role not in roles:
        raise Forbidden(
            f"role '{actor.role}' may not do this; needs one of: {', '.join(roles)}",
            f"角色 {actor.role} 无权执行此操作",
        )
