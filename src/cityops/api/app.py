"""The HTTP application: assembles every feature's router, errors and limits."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityops import __version__
from cityops.api.deps import ActorDep
from cityops.api.failures import OneLineErrors, one_line
from cityops.api.forms import form_items
from cityops.api.headers import SecurityHeaders
from cityops.api.openapi import install as install_docs
from cityops.api.responses import JSON
from cityops.api.routing import add_routes
from cityops.core import Platform
from cityops.errors import CityopsError, InvalidInput
from cityops.store.writer import storage_error

_HTTP_ZH = {404: ("not_found", "不存在"), 405: ("method_not_allowed", "不支持此方法")}
MAX_BODY = 1_000_000  # bytes; a case report is a few KB
# Routes that take batches: a gateway's batch of readings is megabytes.
BODY_LIMITS = {"/api/v1/observations": 64_000_000, "/sta/v1.1/CreateObservations": 64_000_000,
               "/api/v1/data/resources/import": 32_000_000,  # a catalogue sheet of ~100,000 entries
               "/api/v1/cases/actions": 4_000_000}  # 500 workflow steps, each reason up to 2,000 characters
MAX_UPLOAD_BODY = 12 * 1024 * 1024  # a multipart photo upload (cityops.field: 10 MB a photo)
UPLOAD_PATHS = ("/attachments", "/requests.json", "/requests.xml")
MAX_VIDEO_BODY = 52 * 1024 * 1024  # a case attachment may be a short video (cityops.field.videos: 50 MB)
LARGE_JSON_PATHS = ("/drone/detections",)  # a flight's boxes with base64 evidence frames
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
        headers = dict(scope["headers"])
        limit = BODY_LIMITS.get(scope["path"], self.limit)
        if (headers.get(b"content-type", b"").startswith(b"multipart/form-data")
                and scope["path"].endswith(UPLOAD_PATHS)) or scope["path"].endswith(LARGE_JSON_PATHS):
            limit = max(limit, MAX_VIDEO_BODY if scope["path"].endswith("/attachments") else MAX_UPLOAD_BODY)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit, send)
            return
        seen, over = 0, False

        async def limited() -> Message:
            nonlocal seen, over
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
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
            await _too_large(limit, send)


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


def _status(request: Request, status: int) -> int:
    """SensorThings (OGC 18-088) answers a malformed request or body with 400 Bad Request, where
    the rest of cityops says 422 (invalid input): the standard's clients and test suites expect it."""
    return 400 if status == 422 and request.url.path.startswith("/sta/") else status


def _json_kind(value: Any) -> tuple[str, str]:
    """What a decoded JSON document is, in English and Chinese (for "send an object, not …")."""
    kinds = {type(None): ("null", "null"), bool: ("a boolean", "布尔值"), int: ("a number", "数字"),
             float: ("a number", "数字"), str: ("a string", "字符串"), list: ("an array", "数组")}
    return kinds.get(type(value), ("an object", "对象"))


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return "malformed JSON body: " + str(err.get("ctx", {}).get("error", "cannot parse"))
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg')}")
    return "; ".join(parts)


# Pydantic's error types, said in Chinese ({…} from the error's context).
_ZH = {
    "missing": "缺少此项", "string_type": "应为文本", "int_type": "应为整数", "int_parsing": "应为整数",
    "int_from_float": "应为整数", "float_type": "应为数字", "float_parsing": "应为数字",
    "bool_type": "应为 true 或 false", "bool_parsing": "应为 true 或 false", "dict_type": "应为 JSON 对象",
    "model_type": "应为 JSON 对象", "model_attributes_type": "应为 JSON 对象", "list_type": "应为数组",
    "string_too_long": "过长，最多 {max_length} 个字符", "string_too_short": "过短，至少 {min_length} 个字符",
    "too_long": "过长，最多 {max_length} 项", "too_short": "过短，至少 {min_length} 项",
    "greater_than": "应大于 {gt}", "greater_than_equal": "应不小于 {ge}", "less_than": "应小于 {lt}",
    "less_than_equal": "应不大于 {le}", "string_pattern_mismatch": "格式不符（{pattern}）",
    "enum": "应为以下之一：{expected}", "literal_error": "应为以下之一：{expected}",
    "datetime_parsing": "应为带时区的 ISO 8601 时间，例如 2026-11-27T09:00:00+08:00",
    "datetime_from_date_parsing": "应为带时区的 ISO 8601 时间，例如 2026-11-27T09:00:00+08:00",
    "datetime_type": "应为带时区的 ISO 8601 时间", "finite_number": "应为有限数字",
    "extra_forbidden": "不接受此项", "json_type": "应为 JSON", "value_error": "取值无效",
    "string_unicode": "应为 UTF-8 文本", "uuid_parsing": "应为 UUID",
}
_PLACE_ZH = {"body": "请求体", "query": "查询参数", "path": "路径参数", "header": "请求头"}


