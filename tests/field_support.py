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


@contextmanager
def s3_server() -> Iterator[dict[str, str]]:
    """A real S3-compatible server (moto's) on 127.0.0.1 with an empty bucket, for as long as
    the block runs: the environment `cityops.field.blobs.S3Config.from_env` reads. (moto keeps
    its buckets per process, not per server: each block gets a bucket of its own.)"""
    import secrets

    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        env = {"CITYOPS_S3_ENDPOINT_URL": f"http://{host}:{port}", "CITYOPS_S3_BUCKET": f"cityops-{secrets.token_hex(6)}",
               "CITYOPS_S3_REGION": "us-east-1", "CITYOPS_S3_PREFIX": "wuhan/attachments",
               "CITYOPS_S3_ACCESS_KEY_ID": "test-key", "CITYOPS_S3_SECRET_ACCESS_KEY": "test-secret"}
        boto3.client("s3", endpoint_url=env["CITYOPS_S3_ENDPOINT_URL"], region_name="us-east-1",
                     aws_access_key_id="test-key", aws_secret_access_key="test-secret",
                     ).create_bucket(Bucket=env["CITYOPS_S3_BUCKET"])
        yield env
    finally:
        server.stop()


@contextmanager
def blob_store(kind: str) -> Iterator[dict[str, str]]:
    """The server's environment set for a blob store: `directory` (the default) or `s3` (a
    local S3 server started and stopped here)."""
    import pytest

    with pytest.MonkeyPatch.context() as mp:
        if kind == "directory":
            mp.delenv("CITYOPS_BLOB_STORE", raising=False)
            yield {}
            return
        with s3_server() as env:
            for key, value in {**env, "CITYOPS_BLOB_STORE": "s3"}.items():
                mp.setenv(key, value)
            yield env
