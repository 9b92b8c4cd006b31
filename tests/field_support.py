"""A quick API over one database for the field tests: users share one password hash (argon2
per user makes the shared fixture slow on a loaded machine), tokens per role and department."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conftest import PASSWORD, ROLES, Api, add_users


@contextmanager
def quick_api(db: Path) -> Iterator[Api]:
    from fastapi.testclient import TestClient

    from cityops.api.app import create_app
    from cityops.auth.service import hash_password
    from cityops.core import open_platform
    from cityops.store.base import User

    platform = open_platform(db)
    digest = hash_password(PASSWORD)
    depts = sorted(d.code for d in platform.city.departments)
    users = [User(r, r, None, digest) for r in ROLES]
    users += [User(f"dept-{i}", "department", code, digest) for i, code in enumerate(depts)]

    tokens = add_users(platform, users)
    for i, code in enumerate(depts):
        tokens[code] = tokens[f"dept-{i}"]
    try:
        with TestClient(create_app(platform)) as client:
            yield Api(client, tokens, platform)
    finally:
        platform.close()


def walk(api: Api, cid: int, until: str) -> dict[str, Any]:
    """Take a case along the happy path up to `until` (without the verification)."""
    case: dict[str, Any] = api.get("admin", f"/api/v1/cases/{cid}").json()
    for target, who, action in (("registered", "acceptor", "register"), ("dispatched", "dispatcher", "dispatch"),
                                ("disposing", None, "accept"), ("reported_back", None, "report_back")):
        if case["status"] == until:
            break
        r = api.act(who or case["department"], cid, action)
        assert r.status_code == 200, r.text
        case = r.json()
        assert case["status"] == target
    return case


def site_photo(platform: Any, case_id: int) -> None:
    """Matters verified on site close only with a photo taken there (cityops.field): for tests
    of other features that close such cases through the case service."""
    from cityops.cases.models import Actor, Role
    from cityops.core import utcnow
    from cityops.field.attachments import attach_demo_photo

    verifier = Actor("verifier", Role.VERIFIER)
    platform.store.write(lambda repo: attach_demo_photo(repo, platform, case_id, verifier, utcnow()))
