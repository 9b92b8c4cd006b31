"""An unexpected error answers 500 in the JSON error format and logs one line.

Starlette's exception handler for `Exception` runs in its outermost middleware and then
re-raises, so the server logged every failing request's whole traceback (a 122 KB one for a
deep recursion). This middleware sits inside it and ends the failure there: one ERROR line
with the method, the path, the error's class and message; the traceback only at DEBUG
(`logging.getLogger("cityops").setLevel(logging.DEBUG)` to see it).
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityops.api.responses import JSON
from cityops.errors import CityopsError
from cityops.store.writer import storage_error

log = logging.getLogger("cityops.api")
MAX_MESSAGE = 300  # characters of the error's message in the log line


def one_line(method: str, path: str, exc: BaseException) -> str:
    """`POST /api/v1/x: ValueError: what it said` (the message cut short, on one line)."""
    said = " ".join(str(exc).split())
    if len(said) > MAX_MESSAGE:
        said = said[:MAX_MESSAGE] + "…"
    return f"{method} {path}: {type(exc).__module__}.{type(exc).__qualname__}: {said}"


class OneLineErrors:
    """Turn an exception no handler took into a 500 (a storage fault: a 503 to retry)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            mapped = storage_error(exc)
            if isinstance(mapped, CityopsError):
                response = JSON(mapped.to_dict(), status_code=mapped.status, headers={"Retry-After": "1"})
            else:
                log.error("%s", one_line(scope.get("method", ""), scope.get("path", ""), exc))
                log.debug("traceback of the error above", exc_info=exc)
                response = JSON({"error": "internal", "message": "internal error; the server log has the details",
                                 "message_zh": "服务器内部错误，详情见服务日志"}, status_code=500)
            if not started:  # a response already under way cannot be replaced: it is cut short
                await response(scope, receive, send)