def validation_message_zh(exc: RequestValidationError) -> str:
    """What is wrong, in Chinese: which field (and where) and why, e.g.
    "请求体 lat：应不大于 90"; not only 请求参数有误."""
    parts = []
    for err in exc.errors():
        kind = str(err.get("type", ""))
        if kind == "json_invalid":
            return "JSON 格式错误，无法解析请求体"
        loc = [str(p) for p in err.get("loc", ())]
        place = _PLACE_ZH.get(loc[0], "") if loc else ""
        field = ".".join(p for p in loc[1:] if p) if place else ".".join(loc)
        try:
            why = _ZH[kind].format(**err.get("ctx", {}))
        except KeyError:
            why = f"取值无效（{err.get('msg')}）"
        parts.append(f"{place}{' ' if place and field else ''}{field}：{why}" if field or place else why)
    return "；".join(parts) or "请求参数有误"


def _lifespan(platform: Platform, sweep_every: float | None, write_process: bool) -> Any:
    """While serving: the write process, if asked for, and, on the one server of several that
    leads (leader.py), the once-only jobs (leader_jobs.py): every `sweep_every` seconds the escalation
    (督办) of overdue cases and the removal of expired tokens, and the notification sender."""
    from cityops.auth.tokencache import CredentialCache
    from cityops.auth.tokencache import listen as listen_for_auth_changes
    from cityops.auth.tokencache import stop as stop_listening
    from cityops.intel.service import warm as intel_warm
    from cityops.leader import Leadership, lead
    from cityops.leader_jobs import once_only_jobs

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from cityops.sensing.mqtt import start_bridge
        from cityops.stream.service import start_stream

        if write_process and platform.write_process is None:  # (api/boot.py may have started it already)
            await platform.start_write_process()
        bridge = await start_bridge(platform, app)  # only when the setting names a broker
        tokens = None
        if sweep_every and platform.store.dialect.postgres:  # SQLite's lookup is local: no cache
            app.state.token_cache = CredentialCache()
            tokens = asyncio.create_task(listen_for_auth_changes(app.state.token_cache, str(platform.store.path)))
        leading = None
        if sweep_every:
            app.state.leadership = platform.leadership = Leadership(str(platform.store.path))
            leading = asyncio.create_task(lead(app.state.leadership, lambda: once_only_jobs(platform, sweep_every)))
        # The stream: every server consumes readings; only the leader publishes (stream.service.is_publisher).
        streamer = await start_stream(platform) if sweep_every else None  # only when a sink is set
        # The classifier's model and sentence encoder load in the background (~0.2 s, and the
        # encoder's first text ~1 s), so that the first report to classify does not wait for them.
        warming = asyncio.create_task(asyncio.to_thread(intel_warm, platform)) if sweep_every else None
        app.state.warming = warming  # /readyz says not ready until it is done
        try:
            yield
        finally:
            if bridge is not None:
                await bridge.stop()
            await stop_listening(tokens)
            if streamer is not None:
                await streamer.stop()
            if warming is not None:  # a thread cannot be cancelled: let it finish before the store closes
                await warming
            if leading is not None:
                leading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await leading
            await platform.stop_write_process()

    return lifespan


