"""/docs loads nothing from the internet; the OpenAPI document says how to authenticate and
what errors look like; unknown paths, bad input and conflicts answer in the project's format,
with Chinese that says what is wrong."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from stores import new_db


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from fastapi.testclient import TestClient

    from cityops.api.app import create_app
    from cityops.core import open_platform

    platform = open_platform(new_db(Path(tmp_path_factory.mktemp("docs")), "d.db"))
    with TestClient(create_app(platform)) as c:
        yield c
    platform.close()


def test_docs_page_loads_only_its_own_files(client: Any) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", page.text)
    assert urls and all(u.startswith("/") for u in urls), urls
    assert "://" not in page.text.replace("http://testserver", ""), "no CDN, no outside URL"
    for url in urls:
        r = client.get(url)
        assert r.status_code == 200 and len(r.content) > 100, url
    assert client.get("/docs/static/swagger-editor.js").status_code == 404


def test_openapi_declares_security_and_errors(client: Any) -> None:
    doc = client.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["open311ApiKey"]["name"] == "api_key"
    post = doc["paths"]["/api/v1/cases"]["post"]
    assert post["security"] == [{"bearerAuth": []}]
    for code in ("401", "403", "409", "422", "503"):
        assert post["responses"][code]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert doc["paths"]["/open311/v2/requests.{fmt}"]["post"]["security"] == [{"open311ApiKey": []}]
    assert doc["paths"]["/open311/v2/requests.{fmt}"]["get"]["security"] == []
    assert doc["paths"]["/api/v1/auth/token"]["post"]["security"] == []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert "security" in op, f"{method} {path} declares its security"


def test_unknown_paths_and_methods_answer_in_the_error_format(client: Any) -> None:
    r = client.get("/api/v1/no-such-thing")
    assert r.status_code == 404 and r.json()["error"] == "not_found" and "路径不存在" in r.json()["message_zh"]
    r = client.delete("/healthz")
    assert r.status_code == 405 and set(r.json()) == {"error", "message", "message_zh"}


def test_422_says_in_chinese_what_is_wrong(client: Any) -> None:
    r = client.post("/api/v1/auth/token", json={"username": "x" * 65})
    assert r.status_code == 422
    zh = r.json()["message_zh"]
    assert "username" in zh and "最多 64" in zh and "password" in zh and "缺少" in zh, zh
    r = client.post("/api/v1/auth/token", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["message_zh"]
