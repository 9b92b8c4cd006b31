"""Every response carries the security headers (cityops.api.headers): pages, static files,
API answers and every kind of error; the policy allows no inline script anywhere, and /docs
allows exactly Swagger UI's start-up script by its hash. (tests/test_xss_browser.py renders
hostile text through every page in Chromium under this policy.)"""

from __future__ import annotations

import re
from typing import Any

import pytest

from conftest import Api

PAGES = ["/", "/m/", "/docs", "/n/no-such-token", "/r/no-such-token", "/n/no-such-token/unsubscribe"]
OTHERS = ["/static/app.js", "/m/app.js", "/api/v1/dashboard/layers", "/openapi.json", "/healthz",
          "/api/v1/cases", "/no/such/path", "/docs/static/swagger-ui.css"]


def directives(csp: str) -> dict[str, str]:
    return {d.split(" ", 1)[0]: d.split(" ", 1)[1] if " " in d else "" for d in (p.strip() for p in csp.split(";")) if d}


def assert_secure(r: Any) -> dict[str, str]:
    h = r.headers
    assert h.get("x-content-type-options") == "nosniff", (r.url, dict(h))
    assert h.get("referrer-policy") == "no-referrer", r.url
    csp = directives(h.get("content-security-policy", ""))
    assert csp.get("frame-ancestors") == "'none'", (r.url, csp)
    script = csp.get("script-src", "")
    assert script.startswith("'self'") and "unsafe-inline" not in script and "unsafe-eval" not in script, (r.url, script)
    assert csp.get("object-src") == "'none'" and csp.get("base-uri") == "'none'", r.url
    return csp


@pytest.mark.parametrize("path", PAGES + OTHERS)
def test_every_response_carries_the_headers(api: Api, path: str) -> None:
    r = api.client.get(path)
    assert r.status_code < 500, r.text
    if path in PAGES:
        assert r.headers["content-type"].startswith("text/html"), path
    csp = assert_secure(r)
    if path != "/docs":
        assert csp["script-src"] == "'self'", path


def test_errors_and_writes_carry_the_headers_too(api: Api) -> None:
    assert_secure(api.client.post("/api/v1/auth/token", json={"username": "x", "password": "y"}))  # 401
    assert_secure(api.client.put("/healthz"))  # 405
    assert_secure(api.client.post("/api/v1/cases", content=b"x" * 2_000_000,
                                  headers={"content-type": "application/json"}))  # 413
    assert_secure(api.report(lat=500))  # 422
    assert_secure(api.report())  # 201
    assert_secure(api.client.post("/r/no-such-token", data={"solved": "yes"}))  # the citizens' form


def test_an_unexpected_error_still_carries_the_headers(platform: Any) -> None:
    from fastapi.testclient import TestClient

    from cityops.api.app import create_app

    app = create_app(platform)

    def boom() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/boom", boom)

    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/boom")
    assert r.status_code == 500
    assert_secure(r)


def test_docs_allows_exactly_its_own_inline_script(api: Api) -> None:
    import base64
    import hashlib

    r = api.client.get("/docs")
    scripts = re.findall(r"<script>(.*?)</script>", r.text, re.S)
    assert len(scripts) == 1  # Swagger UI's start-up
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert directives(r.headers["content-security-policy"])["script-src"] == f"'self' 'sha256-{digest}'"


def test_served_pages_hold_no_inline_script_or_handler() -> None:
    """The policy forbids them, so they would silently not run: keep them in the .js files."""
    from cityops.field import pwa
    from cityops.web import views

    for page in (views.STATIC / "index.html", pwa.STATIC / "index.html"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), page
        assert not re.search(r"\son[a-z]+\s*=", text, re.I), page
        assert "javascript:" not in text.lower(), page
