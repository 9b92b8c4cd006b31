"""The HTTP application: assembles every feature's router, errors and limits."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityops import __version__
from cityops.api.deps import ActorDep
from cityops.api.forms import form_items
from cityops.api.responses import JSON
from cityops.api.routing import add_routes
from cityops.core import Platform
from cityops.errors import CityopsError, InvalidInput

MAX_BODY = 1_000_000  # bytes; a case report is a few KB
# Where reports come in, by far the busiest routes: matched before any other.
INTAKE_ROUTES = {("POST", "/api/v1/cases"), ("POST", "/open311/v2/requests.{fmt}")}


class BodyLimit:
    """Refuse bodies over the limit with 413 before the application reads them."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _too_large(self.limit, send)
            return
        seen, over = 0, False

        async def limited() -> Message:
            nonlocal seen, over
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                over = True
                raise _TooLarge
            return message

        async def unless_over(message: Message) -> None:
            # FastAPI turns any error while reading a pydantic body into its own 400 "error
            # parsing the body"; a streamed (chunked) body over the limit must still be a 413.
            if not over:
                await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, limited, unless_over)
        if over:
            await _too_large(self.limit, send)


class _TooLarge(Exception):
    pass


async def _too_large(limit: int, send: Send) -> None:
    response = JSON(
        {"error": "too_large", "message": f"request body over {limit} bytes", "message_zh": "请求体过大"},
        status_code=413,
    )
    await response({"type": "http"}, _noop_receive, send)


async def _noop_receive() -> Message:
    return {"type": "http.request", "body": b""}


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return "malformed JSON body: " + str(err.get("ctx", {}).get("error", "cannot parse"))
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg')}")
    return "; ".join(parts)


def _lifespan(platform: Platform, sweep_every: float | None, write_process: bool) -> Any:
    """While serving: the write process, if asked for, and every `sweep_every` seconds the
    escalation (督办) of overdue cases and the removal of expired tokens."""
    from cityops.auth.service import purge_expired_tokens
    from cityops.cases.service import sweep_overdue
    from cityops.core import utcnow

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def sweep() -> None:
            while sweep_every:
                try:
                    await platform.awrite(sweep_overdue, utcnow())
                    await platform.awrite(purge_expired_tokens, utcnow())
                except Exception:  # say a write process restarting: try again next round
                    logging.getLogger("cityops").exception("the minute's sweep failed")
                await asyncio.sleep(sweep_every)

        if write_process:
            await platform.start_write_process()
        task = asyncio.create_task(sweep())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await platform.stop_write_process()

    return lifespan


def create_app(platform: Platform, sweep_every: float | None = None, write_process: bool = False) -> FastAPI:
    """The application over `platform`. `cityops serve` asks for a write process (writes off
    the event loop) and a sweep every minute; tests in one process use neither."""
    from cityops.auth.views import router as auth_router
    from cityops.cases.views import router as cases_router
    from cityops.catalog.views import router as catalogue_router
    from cityops.evaluate.views import router as indicators_router
    from cityops.geo.views import router as city_router
    from cityops.intake.open311.views import router as open311_router
    from cityops.intel.views import router as intel_router

    app = FastAPI(
        title="cityops API",
        version=__version__,
        description="城市运行一网统管 — cases, catalogue, city, indicators. "
        "Authenticate with POST /api/v1/auth/token, then send 'Authorization: Bearer <token>'.",
        default_response_class=JSON,
        lifespan=_lifespan(platform, sweep_every, write_process),
    )
    app.state.platform = platform
    platform.city.locator  # noqa: B018 - build the point index now, not on the first report

    @app.exception_handler(CityopsError)
    async def cityops_error(request: Request, exc: CityopsError) -> JSON:
        headers = {"Retry-After": "1"} if exc.status == 503 else None
        return JSON(exc.to_dict(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSON:
        message = _validation_message(exc)
        status = 400 if message.startswith("malformed JSON") else 422
        body: dict[str, Any] = {"error": "invalid_input", "message": message, "message_zh": "请求参数有误"}
        return JSON(body, status_code=status)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/echo", tags=["ops"], status_code=201)
    async def echo(request: Request, actor: ActorDep) -> JSON:
        """A trivial endpoint of the same stack: token check, body parsed (JSON, or a form
        as Open311 sends), nothing stored. The baseline the intake benchmarks compare against."""
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            fields = len(await form_items(request))
        else:
            try:
                fields = len(orjson.loads(await request.body()))
            except orjson.JSONDecodeError:
                raise InvalidInput("malformed JSON body", "JSON 格式错误") from None
        return JSON({"received": fields, "by": actor.name}, status_code=201)

    routers = (cases_router, open311_router, auth_router, catalogue_router, city_router, indicators_router,
               intel_router)
    add_routes(app, routers, first=INTAKE_ROUTES)
    app.add_middleware(BodyLimit)
    # Everything built so far (city pack, catalogue, routes) lives as long as the process:
    # keep it out of the garbage collector's scans, which otherwise pause requests.
    gc.collect()
    gc.freeze()
    # A helper thread (the in-process writer's COMMIT, a password check) hands its result back
    # through the GIL; with the default 5 ms switch interval it can wait that long while the
    # event loop holds the GIL.
    sys.setswitchinterval(0.0005)
    return app


def serve(platform: Platform, host: str, port: int) -> None:
    """Serve until stopped, as `cityops serve` and `cityops demo` do: writes in a write
    process of their own, overdue cases escalated every minute."""
    import uvicorn

    from cityops.core import calendar_warning, utcnow

    warning = calendar_warning(platform, utcnow())
    if warning:
        print(warning, file=sys.stderr)
    # On SIGTERM, requests still open get 30 s to finish before the server closes them.
    uvicorn.run(create_app(platform, sweep_every=60, write_process=True), host=host, port=port,
                log_level="warning", timeout_graceful_shutdown=30)
