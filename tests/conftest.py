"""Shared fixtures: a platform over a temporary database, users and tokens, an API client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stores import new_db

# ../shared/data beside the checkout (development machines only). CITYOPS_TEST_SHARED_DATA
# points elsewhere, e.g. at a folder that does not exist, to run the suite as a fresh clone
# without it does: `CITYOPS_TEST_SHARED_DATA=/nowhere python -m pytest`.
SHARED_DATA = Path(os.environ.get("CITYOPS_TEST_SHARED_DATA")
                   or Path(__file__).resolve().parents[1].parent / "shared" / "data")


def _cheap_passwords() -> None:
    """Tests hash dozens of passwords per test (a user per role): Argon2id at the production
    cost takes a second each on a busy 2-core machine. In-process tests hash at the lowest
    cost instead (the hashes are still Argon2id, verified by the same code)."""
    from argon2 import PasswordHasher

    import cityops.auth.service as auth

    auth._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    auth._DUMMY = auth._hasher.hash("cityops-dummy-password")


_cheap_passwords()


def shared_file(relative: str) -> Path:
    """A file from ../shared/data, or skip the test saying which file is missing."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"{path} not present (../shared/data is only on development machines)")
    return path


@pytest.fixture(scope="session")
def demo_city() -> Any:
    from cityops.geo.wuhan import wuhan_demo_pack

    return wuhan_demo_pack()


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Any]:
    from cityops.core import open_platform

    p = open_platform(new_db(tmp_path))
    yield p
    p.close()


ROLES = ("collector", "acceptor", "dispatcher", "verifier", "supervisor", "admin")
PASSWORD = "test-password-1"


class Api:
    """A TestClient with a bearer token per role (and per department operator)."""

    def __init__(self, client: Any, tokens: dict[str, str], platform: Any) -> None:
        self.client = client
        self.tokens = tokens
        self.platform = platform

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, who: str, url: str, **kw: Any) -> Any:
        return self.client.get(url, headers=self.h(who), **kw)

    def post(self, who: str, url: str, **kw: Any) -> Any:
        return self.client.post(url, headers=self.h(who), **kw)

    def report(self, who: str = "collector", **body: Any) -> Any:
        payload = {"matter_code": "06010", "description": "暴露垃圾 / exposed rubbish",
                   "lon": 114.3055, "lat": 30.5928, **body}
        return self.post(who, "/api/v1/cases", json=payload)

    def act(self, who: str, case_id: int, action: str, **body: Any) -> Any:
        return self.post(who, f"/api/v1/cases/{case_id}/actions/{action}", json=body)


def add_users(platform: Any, users: list[Any]) -> dict[str, str]:
    """Store `users` (auth.service.new_user values) and return a fresh token for each, by name."""
    from cityops.auth.service import issue_token
    from cityops.core import utcnow

    def setup(repo: Any) -> dict[str, str]:
        for u in users:
            repo.add_user(u, utcnow())
        return {u.name: issue_token(repo, u.name, utcnow()) for u in users}

    return platform.store.write(setup)  # type: ignore[no-any-return]


@pytest.fixture
def api(platform: Any) -> Iterator[Api]:
    from fastapi.testclient import TestClient

    from cityops.api.app import create_app
    from cityops.auth.service import new_user

    known = {d.code for d in platform.city.departments}
    users = [new_user(r, r, None, PASSWORD, known) for r in ROLES]
    depts = sorted(known)
    users += [new_user(f"dept-{i}", "department", code, PASSWORD, known) for i, code in enumerate(depts)]

    tokens = add_users(platform, users)
    # Department tokens by department code too, for convenience.
    for i, code in enumerate(depts):
        tokens[code] = tokens[f"dept-{i}"]
    with TestClient(create_app(platform)) as client:
        yield Api(client, tokens, platform)


# The slowest files go first, so that on two workers they run beside the rest instead of
# after it (pytest-xdist hands out files in collection order).
SLOW_FIRST = ("test_readme.py", "test_readme_standalone.py", "test_web.py", "test_durability.py", "test_storm_demo.py", "test_field_web.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FIRST)))


def pytest_sessionstart(session: pytest.Session) -> None:
    """The PostgreSQL pass needs a PostgreSQL server; without one it says so and stops (the
    SQLite pass is the whole suite on the embedded store)."""
    from stores import PG_SERVER, POSTGRES

    if not POSTGRES or hasattr(session.config, "workerinput"):
        return
    try:
        import psycopg

        psycopg.connect(f"{PG_SERVER}/postgres", connect_timeout=5).close()
    except Exception as exc:  # noqa: BLE001 - any reason it cannot be reached
        pytest.exit(f"CITYOPS_TEST_STORE=postgresql but no PostgreSQL at {PG_SERVER} ({exc}); the PostgreSQL pass "
                    "is left out: start one (docs/postgresql.md) or set CITYOPS_TEST_PG", returncode=0)
