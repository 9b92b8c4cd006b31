"""The server's write process: operations cross to it and back, errors keep their meaning,
and a write process that dies fails its callers clearly and is started again."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from cityops.cases import service
from cityops.cases.models import Actor, Role
from cityops.core import Platform, utcnow
from cityops.errors import InvalidInput
from cityops.store.base import CaseQuery
from cityops.store.process import WriterUnavailable
from stores import new_db

COLLECTOR = Actor("collector-1", Role.COLLECTOR)


def report(**changes: Any) -> service.NewReport:
    fields: dict[str, Any] = {"matter_code": "06010", "description": "暴露垃圾 / exposed rubbish",
                              "lon": 114.3055, "lat": 30.5928, "source": "test"}
    return service.NewReport(**{**fields, **changes})


def run(platform: Platform, main: Any) -> Any:
    async def wrapped() -> Any:
        await platform.start_write_process()
        try:
            return await main()
        finally:
            await platform.stop_write_process()

    return asyncio.run(wrapped())


def test_writes_run_in_the_write_process_and_are_stored(platform: Platform) -> None:
    async def main() -> list[Any]:
        assert platform.write_process is not None
        child = platform.write_process._proc
        assert child is not None and child.pid != os.getpid()
        return list(await asyncio.gather(*(
            platform.awrite(service.intake, report(description=f"burst {i}"), COLLECTOR, utcnow())
            for i in range(40))))

    cases = run(platform, main)
    assert sorted(c.id for c in cases) == list(range(1, 41))
    with platform.store.read() as repo:
        stored = {c.id: c.description for c in repo.search_cases(CaseQuery(limit=100))[0]}
    assert stored == {c.id: c.description for c in cases}
    assert platform.write_process is None  # stopped with the server


def test_a_refusal_crosses_with_both_languages_and_writes_nothing(platform: Platform) -> None:
    async def main() -> None:
        with pytest.raises(InvalidInput) as err:
            await platform.awrite(service.intake, report(matter_code="99999"), COLLECTOR, utcnow())
        assert err.value.status == 422
        assert "99999" in err.value.message_en and "管理事项代码" in err.value.message_zh
        # Its neighbour in the same batch is unaffected.
        ok, bad = await asyncio.gather(
            platform.awrite(service.intake, report(), COLLECTOR, utcnow()),
            platform.awrite(service.intake, report(lon=0.0, lat=0.0), COLLECTOR, utcnow()),
            return_exceptions=True)
        assert ok.id == 1 and isinstance(bad, InvalidInput)

    run(platform, main)
    with platform.store.read() as repo:
        assert repo.search_cases(CaseQuery())[1] == 1


def test_an_argument_that_cannot_cross_fails_its_caller(platform: Platform) -> None:
    async def main() -> None:
        with pytest.raises(Exception, match="pickle|lambda"):
            await platform.awrite(service.intake, report(attributes={"f": lambda: 1}), COLLECTOR, utcnow())
        assert (await platform.awrite(service.intake, report(), COLLECTOR, utcnow())).id == 1

    run(platform, main)


def test_a_dead_write_process_fails_its_callers_then_is_started_again(platform: Platform) -> None:
    async def main() -> None:
        writer = platform.write_process
        assert writer is not None and writer._proc is not None
        waiting: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        writer._waiting[-1] = waiting  # a write sent but not yet answered
        os.kill(writer._proc.pid, signal.SIGKILL)
        with pytest.raises(WriterUnavailable) as err:
            await asyncio.wait_for(waiting, timeout=10)
        assert err.value.status == 503
        first = writer._proc.pid
        case = await platform.awrite(service.intake, report(), COLLECTOR, utcnow())
        assert case.id == 1 and writer._proc.pid != first

    run(platform, main)


def test_the_write_process_exits_when_its_server_is_gone(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    from cityops.core import open_platform

    db = new_db(tmp_path, "w.db")  # one database (on PostgreSQL each call makes a new one)
    open_platform(db).close()
    ours, theirs = socket.socketpair()
    child = subprocess.Popen([sys.executable, "-m", "cityops", "write-process", "--db", db,
                              str(theirs.fileno())], pass_fds=(theirs.fileno(),))
    theirs.close()
    assert ours.recv(64)  # "ready"
    ours.close()  # as when the server is killed with -9
    assert child.wait(timeout=30) == 0


class _Stubborn(Exception):
    def __init__(self, a: int, b: int) -> None:  # pickle cannot rebuild it from args
        super().__init__(f"{a}/{b}")


def test_an_error_that_cannot_cross_arrives_as_its_text() -> None:
    import pickle

    from cityops.store.process import HEADER, _answer

    raw = _answer([7, 8], [(False, _Stubborn(1, 2)), (True, 42)])
    (seq, ok, err), second = pickle.loads(raw[HEADER:])
    assert (seq, ok) == (7, False) and isinstance(err, RuntimeError) and "_Stubborn" in str(err)
    assert second == (8, True, 42)


def test_a_write_process_that_cannot_start_is_a_503() -> None:
    import sys

    from cityops.store.process import ProcessWriter

    async def main() -> None:
        writer = ProcessWriter([sys.executable, "-c", "import sys; sys.exit(3)"])
        with pytest.raises(WriterUnavailable) as err:
            await writer.run(service.intake, report(), COLLECTOR, utcnow())
        assert err.value.status == 503 and "did not start" in err.value.message_en
        await writer.close()

    asyncio.run(main())
