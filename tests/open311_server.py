"""A real `cityops serve` over a temporary database, with Open311 keys and an admin token."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from stores import new_db

REPO = Path(__file__).resolve().parents[1]
WUHAN = (114.3055, 30.5928)  # Jianghan, inside the demo city


def cityops(db: Path, *args: str, stdin: str | None = None) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run([sys.executable, "-m", "cityops", *args, "--db", str(db)], input=stdin,
                         capture_output=True, text=True, env=env, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"cityops {' '.join(args)} failed: {out.stderr}")
    return out.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _setup(db: Path) -> tuple[str, str, str]:
    """Two Open311 keys and an admin's token, stored in-process (what `cityops apikey create`,
    `user create` and `token` do, without starting four interpreters)."""
    from cityops.auth.service import new_user
    from cityops.core import open_platform, utcnow
    from cityops.intake.open311.keys import new_key
    from conftest import add_users

    platform = open_platform(db)
    try:
        key, citizen = new_key("citizen-app", "report", utcnow())
        office, back = new_key("back-office", "backoffice", utcnow())
        platform.store.write(lambda repo: (repo.add_api_key(citizen), repo.add_api_key(back)))
        known = {d.code for d in platform.city.departments}
        admin = add_users(platform, [new_user("admin", "admin", None, "admin-password-1", known)])["admin"]
    finally:
        platform.close()
    return key, office, admin


@dataclass
class Server:
    url: str  # …/open311/v2
    root: str
    db: Path
    key: str  # a citizen app's key
    office: str  # a back office's key (may POST servicerequestupdates)
    admin: str  # bearer token for the core API

    def core(self, method: str, path: str, **kw: object) -> httpx.Response:
        return httpx.request(method, self.root + path, headers={"Authorization": f"Bearer {self.admin}"},
                             timeout=30, **kw)  # type: ignore[arg-type]


@contextmanager
def running(tmp: Path, rate: str = "1000", burst: str | None = None) -> Iterator[Server]:
    db = new_db(tmp, "open311.db")
    key, office, admin = _setup(db)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "CITYOPS_OPEN311_RATE": rate,
           **({"CITYOPS_OPEN311_BURST": burst} if burst else {})}
    proc = subprocess.Popen([sys.executable, "-m", "cityops", "serve", "--db", str(db), "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a busy 2-core machine starts slowly
        while True:
            try:
                if httpx.get(root + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("cityops serve did not start: " + (proc.stderr.read().decode() if proc.stderr else ""))
            time.sleep(0.2)
        yield Server(root + "/open311/v2", root, db, key, office, admin)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