def create_app(platform: Platform, sweep_every: float | None = None, write_process: bool = False) -> FastAPI:
    """The application over `platform`. `cityops serve` asks for a write process (writes off
    the event loop) and a sweep every minute; tests in one process use neither."""
    from cityops.auth.views import router as auth_router
    from cityops.cases.views import router as cases_router
    from cityops.catalog.views import router as catalogue_router
    from cityops.data.routers import routers as data_routers
    from cityops.evaluate.views import router as indicators_router
    from cityops.field.pwa import router as pwa_router
    from cityops.field.views import router as field_router
    from cityops.geo.views import router as city_router
    from cityops.intake.open311.views import router as open311_router
    from cityops.intel.views import router as intel_router
    from cityops.notify.open311 import router as open311_citizens
    from cityops.notify.views import pages as citizen_pages
    from cityops.notify.views import router as citizens_router
    from cityops.sensing.sta import router as sta_router
    from cityops.sensing.views import router as sensing_router
    from cityops.warning.views import feeds as cap_feeds
    from cityops.warning.views import router as warnings_router
    from cityops.web.views import router as web_router

    app = FastAPI(
        title="cityops API",
        version=__version__,
        description="城市运行一网统管 — cases, catalogue, city, indicators. "
        "Authenticate with POST /api/v1/auth/token, then send 'Authorization: Bearer <token>'.",
        default_response_class=JSON,
        docs_url=None,  # served from the bundled Swagger UI below, not a CDN
        redoc_url=None,
        lifespan=_lifespan(platform, sweep_every, write_process),
    )
    app.state.platform = platform
    platform.city.locator  # noqa: B018 - build the point index now, not on the first report

    @app.exception_handler(CityopsError)
    async def cityops_error(request: Request, exc: CityopsError) -> JSON:
        retry = getattr(exc, "retry_after", 1)
        headers = {"Retry-After": str(retry)} if exc.status in (429, 503) else None
        return JSON(exc.to_dict(), status_code=_status(request, exc.status), headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSON:
        # Never a plain-text 500: a storage fault is a 503 to retry; anything else is logged.
        mapped = storage_error(exc)
        if isinstance(mapped, CityopsError):
            return JSON(mapped.to_dict(), status_code=mapped.status, headers={"Retry-After": "1"})
        # Only what an outer middleware raises gets here (OneLineErrors takes the rest).
        logging.getLogger("cityops").error("%s", one_line(request.method, request.url.path, exc))
        return JSON({"error": "internal", "message": "internal error; the server log has the details",
                     "message_zh": "服务器内部错误，详情见服务日志"}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSON:
        message = _validation_message(exc)
        status = _status(request, 400 if message.startswith("malformed JSON") else 422)
        body: dict[str, Any] = {"error": "invalid_input", "message": message,
                                "message_zh": validation_message_zh(exc)}
        return JSON(body, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSON:
        # Unknown paths and methods answer in the project's error format, not FastAPI's.
        code, zh = _HTTP_ZH.get(exc.status_code, ("http_error", "请求无法处理"))
        if exc.status_code == 404:
            message = f"no such path: {request.url.path}"
            zh = f"路径不存在：{request.url.path}（接口列表见 /docs）"
        elif exc.status_code == 405:
            message = f"method {request.method} not allowed on {request.url.path}"
            zh = f"{request.url.path} 不支持 {request.method} 方法"
        else:
            message = str(exc.detail)
        return JSON({"error": code, "message": message, "message_zh": zh}, status_code=exc.status_code,
                    headers=getattr(exc, "headers", None))

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """Alive (the process answers); says nothing about writes: see /readyz."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSON:
        """Ready: 200 when a write can succeed now (write process up, database writable), else
        503 with the reason (docs/operations.md)."""
        from cityops.api.ready import readiness

        ok, body = await readiness(platform, getattr(app.state, "leadership", None), getattr(app.state, "warming", None))
        return JSON(body, status_code=200 if ok else 503, headers=None if ok else {"Retry-After": "1"})

    @app.post("/api/v1/echo", tags=["ops"], status_code=201)
    async def echo(request: Request, actor: ActorDep) -> JSON:
        """A trivial endpoint of the same stack: token check, body parsed (JSON, or a form
        as Open311 sends), nothing stored. The baseline the intake benchmarks compare against."""
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            fields = len(await form_items(request))
        else:
            try:
                body = orjson.loads(await request.body())
            except orjson.JSONDecodeError:
                raise InvalidInput("malformed JSON body", "JSON 格式错误") from None
            if not isinstance(body, dict):
                en, zh = _json_kind(body)
                raise InvalidInput(f"send a JSON object, not {en}", f"请求体应为 JSON 对象，而不是{zh}")
            fields = len(body)
        return JSON({"received": fields, "by": actor.name}, status_code=201)

    routers = (
        cases_router, open311_router, auth_router, catalogue_router, city_router, indicators_router,
        citizens_router, citizen_pages, open311_citizens,
        warnings_router, cap_feeds,
        sensing_router, sta_router,
        web_router,
        field_router, pwa_router,
        intel_router,
        *data_routers,
    )
    add_routes(app, routers, first=INTAKE_ROUTES)
    install_docs(app)
    app.add_middleware(BodyLimit)
    # Security headers outside everything, Starlette's own error page included: every response.
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: SecurityHeaders(build())  # type: ignore[method-assign]

    app.add_middleware(OneLineErrors)  # a failing request: a 500 and one log line, not a traceback
    # Everything built so far (city pack, catalogue, routes) lives as long as the process:
    # keep it out of the garbage collector's scans, which otherwise pause requests.
    gc.collect()
    gc.freeze()
    # A helper thread (the in-process writer's COMMIT, a password check) hands its result back
    # through the GIL; with the default 5 ms switch interval it can wait that long while the
    # event loop holds the GIL.
    sys.setswitchinterval(0.0005)
    return app


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def serve(platform: Platform, host: str, port: int) -> None:
    """Serve until stopped, as `cityops serve` and `cityops demo` do: writes in a write
    process of their own, overdue cases escalated every minute."""
    import uvicorn

    from cityops.core import calendar_warning, utcnow
    from cityops.sensing.mqtt import SERVE_PORT_ENV

    warning = calendar_warning(platform, utcnow())
    if warning:
        print(warning, file=sys.stderr)
    # On SIGTERM, requests still open get 30 s to finish before the server closes them. Uvicorn
    # re-raises the signal once it has shut down; this handler makes that a normal exit
    # (status 0, the caller's `finally` closes the store and checkpoints the WAL), as it does
    # for a SIGTERM that comes before the server is up.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    # proxy_headers off: uvicorn would believe X-Forwarded-For from 127.0.0.1 by default; the
    # app alone decides whom to believe (cityops.security.proxies, security.trusted_proxies).
    os.environ[SERVE_PORT_ENV] = str(port)  # the MQTT client id: this server's, the same after a restart
    uvicorn.run(create_app(platform, sweep_every=60, write_process=True), host=host, port=port,
                log_level="warning", timeout_graceful_shutdown=30, proxy_headers=False)
