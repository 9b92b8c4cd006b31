"""Security headers on every response (docs/operations.md, "Browser security").

The pages run only the scripts this server ships: no inline script, no script from elsewhere,
no page may frame them. Text from citizens and staff is escaped where it meets HTML (the
pages' `esc()` / textContent, Python's `html.escape`); the policy is the second wall, so that
a sink missed some day still runs nothing.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# style-src needs 'unsafe-inline': ECharts' tooltips and MapLibre's markers write style
# attributes, and the citizens' pages carry one small <style>. Scripts never do.
_DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data: blob:",  # photos as blob: URLs (fetched with the token), data: icons
    "worker-src": "'self'",  # MapLibre's worker (/static/vendor), the phone page's service worker
    "connect-src": "'self' data:",  # MapLibre fetches the rasters the page draws as data: URLs
    "font-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def policy(**overrides: str) -> str:
    """The Content-Security-Policy, with some directives replaced (e.g. a page's script hash)."""
    return "; ".join(f"{k} {v}" for k, v in {**_DIRECTIVES, **{k.replace("_", "-"): v for k, v in overrides.items()}}.items())


CSP = policy()
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers that predate it
    # The citizens' pages carry their token in the URL (/n/<token>, /r/<token>): never pass it on.
    (b"referrer-policy", b"no-referrer"),
)
_REST = HEADERS[1:]  # for a response with a policy of its own
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)


def inline_script_hashes(page: bytes) -> str:
    """The CSP sources allowing exactly the inline scripts of a fixed page ('sha256-…' each):
    for a third-party page (Swagger UI's) whose start-up script we do not write."""
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s).digest()).decode()}'"
                    for s in _INLINE_SCRIPT.findall(page))


class SecurityHeaders:
    """Adds HEADERS to every HTTP response; a response with a policy of its own (/docs) keeps
    it. Plain ASGI, so streams (SSE) pass through untouched; about 5 µs a request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = message.get("headers") or ()
                own = any(k.lower() == b"content-security-policy" for k, _ in raw)
                message = {**message, "headers": [*raw, *(_REST if own else HEADERS)]}
            await send(message)

        await self.app(scope, receive, with_headers)
