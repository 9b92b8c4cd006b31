"""Users from a terminal: look-alike names collide; disable, enable, new password and removal
end the user's tokens at once (over HTTP too); `cases list|show` with names a person types."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from cityops.cli import main
from stores import new_db


def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=stdin)
    return result.exit_code, result.output


def test_user_lifecycle_revokes_tokens_at_once(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from cityops.api.app import create_app
    from cityops.core import open_platform

    db = new_db(tmp_path, "u.db")
    assert run("init", "--db", db)[0] == 0
    assert run("user", "create", "Alice", "--role", "acceptor", "--password-stdin", "--db", db,
               stdin="a-long-password\n")[0] == 0
    code, out = run("user", "create", "ＡＬＩＣＥ", "--role", "admin", "--password-stdin", "--db", db,
                    stdin="a-long-password\n")
    assert code == 2 and "already exists" in out, "a full-width look-alike is the same name"
    token = run("token", "ａｌｉｃｅ", "--db", db)[1].strip()
    platform = open_platform(db)
    try:
        with TestClient(create_app(platform)) as client:
            me = {"Authorization": f"Bearer {token}"}
            assert client.get("/api/v1/me", headers=me).json()["name"] == "alice"
            assert run("user", "disable", "alice", "--db", db)[0] == 0
            assert client.get("/api/v1/me", headers=me).status_code == 401
            assert run("token", "alice", "--db", db)[0] == 2, "no token for a disabled user"
            login = {"username": "alice", "password": "a-long-password"}
            assert client.post("/api/v1/auth/token", json=login).status_code == 401
            assert run("user", "enable", "alice", "--db", db)[0] == 0
            assert client.post("/api/v1/auth/token", json=login).status_code == 200
            token = run("token", "alice", "--db", db)[1].strip()
            code, out = run("user", "passwd", "alice", "--password-stdin", "--db", db, stdin="another-password\n")
            assert code == 0 and "revoked 2" in out, out
            assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
            assert client.post("/api/v1/auth/token", json=login).status_code == 401
            assert run("user", "remove", "alice", "--db", db)[0] == 0
            assert "alice" not in run("user", "list", "--db", db)[1]
            assert run("user", "remove", "alice", "--db", db)[0] == 2
    finally:
        platform.close()


def test_cases_list_and_show_take_names(tmp_path: Path) -> None:
    from cityops.auth.service import new_user
    from cityops.cases import service
    from cityops.cases.models import Actor, Role
    from cityops.core import open_platform, utcnow

    db = new_db(tmp_path, "c.db")
    platform = open_platform(db)
    actor = Actor("acc", Role.ACCEPTOR)
    points = [(114.3055, 30.5928, "暴露垃圾 rubbish"), (114.3055, 30.5928, "另一件"), (114.2, 30.45, "far away")]
    try:
        platform.store.write(lambda repo: repo.add_user(new_user("acc", "acceptor", None, "p-123456789", set()), utcnow()))
        made = []
        for lon, lat, text in points:
            report = service.NewReport(matter_code="06010", description=text, lon=lon, lat=lat, source="api")
            made.append(platform.store.write(lambda repo, r=report: service.intake(repo, platform, r, actor, utcnow())))
        jianghan = next(d for d in platform.city.districts if d.code == made[0].district)
    finally:
        platform.close()
    assert made[2].district != jianghan.code
    status_zh = {"reported": "待受理", "registered": "已立案待派遣"}[made[0].status]
    code, out = run("cases", "list", "--db", db, "--district", jianghan.name, "--status", status_zh)
    assert code == 0, out
    lines = out.splitlines()
    assert all(len(line) <= 100 for line in lines)
    assert "2 of 2 cases" in out and "暴露垃圾" in out, out
    assert run("cases", "list", "--db", db, "--district", jianghan.code)[1].count(jianghan.name) == 2
    assert "1 of 1" in run("cases", "list", "--db", db, "-q", "rubbish")[1]
    code, out = run("cases", "list", "--db", db, "--district", "nowhere")
    assert code == 2 and "未知的区" in out
    code, out = run("cases", "show", "1", "--db", db)
    assert code == 0 and "暴露垃圾" in out and "上报/Report" in out, out
    assert run("cases", "show", "99", "--db", db)[0] == 2
