"""`cityops serve` answers from its first second: bind, say "alive", then build the application.

Why: importing the features, opening the city (its point index) and starting the write process
take several seconds; a supervisor or load balancer that sees no answer for that long takes the
process for dead. `Booting` is a tiny ASGI application, importable without the rest of cityops:
it answers `GET /healthz` (alive) at once, `GET /readyz` and every other request with 503 and
Retry-After while the real application is built in a thread and its lifespan (the write process,
the leader's jobs) started; from then on it hands every request to that application, whose own
`/readyz` says whether a write can succeed (see api/ready.py).

`--workers N` runs N such processes on one port (uvicorn's supervisor binds the socket and
spawns them), each with its own write process; the database serialises their writers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

ENV_DB = "CITYOPS_SERVE_DB"  # how the workers spawned by uvicorn learn what to serve
ENV_CITY = "CITYOPS_SERVE_CITY"
ENV_PORT = "CITYOPS_SERVE_PORT"  # the port served: part of each worker's MQTT client id (sensing/mqtt.py)
log = logging.getLogger("cityops")

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


def _json(status: int, body: dict[str, Any], retry: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    data = json.dumps(body, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
               (b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]
    if retry:
        headers.append((b"retry-after", b"1"))
    return ({"type": "http.response.start", "status": status, "headers": headers},
            {"type": "http.response.body", "body": data})


STARTING = {"status": "starting", "error": "starting",
            "message": "the server is starting; retry in a moment",
            "message_zh": "服务正在启动，请稍后重试"}


class Booting:
    """The ASGI application uvicorn serves: alive at once, the real one once it is built."""

    def __init__(self, db: str, city: str | None = None) -> None:
        self.db, self.city = db, city
        self.app: Any = None  # the FastAPI application, once its lifespan has started
        self.failure: BaseException | None = None
        self.on_fail: Callable[[], None] = _stop_this_process
        self.started_at = time.monotonic()
        self._platform: Any = None
        self._stack = contextlib.AsyncExitStack()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif self.app is not None:
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            if scope["path"] == "/healthz":
                head, body = _json(200, {"status": "ok", "ready": False})
            else:  # /readyz and everything else: not yet
                head, body = _json(503, STARTING, retry=True)
            await send(head)
            await send(body)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1013})  # try again later

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup: answer at once, build in the background
        # The write process loads its own platform (seconds): started now, beside the build.
        # Not with --city: it must find the city that the build is about to remember.
        writer = asyncio.create_task(self._start_writer()) if self.city is None else None
        self._task = asyncio.create_task(self._boot(writer))
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        self._stopping = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task  # a thread cannot be cancelled: let the build finish
        try:
            await self._stack.aclose()  # the real application's lifespan: write process, jobs
        finally:
            if self._platform is not None:
                await asyncio.to_thread(self._platform.close)
        await send({"type": "lifespan.shutdown.complete"})

    async def _start_writer(self) -> Any:
        from cityops.store.process import ProcessWriter

        writer = ProcessWriter([sys.executable, "-m", "cityops", "write-process", "--db", self.db])
        await writer.start()
        return writer

    async def _boot(self, writer_starting: asyncio.Task[Any] | None) -> None:
        try:
            app = await asyncio.to_thread(self._build)
            writer = None
            if writer_starting is not None:
                try:
                    writer = await writer_starting
                except Exception as exc:  # noqa: BLE001 - the application's lifespan tries again, and says why
                    log.warning("the write process did not start beside the build: %s", exc)
            if self._stopping:
                if writer is not None:
                    await writer.close()
                return
            app.state.platform.write_process = writer  # the lifespan starts one if this is None
            await self._stack.enter_async_context(app.router.lifespan_context(app))
            self.app = app
            platform = app.state.platform
            print(f"ready in {time.monotonic() - self.started_at:.1f} s: {platform.city.name} / "
                  f"{platform.city.name_en} / 已就绪", flush=True)
        except Exception as exc:  # noqa: BLE001 - the process cannot serve: say why and stop
            self.failure = exc
            log.error("cityops serve could not start: %s", exc)
            self.on_fail()

    def _build(self) -> Any:
        """The heavy part, off the event loop: imports, the city, the application."""
        from cityops.api.app import create_app
        from cityops.core import calendar_warning, open_platform, utcnow

        self._platform = platform = open_platform(self.db, self.city)
        warning = calendar_warning(platform, utcnow())
        if warning:
            print(warning, file=sys.stderr)
        return create_app(platform, sweep_every=60, write_process=True)


def from_env() -> Booting:
    """The factory uvicorn's workers call (`--workers N`): what to serve comes from the environment."""
    return Booting(os.environ[ENV_DB], os.environ.get(ENV_CITY) or None)


def _stop_this_process() -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn shuts down; a worker's supervisor starts another


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def serve(db: str, city: str | None, host: str, port: int, workers: int = 1) -> None:
    """Serve until stopped. On SIGTERM, open requests get 30 s to finish; uvicorn re-raises the
    signal once it has shut down, and `_exit_cleanly` makes that a normal exit (status 0)."""
    import uvicorn

    signal.signal(signal.SIGTERM, _exit_cleanly)
    # proxy_headers off: uvicorn would believe X-Forwarded-For from 127.0.0.1 by default; the
    # app alone decides whom to believe (cityops.security.proxies, security.trusted_proxies).
    options: dict[str, Any] = {"host": host, "port": port, "log_level": "warning", "lifespan": "on",
                               "timeout_graceful_shutdown": 30, "proxy_headers": False}
    os.environ[ENV_PORT] = str(port)
    if workers > 1:
        os.environ[ENV_DB] = db
        if city:
            os.environ[ENV_CITY] = city
        uvicorn.run("cityops.api.boot:from_env", factory=True, workers=workers, **options)
        return
    booting = Booting(db, city)
    server = uvicorn.Server(uvicorn.Config(booting, **options))
    booting.on_fail = lambda: setattr(server, "should_exit", True)
    server.run()
    if booting.failure is not None:
        raise booting.failure
