"""The GeoReport v2 router at /open311/v2: every endpoint in .xml and .json.

Handlers read raw query and form parameters (so empty ones behave as missing, and every error
is the spec's array, never FastAPI's own shape) and answer bytes in the requested format.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from cityops import __version__
from cityops.api.forms import form_items
from cityops.api.routing import feature_router
from cityops.auth.tokencache import remembered
from cityops.core import Platform, utcnow
from cityops.errors import CityopsError
from cityops.field import open311 as field_open311
from cityops.intake.open311 import keys, params, render, service, services
from cityops.intake.open311.errors import Open311Error, from_domain
from cityops.intake.open311.keys import RateLimiter
from cityops.store.base import ApiKey, Repo

PREFIX = "/open311/v2"
SPEC = "http://wiki.open311.org/GeoReport_v2"
router = feature_router(PREFIX, "open311")


def _platform(request: Request) -> Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


def _limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter | None = getattr(request.app.state, "open311_limiter", None)
    if limiter is None:  # in memory, or shared by every server through Redis (security/limits.py)
        from cityops.security.limits import open311_limiter

        limiter = request.app.state.open311_limiter = open311_limiter(request.app.state.platform)
    return limiter


def _query(request: Request) -> dict[str, list[str]]:
    return params.form_params(request.query_params.multi_items())


async def _answer(fmt: str, root: str, work: Callable[[], Awaitable[Any]], status: int = 200) -> Response:
    """Run the handler's work; any error becomes the spec's error array in the same format."""
    asked, fmt = fmt.lower(), fmt.lower() if fmt.lower() in render.FORMATS else "xml"
    try:
        render.check_format(asked)
        payload = await work()
        return Response(render.body(fmt, root, payload), status_code=status, media_type=render.MEDIA_TYPES[fmt])
    except CityopsError as exc:
        err = from_domain(exc)
    except Open311Error as exc:
        err = exc
    headers = {"Retry-After": "1"} if err.status in (429, 503) else None
    return Response(render.errors(fmt, err), status_code=err.status, media_type=render.MEDIA_TYPES[fmt],
                    headers=headers)



def _jurisdiction(request: Request, form: dict[str, list[str]] | None = None) -> None:
    values = params.merge(_query(request), form or {})
    service.check_jurisdiction(_platform(request), params.first(values, "jurisdiction_id"))


async def _api_key(request: Request, platform: Platform, given: str | None, scope: str) -> ApiKey:
    """The API key's row, checked: remembered between requests on PostgreSQL (auth/tokencache.py)."""
    cache = getattr(request.app.state, "token_cache", None)
    if cache is None or not given:
        return await platform.aread(service.authenticate, given, scope)
    digest = keys.digest(given)

    async def look() -> tuple[ApiKey, None] | None:
        row = await platform.aread(lambda repo: repo.api_key_by_hash(digest))
        return None if row is None else (row, None)

    return service.check_key(await remembered(cache, "apikey:" + digest, look, utcnow()), scope)


async def _keyed_form(request: Request, platform: Platform, scope: str) -> tuple[dict[str, list[str]], ApiKey]:
    """A POST's parameters (query string and form), its jurisdiction checked, and its API key
    authenticated for `scope` and within its rate limit."""
    form = params.merge(_query(request), params.form_params(await form_items(request)))
    service.check_jurisdiction(platform, params.first(form, "jurisdiction_id"))
    key = await _api_key(request, platform, params.first(form, "api_key"), scope)
    if not _limiter(request).allow(key.name, time.monotonic()):
        raise Open311Error(429, f"rate limit for api_key '{key.name}' exceeded; retry shortly / 请求过于频繁")
    return form, key


# The POST that citizens' apps send most comes first: routes are matched in order.
@router.post("/requests.{fmt}", summary="Report a problem (form-encoded, api_key required)")
async def create(request: Request, fmt: str) -> Response:
    async def work() -> list[dict[str, Any]]:
        platform = _platform(request)
        form, key = await _keyed_form(request, platform, "report")
        sub = params.parse_submission(form)
        header = request.headers.get("idempotency-key") or None
        if sub.service_code == services.CATCH_ALL:  # classified: the sentence encoder takes 10-300 ms
            report = await asyncio.to_thread(service.prepare, platform, sub, key, header)
        else:
            report = service.prepare(platform, sub, key, header)
        now = utcnow()
        media = await field_open311.media_part(request)  # multipart `media` (FixMyStreet)
        if media is not None:  # on the case, or held with the triage item of an unsure `other`
            return await field_open311.submit_with_media(platform, report, key, now, media, str(request.base_url))
        return await platform.awrite(service.submit, report, key, now)
    return await _answer(fmt, "service_requests", work)


