"""HTTP: the subset of CKAN's Action API that the `ckanapi` client and CKAN harvesters call.

GET with query parameters or POST with a JSON (or form) body, as CKAN takes both; answers in
CKAN's envelope {help, success, result} or {help, success: false, error: {__type, message}}.
Public and read-only, like a CKAN portal's anonymous reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson
from fastapi import Request

from cityops.api.deps import PlatformDep
from cityops.api.responses import JSON
from cityops.api.routing import feature_router
from cityops.core import Platform
from cityops.data import catalogue, ckan, service
from cityops.errors import CityopsError, InvalidInput, NotFound

router = feature_router("/api/3/action", "ckan")
unversioned = feature_router("/api/action", "ckan")  # where `ckanapi` calls: CKAN serves both
Args = dict[str, Any]


def _int(args: Args, name: str, default: int, top: int) -> int:
    raw = args.get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be an integer, got {raw!r}", f"{name} 应为整数") from None
    if value < 0:
        raise InvalidInput(f"{name} must not be negative", f"{name} 不能为负数")
    return min(value, top)


def _id(args: Args) -> str:
    value = args.get("id") or args.get("name")
    if not value:
        raise InvalidInput("missing id: give id (or name)", "缺少 id")
    return str(value)


def _orgs(conn: Any) -> dict[str, tuple[str, int]]:
    """Organization name -> (provider, resources)."""
    out: dict[str, tuple[str, int]] = {}
    for provider, code, n in catalogue.providers(conn):
        name = ckan.slug(code, "org") if code else ckan.slug(provider, "org")
        title, count = out.get(name, (provider, 0))
        out[name] = (title, count + n)
    return out


def _groups(conn: Any) -> dict[str, tuple[str, int]]:
    return {ckan.slug(theme, "group"): (theme, n) for theme, n in catalogue.themes(conn)}


def _package(conn: Any, ident: str, base: str) -> dict[str, Any]:
    found = catalogue.get(conn, ident)
    if found is None:  # by CKAN name (the code's slug)
        row = conn.execute("SELECT code FROM data_resource WHERE lower(code) = ?", (ident.lower(),)).fetchone()
        found = catalogue.get(conn, row[0]) if row else None
    if found is None and ident.startswith("ds-"):  # the hashed name of a code that is not a CKAN name
        code = next((c for (c,) in conn.execute("SELECT code FROM data_resource") if ckan.slug(c, "ds") == ident), None)
        found = catalogue.get(conn, code) if code else None
    if found is None:
        raise NotFound(f"package {ident} not found", f"数据集 {ident} 不存在")
    return ckan.package(found, base)


def package_list(conn: Any, args: Args, base: str) -> Any:
    limit = _int(args, "limit", 1_000_000, 1_000_000)
    return [ckan.slug(c, "ds") for c in catalogue.codes(conn, limit, _int(args, "offset", 0, 10**9))]


def package_show(conn: Any, args: Args, base: str) -> Any:
    return _package(conn, _id(args), base)


def package_search(conn: Any, args: Args, base: str) -> Any:
    text = str(args.get("q") or "")
    text = "" if text.strip() in ("*:*", "*") else text.replace("text:", "")
    rows, start = _int(args, "rows", 10, ckan.MAX_ROWS), _int(args, "start", 0, 10**9)
    q = ckan.parse_fq(str(args.get("fq") or ""), catalogue.Query(text, limit=rows, offset=start))
    orgs, groups = _orgs(conn), _groups(conn)

    def names(table: dict[str, tuple[str, int]], given: Any) -> Any:  # CKAN names -> provider/theme names
        if given is None:
            return None
        if isinstance(given, tuple):
            return tuple(table.get(g, (g, 0))[0] for g in given)
        return table.get(given, (given, 0))[0]

    q = replace(q, provider=names(orgs, q.provider), theme=names(groups, q.theme),
                not_provider=names(orgs, q.not_provider), not_theme=names(groups, q.not_theme))
    found, total = catalogue.search(conn, q) if rows else ([], catalogue.search(conn, replace(q, limit=1))[1])
    return {"count": total, "results": [ckan.package(r, base) for r in found], "sort": "score desc, name asc",
            "facets": {}, "search_facets": {}}


def current_package_list_with_resources(conn: Any, args: Args, base: str) -> Any:
    limit, offset = _int(args, "limit", 100, ckan.MAX_ROWS), _int(args, "offset", 0, 10**9)
    rows = conn.execute("SELECT * FROM data_resource ORDER BY modified DESC, code LIMIT ? OFFSET ?", (limit, offset))
    return [ckan.package(catalogue.from_row(r), base) for r in rows]


def resource_show(conn: Any, args: Args, base: str) -> Any:
    ident = _id(args)
    found = catalogue.get(conn, ident.removesuffix("-data"))
    if found is None or not ident.endswith("-data"):
        raise NotFound(f"resource {ident} not found", f"资源 {ident} 不存在")
    return ckan.resource_dict(found, base)


def _listing(table: dict[str, tuple[str, int]], make: Callable[..., dict[str, Any]], args: Args) -> Any:
    all_fields = str(args.get("all_fields", "false")).lower() in ("true", "1")
    names = sorted(table)
    names = names[_int(args, "offset", 0, 10**9):][: _int(args, "limit", 1000, 1000)]
    if not all_fields:
        return names
    return [make(n, *table[n]) for n in names]


def _org(name: str, title: str, n: int) -> dict[str, Any]:
    return ckan.organization(name, title, n)


def _grp(name: str, title: str, n: int) -> dict[str, Any]:
    return ckan.group(title, n)


def organization_list(conn: Any, args: Args, base: str) -> Any:
    return _listing(_orgs(conn), _org, args)


def group_list(conn: Any, args: Args, base: str) -> Any:
    return _listing(_groups(conn), _grp, args)


def _show(table: dict[str, tuple[str, int]], make: Callable[..., dict[str, Any]], field: str, conn: Any,
          args: Args, base: str) -> Any:
    ident = _id(args)
    if ident not in table:
        raise NotFound(f"{field} {ident} not found", f"{'组织' if field == 'organization' else '分组'} {ident} 不存在")
    out = make(ident, *table[ident])
    if str(args.get("include_datasets", "false")).lower() in ("true", "1"):
        title = table[ident][0]
        q = catalogue.Query(limit=ckan.MAX_ROWS)
        q = replace(q, provider=title) if field == "organization" else replace(q, theme=title)
        found, _ = catalogue.search(conn, q)
        out["packages"] = [ckan.package(r, base) for r in found]
    return out


def organization_show(conn: Any, args: Args, base: str) -> Any:
    return _show(_orgs(conn), _org, "organization", conn, args, base)


def group_show(conn: Any, args: Args, base: str) -> Any:
    return _show(_groups(conn), _grp, "group", conn, args, base)


def status_show(conn: Any, args: Args, base: str) -> Any:
    return {"ckan_version": ckan.CKAN_VERSION, "site_url": base.rstrip("/"), "site_title": "cityops 数据资源目录",
            "site_description": "城市运行数据资源目录（一本账）/ cityops data-resource catalogue",
            "locale_default": "zh_Hans_CN", "error_emails_to": None, "extensions": ["cityops"]}


ACTIONS: dict[str, Callable[[Any, Args, str], Any]] = {f.__name__: f for f in (
    package_list, package_show, package_search, current_package_list_with_resources, resource_show,
    organization_list, organization_show, group_list, group_show, status_show)}
_TYPES = {404: "Not Found Error", 409: "Validation Error", 422: "Validation Error", 400: "Bad request"}


def _run(platform: Platform, action: str, args: Args, base: str) -> Any:
    with platform.store.read() as repo:
        return ACTIONS[action](repo.conn, args, base)


async def _args(request: Request) -> Args:
    args: Args = dict(request.query_params)
    if request.method == "POST":
        body = await request.body()
        if body.strip():
            if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                args.update((await request.form()).items())
            else:
                try:
                    loaded = orjson.loads(body)
                except orjson.JSONDecodeError:
                    raise InvalidInput("malformed JSON body", "JSON 格式错误") from None
                if not isinstance(loaded, dict):
                    raise InvalidInput("the body must be a JSON object of the action's parameters",
                                       "请求体应为 JSON 对象")
                args.update(loaded)
    return args


@router.api_route("/{action}", methods=["GET", "POST"])
async def action(action: str, request: Request, platform: PlatformDep) -> JSON:
    """CKAN Action API (subset): package_list, package_search, package_show, resource_show,
    current_package_list_with_resources, organization_list/show, group_list/show, status_show."""
    base = str(request.base_url)
    help_url = f"{base}api/3/action/help_show?name={action}"
    try:
        if action not in ACTIONS:
            return JSON({"help": help_url, "success": False,
                         "error": {"__type": "Bad request - Action name not known",
                                   "message": f"Action name not known: {action}; this server answers "
                                              f"{', '.join(sorted(ACTIONS))}"}}, status_code=400)
        args = await _args(request)
        await service.ensure_described(platform)
        result = await asyncio.to_thread(_run, platform, action, args, base)
    except CityopsError as exc:
        status = 409 if exc.status == 422 else exc.status
        return JSON({"help": help_url, "success": False,
                     "error": {"__type": _TYPES.get(exc.status, "Error"), "message": exc.message_en,
                               "message_zh": exc.message_zh}}, status_code=status)
    return JSON({"help": help_url, "success": True, "result": result})


unversioned.api_route("/{action}", methods=["GET", "POST"], include_in_schema=False)(action)
