"""The optional LLM back end (an OpenAI-compatible chat endpoint), against a tiny local HTTP
server in the test: its pick among the local top-k, time-outs and bad answers falling back."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from cityops.intel import llm


class Fake:
    """What the fake endpoint answers next, and what it was asked."""

    reply: str = "01037"
    status: int = 200
    delay_s: float = 0.0
    asked: list[dict[str, Any]] = []
    headers: list[str] = []


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Fake.asked.append(body)
        Fake.headers.append(self.headers.get("Authorization", ""))
        time.sleep(Fake.delay_s)
        out = json.dumps({"choices": [{"message": {"role": "assistant", "content": Fake.reply}}]}).encode()
        if self.path != "/v1/chat/completions":
            self.send_response(404)
            out = b"{}"
        else:
            self.send_response(Fake.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


@pytest.fixture
def fake() -> Iterator[type[Fake]]:
    Fake.reply, Fake.status, Fake.delay_s, Fake.asked, Fake.headers = "01037", 200, 0.0, [], []
    yield Fake


CANDIDATES = [("01037", "路灯"), ("06011", "积存垃圾渣土")]


def test_off_by_default() -> None:
    assert llm.config({}) is None
    cfg = llm.config({"CITYOPS_LLM_URL": "http://x/v1/", "CITYOPS_LLM_TIMEOUT": "oops"})
    assert cfg == llm.Config("http://x/v1", "default", "", 5.0)


def test_the_endpoint_picks_a_candidate(endpoint: str, fake: type[Fake]) -> None:
    cfg = llm.Config(endpoint, "qwen-local", "secret", 2.0)
    fake.reply = "答：06011"
    assert llm.choose(cfg, "小区垃圾没人清", CANDIDATES) == "06011"
    asked = fake.asked[-1]
    assert asked["model"] == "qwen-local" and "小区垃圾没人清" in asked["messages"][-1]["content"]
    assert "01037 路灯" in asked["messages"][-1]["content"] and fake.headers[-1] == "Bearer secret"


@pytest.mark.parametrize("trouble", ["not a candidate", "http error", "time-out", "refused"])
def test_any_failure_falls_back(endpoint: str, fake: type[Fake], trouble: str) -> None:
    cfg = llm.Config(endpoint, "m", "", 0.3)
    if trouble == "not a candidate":
        fake.reply = "99999 是最合适的"
    elif trouble == "http error":
        fake.status = 500
    elif trouble == "time-out":
        fake.delay_s = 1.0
    else:
        cfg = llm.Config("http://127.0.0.1:9/v1", "m", "", 0.3)  # discard port: nothing listens
    assert llm.choose(cfg, "路灯不亮", CANDIDATES) is None


def test_classify_takes_its_pick_with_the_local_confidence(endpoint: str, fake: type[Fake], platform: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from cityops.intel import service

    text = "江岸区中山大道路灯不亮了，晚上很黑"
    local = service.classify(platform, text)
    assert local["llm"] is None  # off by default
    monkeypatch.setenv("CITYOPS_LLM_URL", endpoint)
    monkeypatch.setenv("CITYOPS_LLM_MODEL", "city-llm")
    fake.reply = local["top_k"][1]["matter_code"]  # it disagrees: the second local choice
    out = service.classify(platform, text)
    assert out["matter_code"] == local["top_k"][1]["matter_code"]
    assert out["confidence"] == local["top_k"][1]["confidence"] < local["confidence"]
    assert out["llm"] == {"model": "city-llm", "matter_code": fake.reply, "fallback": False, "agreed": False}
    fake.status = 503
    out = service.classify(platform, text)
    assert out["matter_code"] == local["matter_code"] and out["llm"]["fallback"] is True