@router.get("/discovery.{fmt}", summary="Service discovery")
async def discovery(request: Request, fmt: str) -> Response:
    async def work() -> dict[str, Any]:
        _jurisdiction(request)
        city = _platform(request).city
        base = str(request.base_url).rstrip("/") + PREFIX
        return {
            "changeset": "2026-11-27T00:00:00+08:00",
            "contact": f"{city.name} 城市运行管理中心 / {city.name_en} city operations centre",
            "key_service": "cityops apikey create NAME (ask the city operations centre) / 向城市运行管理中心申请",
            "endpoints": [{
                "specification": SPEC, "url": base, "changeset": "2026-11-27T00:00:00+08:00",
                "type": "production", "formats": ["text/xml", "application/json"],
            }],
            "jurisdiction_id": city.code,
            "software": f"cityops {__version__}",
        }
    return await _answer(fmt, "discovery", work)


@router.get("/services.{fmt}", summary="Service list: the catalogue's matters")
async def service_list(request: Request, fmt: str) -> Response:
    async def work() -> list[dict[str, Any]]:
        _jurisdiction(request)
        listed = [services.service_json(e) for e in _platform(request).catalogue.matters()]
        return [*listed, services.catch_all_json()]
    return await _answer(fmt, "services", work)


async def _definition(request: Request, code: str, fmt: str) -> Response:
    async def work() -> dict[str, Any]:
        _jurisdiction(request)
        if code == services.CATCH_ALL:
            return {"service_code": code, "attributes": []}
        return services.definition_json(services.lookup(_platform(request).catalogue, code))
    return await _answer(fmt, "service_definition", work)


@router.get("/services/{code}.{fmt}", summary="Service definition with its attributes")
async def definition(request: Request, code: str, fmt: str) -> Response:
    return await _definition(request, code, fmt)


@router.get("/service/{code}.{fmt}", summary="Service definition (legacy path of the old open311 client)")
async def definition_legacy(request: Request, code: str, fmt: str) -> Response:
    return await _definition(request, code, fmt)


async def _read(request: Request, fmt: str, root: str, read: Callable[[Repo, Platform], Any]) -> Response:
    """A GET that reads one consistent snapshot: jurisdiction checked, answered in `fmt`. The
    read runs in a worker thread: a search over a city's cases must not hold up the loop."""
    def snapshot() -> Any:
        _jurisdiction(request)
        platform = _platform(request)
        with platform.store.read() as repo:
            return read(repo, platform)

    async def work() -> Any:
        return await asyncio.to_thread(snapshot)
    return await _answer(fmt, root, work)


@router.get("/tokens/{token}.{fmt}", summary="The service_request_id for a token")
async def token(request: Request, token: str, fmt: str) -> Response:
    return await _read(request, fmt, "service_requests", lambda repo, _: service.by_token(repo, token))


def _extensions(request: Request) -> bool:
    return (params.first(_query(request), "extensions") or "").lower() == "true"


@router.get("/requests.{fmt}", summary="Service requests (ids, codes, statuses, dates, pages)")
async def search(request: Request, fmt: str) -> Response:
    def read(repo: Repo, platform: Platform) -> list[dict[str, Any]]:
        found = service.search(repo, platform, _query(request), utcnow())
        return service.describe(repo, platform, found, _extensions(request))
    return await _read(request, fmt, "service_requests", read)


@router.get("/requests/{request_id}.{fmt}", summary="One service request (an array of one)")
async def get_one(request: Request, request_id: str, fmt: str) -> Response:
    return await _read(request, fmt, "service_requests", lambda repo, platform: service.describe(
        repo, platform, [service.one(repo, request_id)], _extensions(request)))


@router.get("/servicerequestupdates.{fmt}", summary="Updates since a time (mySociety extension)")
async def list_updates(request: Request, fmt: str) -> Response:
    return await _read(request, fmt, "service_request_updates",
                       lambda repo, platform: service.list_updates(repo, platform, _query(request), utcnow()))


@router.post("/servicerequestupdates.{fmt}", summary="A back office posts an update (mySociety extension)")
async def post_update(request: Request, fmt: str) -> Response:
    async def work() -> list[dict[str, str]]:
        platform = _platform(request)
        form, key = await _keyed_form(request, platform, "backoffice")
        now = utcnow()
        return await platform.awrite(service.post_update, key, form, now)
    return await _answer(fmt, "service_request_updates", work)
