"""No request holds up the event loop (issue 18, item 2): reads whose cost grows with the
data (SensorThings queries and expansions, the Open311 search) run in worker threads, so
one costly request never keeps /healthz or anyone else waiting. Single-row lookups by key
(a token, a setting) stay on the loop on purpose: a thread hop costs more than they do."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sensing_support import SensingApi, sensing_api


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SensingApi]:
    yield from sensing_api(tmp_path_factory.mktemp("loop"))


def _on_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _watch(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, seen: list[bool]) -> None:
    real: Callable[..., Any] = getattr(module, name)

    def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append(_on_loop())
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, watched)


def test_costly_reads_run_off_the_event_loop(api: SensingApi, monkeypatch: pytest.MonkeyPatch) -> None:
    from cityops.intake.open311 import service
    from cityops.sensing import staread

    seen: list[bool] = []
    for module, name in ((staread, "query"), (staread, "_children"), (staread, "resolve"), (service, "search")):
        _watch(monkeypatch, module, name, seen)
    c = api.client
    assert c.get("/sta/v1.1/Datastreams", params={"$top": "5", "$expand": "Observations,Thing"}).status_code == 200
    assert c.get(f"/sta/v1.1/Datastreams({api.gauges[0]})/Thing").status_code == 200
    assert c.get("/open311/v2/requests.json").status_code == 200
    assert len(seen) >= 6 and not any(seen), seen
