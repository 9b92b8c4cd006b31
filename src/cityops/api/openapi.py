"""The API's own documentation: Swagger UI from a bundled copy (no CDN: it must load on a
government network without the internet), and an OpenAPI document that declares how to
authenticate and what errors look like.

Security is derived from the routes, so a new endpoint is described the day it is added:
a route that depends on `cityops.api.deps.actor` (ActorDep) needs the bearer token; an
Open311 POST needs its `api_key`; every other route is public.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

from cityops.api import deps
from cityops.api.headers import inline_script_hashes, policy
from cityops.errors import NotFound

STATIC_PREFIX = "/docs/static"
# The files the page loads, from the `swagger-ui-py` package (Swagger UI 5, Apache-2.0).
STATIC_FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
                "favicon-32x32.png": "image/png", "LICENSE": "text/plain"}
BEARER = "bearerAuth"
API_KEY = "open311ApiKey"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message", "message_zh"],
    "properties": {
        "error": {"type": "string", "description": "machine-readable code, e.g. invalid_input"},
        "message": {"type": "string", "description": "English"},
        "message_zh": {"type": "string", "description": "简体中文"},
    },
}
_ERRORS = {
    "401": "令牌缺失、无效、过期或用户已停用 / missing, invalid or expired token, or the user is disabled",
    "403": "角色或单位无权访问 / your role or department may not do this",
    "404": "不存在 / not found",
    "409": "案卷状态不允许此操作，或已被他人修改 / the case's state does not allow this, or it changed meanwhile",
    "413": "请求体过大 / request body too large",
    "422": "参数有误（说明哪个字段、为什么） / invalid input, naming the field and why",
    "429": "请求过于频繁，见 Retry-After / too many requests; see Retry-After",
    "503": "暂时无法写入，见 Retry-After，稍后重试 / cannot write now; retry after Retry-After seconds",
}


def static_dir() -> Path:
    return Path(str(resources.files("swagger_ui") / "static"))


def needs_token(dependant: Dependant) -> bool:
    return any(d.call is deps.actor or needs_token(d) for d in dependant.dependencies)


def _error_responses(method: str, authenticated: bool, path: str) -> dict[str, Any]:
    codes = ["404", "422"]
    if authenticated:
        codes += ["401", "403"]
    if method in ("post", "put", "patch", "delete"):
        codes += ["409", "413", "503"]
    if path.endswith("/auth/token"):
        codes += ["401", "429"]
    ref = {"$ref": "#/components/schemas/Error"}
    return {c: {"description": _ERRORS[c], "content": {"application/json": {"schema": ref}}}
            for c in sorted(set(codes))}


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus security schemes, per-operation security and error answers."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    components["securitySchemes"] = {
        BEARER: {"type": "http", "scheme": "bearer",
                 "description": "POST /api/v1/auth/token or `cityops token NAME`; 令牌"},
        API_KEY: {"type": "apiKey", "in": "query", "name": "api_key",
                  "description": "Open311 API key (`cityops apikey create NAME`); may also be a form field"},
    }
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        authenticated = needs_token(route.dependant)
        for method in route.methods or ():
            op = doc["paths"].get(route.path_format, {}).get(method.lower())
            if op is None:
                continue
            if authenticated:
                op["security"] = [{BEARER: []}]
            elif route.path.startswith("/open311/") and method == "POST":
                op["security"] = [{API_KEY: []}]
            else:
                op["security"] = []  # public
            if route.path.startswith("/open311/"):
                op.setdefault("responses", {}).update({
                    c: {"description": d + " (Open311: an array of {code, description})"}
                    for c, d in _ERRORS.items() if c in ("403", "404", "429", "503")})
                op["responses"]["400"] = {"description": "参数有误 / bad request (Open311 error array)"}
                continue
            responses = op.setdefault("responses", {})
            for code, value in _error_responses(method.lower(), authenticated, route.path).items():
                responses[code] = value  # replaces FastAPI's HTTPValidationError shape: ours is Error
    doc.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
    doc.get("components", {}).get("schemas", {}).pop("ValidationError", None)
    app.openapi_schema = doc
    return doc


def install(app: FastAPI) -> None:
    """/docs from the bundled Swagger UI, /openapi.json with security and errors."""
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]

    page = bytes(get_swagger_ui_html(
        openapi_url="/openapi.json", title=f"{app.title} — 接口文档 / docs",
        swagger_js_url=f"{STATIC_PREFIX}/swagger-ui-bundle.js",
        swagger_css_url=f"{STATIC_PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{STATIC_PREFIX}/favicon-32x32.png",
        swagger_ui_parameters={"persistAuthorization": True},
    ).body)
    # Swagger UI starts from an inline script: the page's policy allows that script by its hash.
    csp = policy(script_src="'self' " + inline_script_hashes(page))

    async def docs_page(request: Request) -> HTMLResponse:
        return HTMLResponse(page, headers={"content-security-policy": csp})

    async def static(name: str) -> Response:
        if name not in STATIC_FILES:
            raise NotFound(f"no file '{name}'", f"文件 {name} 不存在")
        return FileResponse(static_dir() / name, media_type=STATIC_FILES[name],
                            headers={"cache-control": "public, max-age=86400"})

    app.add_api_route("/docs", docs_page, methods=["GET"], include_in_schema=False)
    app.add_api_route(STATIC_PREFIX + "/{name}", static, methods=["GET"], include_in_schema=False)
