"""A failing request answers in the JSON error format and logs one line, not a traceback;
malformed bodies (wrong JSON shape, deep XML) are 4xx. The route-wide class check of JSON
bodies is tests/test_api_classes.py::test_no_json_body_of_the_wrong_shape_gets_a_5xx."""

from __future__ import annotations

import logging
from typing import Any

import pytest


def _deep(n: int) -> int:
    return _deep(n + 1)  # a RecursionError: the traceback is a thousand frames long


@pytest.fixture
def failing(api: Any) -> Any:
    def boom() -> None:
        _deep(0)

    api.client.app.add_api_route("/api/v1/test-boom", boom, methods=["GET"])
    return api


def test_a_failing_request_logs_one_line(failing: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="cityops"):
        r = failing.client.get("/api/v1/test-boom")
    assert r.status_code == 500
    assert r.json()["error"] == "internal" and r.json()["message_zh"]
    records = [rec for rec in caplog.records if rec.levelno >= logging.INFO]
    assert len(records) == 1, [rec.getMessage()[:200] for rec in records]
    line = records[0].getMessage()
    assert line.startswith("GET /api/v1/test-boom: RecursionError") or "RecursionError" in line, line
    assert "\n" not in line and len(line) < 600 and records[0].exc_info is None


def test_the_traceback_is_there_at_debug(failing: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="cityops"):
        assert failing.client.get("/api/v1/test-boom").status_code == 500
    assert any(rec.exc_info for rec in caplog.records if rec.levelno == logging.DEBUG)


@pytest.mark.parametrize("body", [b"null", b"5", b"[1, 2]", b'"x"'])
def test_echo_wants_an_object(api: Any, body: bytes) -> None:
    r = api.client.post("/api/v1/echo", content=body,
                        headers={**api.h("admin"), "content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert "JSON object" in r.json()["message"] and r.json()["message_zh"]


def test_deeply_nested_xml_is_refused(api: Any) -> None:
    deep = b"<alert>" * 10_000 + b"</alert>" * 10_000
    r = api.client.post("/api/v1/warnings/incoming", content=deep,
                        headers={**api.h("admin"), "content-type": "application/xml"})
    assert r.status_code == 422, r.text
    assert "nested deeper" in r.json()["message"]
    # Shallow but malformed stays what it was: kept with its reason, not accepted.
    r = api.client.post("/api/v1/warnings/incoming", content=b"<a><b></a>",
                        headers={**api.h("admin"), "content-type": "application/xml"})
    assert r.status_code < 500 and r.json()["accepted"] is False
