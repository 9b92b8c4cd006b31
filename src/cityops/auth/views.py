"""HTTP views for authentication and user administration."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

from fastapi import Request
from pydantic import BaseModel, Field

from cityops.api.deps import ActorDep, PlatformDep, require
from cityops.api.routing import feature_router
from cityops.auth import service
from cityops.auth.throttle import LoginThrottle
from cityops.cases.models import ROLE_LABELS, Role
from cityops.core import Platform, utcnow
from cityops.errors import Unauthorized
from cityops.store.base import Repo, User

router = feature_router("/api/v1", "auth")


class Login(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)


class UserIn(BaseModel):
    name: str = Field(max_length=64)
    role: str
    department: str | None = None
    password: str = Field(min_length=service.MIN_PASSWORD, max_length=256)


def _throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle | None = getattr(request.app.state, "login_throttle", None)
    if throttle is None:  # in memory, or shared by every server through Redis (security/limits.py)
        from cityops.security.limits import login_throttle

        throttle = request.app.state.login_throttle = login_throttle(request.app.state.platform)
    return throttle


async def _client_address(request: Request, platform: Platform) -> str:
    """The real client, forwarded headers believed only from the city's trusted proxies."""
    from cityops.security import proxies
    from cityops.security.settings import load

    trusted = await platform.aread(lambda repo: load(repo).trusted_proxies)
    return proxies.client_address(request.client.host if request.client else None,
                                  request.headers.getlist("x-forwarded-for"), request.headers.get("x-real-ip"),
                                  trusted)


@router.post("/auth/token", summary="Exchange a user name and password for a bearer token")
async def token(body: Login, request: Request, platform: PlatformDep) -> dict[str, str]:
    def check() -> None:
        with platform.store.read() as repo:
            service.authenticate(repo, body.username, body.password)

    throttle = _throttle(request)
    account = service.normalize_name(body.username)
    address = await _client_address(request, platform)
    throttle.check(account, address, time.monotonic())  # 429 before any Argon2 work
    # Argon2 takes tens of milliseconds on purpose: off the event loop, or every login
    # would stall every other request.
    try:
        await asyncio.to_thread(check)
    except Unauthorized:
        throttle.failed(account, address, time.monotonic())
        raise
    throttle.succeeded(account)
    now = utcnow()
    value = await platform.awrite(_issue_token, body.username, now)
    return {"access_token": value, "token_type": "bearer"}


@router.post("/auth/logout", summary="Revoke the token this request carries")
async def logout(request: Request, platform: PlatformDep, actor: ActorDep) -> dict[str, int]:
    token = request.headers["authorization"].partition(" ")[2].strip()
    gone = await platform.awrite(_revoke_token, service.token_digest(token))
    if (cache := getattr(request.app.state, "token_cache", None)) is not None:
        cache.forget_all()  # here at once; other servers when the change notification comes
    return {"revoked": gone}


@router.get("/me", summary="Who am I")
def me(actor: ActorDep) -> dict[str, Any]:
    return {"name": actor.name, "role": actor.role.value, "role_label": list(ROLE_LABELS[actor.role]),
            "department": actor.department}


@router.get("/users", summary="List users (admin)")
def users(platform: PlatformDep, actor: ActorDep) -> list[dict[str, Any]]:
    require(actor)
    with platform.store.read() as repo:
        return [{"name": u.name, "role": u.role, "department": u.department, "active": u.active}
                for u in repo.list_users()]


@router.post("/users", status_code=201, summary="Create a user (admin)")
async def create_user(body: UserIn, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    require(actor)
    known = {d.code for d in platform.city.departments}
    user = service.new_user(body.name, body.role, body.department, body.password, known)
    now = utcnow()
    await platform.awrite(_add_user, user, now)
    return {"name": user.name, "role": user.role, "department": user.department}


# Write operations: module-level, so they can run in the server's write process.
def _issue_token(repo: Repo, platform: Platform, name: str, now: datetime) -> str:
    return service.issue_token(repo, name, now)


def _revoke_token(repo: Repo, platform: Platform, token_hash: str) -> int:
    return repo.revoke_tokens(token_hash=token_hash)


def _add_user(repo: Repo, platform: Platform, user: User, now: datetime) -> None:
    repo.add_user(user, now)


__all__ = ["router", "Role"]
