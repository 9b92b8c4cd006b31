"""Several writers on one database at once (two servers' write processes, here two stores in
one test): case ids never given twice, every history chain intact, an idempotency key makes one
case however many servers race on it, and concurrent actions on one case never both land on the
same version. On PostgreSQL this is the several-servers guarantee; on SQLite, the file lock's."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from cityops.cases.models import Actor, Role
from cityops.cases.service import NewReport, act, intake, verify_all
from cityops.cases.workflow import Action, Command
from cityops.core import open_platform, utcnow
from cityops.errors import CityopsError, StorageUnavailable
from cityops.store.sqlite import SqliteRepo
from stores import POSTGRES, new_db

ADMIN = Actor("admin", Role.ADMIN)


def test_two_stores_writing_at_once_keep_every_guarantee(tmp_path: Path) -> None:
    db = new_db(tmp_path, "race.db")
    a, b = open_platform(db), open_platform(db)
    made: list[int] = []
    by_key: dict[str, set[int]] = {}
    refused: list[str] = []
    lock = threading.Lock()

    def report(platform: Any, n: int, key: str | None) -> None:
        rep = NewReport("06010", f"r{n}", 114.3055, 30.5928, idempotency_key=key)
        try:
            case = platform.store.write(lambda repo: intake(repo, platform, rep, ADMIN, utcnow()))
        except CityopsError as exc:  # the idempotency race: 409, the retry finds the case
            with lock:
                refused.append(exc.code)
            case = platform.store.write(lambda repo: intake(repo, platform, rep, ADMIN, utcnow()))
        with lock:
            made.append(case.id)
            if key:
                by_key.setdefault(key, set()).add(case.id)

    def worker(platform: Any, start: int) -> None:
        for n in range(start, start + 30):
            report(platform, n, f"shared-{n % 5}" if n % 3 == 0 else None)

    threads = [threading.Thread(target=worker, args=(p, s)) for p, s in ((a, 0), (b, 1000), (a, 2000), (b, 3000))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    with a.store.read() as repo:
        ids = [r[0] for r in repo.conn.execute("SELECT id FROM cases ORDER BY id")]
        keys = repo.conn.execute("SELECT key, case_id FROM idempotency").fetchall()
        assert not verify_all(repo)
    assert len(ids) == len(set(ids)) and set(ids) == set(made)  # every acknowledged case stored once
    # Every request with one key, from whichever store, got that key's one case.
    assert {k: {c} for k, c in keys} == by_key and len(by_key) == 5

    # Two servers registering the same case at once: one wins, the other is told to reload.
    target = made[0]
    outcomes: list[str] = []

    def register(platform: Any) -> None:
        cmd = Command(Action.REGISTER, ADMIN, utcnow())
        try:
            platform.store.write(lambda repo: act(repo, platform, target, cmd))
            outcomes.append("ok")
        except CityopsError as exc:
            outcomes.append(exc.code)

    racers = [threading.Thread(target=register, args=(p,)) for p in (a, b, a, b)]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    assert outcomes.count("ok") == 1, outcomes
    with b.store.read() as repo:
        assert not verify_all(repo)
        assert repo.get_case(target).history_count == 2  # type: ignore[union-attr]
    a.close()
    b.close()


def test_a_batch_of_a_megacitys_datastreams_takes_a_bounded_number_of_locks(tmp_path: Path) -> None:
    """One advisory lock per datastream overflowed PostgreSQL's lock table at 14,000 datastreams
    in one transaction ("out of shared memory"); they are taken by stripe."""
    from cityops.store.sqlite import LOCK_STRIPES

    p = open_platform(new_db(tmp_path))
    try:
        def lock_many(repo: Any) -> int:
            repo.lock("datastream", list(range(1, 20_001)))
            if not repo.dialect.postgres:
                return 0
            return int(repo.conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                         " AND pid = pg_backend_pid()").fetchone()[0])

        held = p.store.write(lock_many)
        assert held <= LOCK_STRIPES
    finally:
        p.close()


@pytest.mark.skipif(not POSTGRES, reason="SQLite has one writer: no locks between servers")
def test_two_gateways_datastreams_do_not_wait_for_each_other(tmp_path: Path) -> None:
    """Datastreams registered together (a gateway's block of ids) share lock stripes, so a
    second server storing another gateway's block does not wait; the same block waits."""
    from cityops.store.sqlite import LOCK_BLOCK

    p = open_platform(new_db(tmp_path))
    a, b = p.store.connect(), p.store.connect()
    try:
        a.execute("BEGIN")
        SqliteRepo(a).lock("datastream", list(range(4 * LOCK_BLOCK)))  # a gateway's 256 datastreams
        b.execute("BEGIN")
        b.execute("SET LOCAL lock_timeout = '200ms'")
        SqliteRepo(b).lock("datastream", list(range(4 * LOCK_BLOCK, 8 * LOCK_BLOCK)))  # the next 256: at once
        with pytest.raises(Exception, match="lock timeout|canceling statement"):
            SqliteRepo(b).lock("datastream", [LOCK_BLOCK - 1])
        b.execute("ROLLBACK")
        a.execute("ROLLBACK")
    finally:
        a.close()
        b.close()
        p.close()


@pytest.mark.skipif(not POSTGRES, reason="a deadlock between two servers' transactions is PostgreSQL's (SQLite has one writer)")
def test_a_deadlock_with_another_server_is_a_503_to_retry_and_stores_nothing(tmp_path: Path) -> None:
    platform = open_platform(new_db(tmp_path, "deadlock.db"))
    c1, c2 = (platform.store.write(lambda repo, n=n: intake(
        repo, platform, NewReport("06010", f"r{n}", 114.3055, 30.5928), ADMIN, utcnow()).id) for n in (1, 2))
    other = platform.store.connect()  # another server's write process
    other.execute("SET deadlock_timeout = '10s'")  # so that this store's write is the one PostgreSQL undoes
    other.execute("BEGIN")
    other.execute("UPDATE cases SET report_count = report_count + 1 WHERE id = ?", (c2,))
    holding = threading.Event()

    def both(repo: Any) -> None:
        repo.conn.execute("SET LOCAL deadlock_timeout = '100ms'")
        repo.conn.execute("UPDATE cases SET report_count = report_count + 1 WHERE id = ?", (c1,))
        holding.set()
        repo.conn.execute("UPDATE cases SET report_count = report_count + 1 WHERE id = ?", (c2,))

    def other_wants_c1() -> None:
        holding.wait(10)
        other.execute("UPDATE cases SET report_count = report_count + 1 WHERE id = ?", (c1,))
        other.execute("COMMIT")

    t = threading.Thread(target=other_wants_c1)
    t.start()
    with pytest.raises(StorageUnavailable) as refused:
        platform.store.write(both)
    t.join(10)
    assert refused.value.status == 503 and "retry" in str(refused.value)
    assert "其他写入占用" in refused.value.to_dict()["message_zh"]
    with platform.store.read() as repo:  # the other server's write stands; nothing of this one
        assert [repo.get_case(c).report_count for c in (c1, c2)] == [2, 2]  # type: ignore[union-attr]
    other.close()
    platform.store.close()
