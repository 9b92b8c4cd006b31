"""Form bodies. A url-encoded form (what Open311 clients send) is parsed straight from the
bytes: the multipart parser Starlette uses for every form costs several times more."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from cityops.errors import InvalidInput


async def form_items(request: Request) -> list[tuple[str, str]]:
    """The (name, value) pairs of a form body, in order; file parts are ignored."""
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        try:
            text = (await request.body()).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("form body is not UTF-8", "表单不是 UTF-8 编码") from None
        return parse_qsl(text, keep_blank_values=True)
    form = await request.form()
    return [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
