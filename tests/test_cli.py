"""The `cityops` command: the interfaces operators and the checks use."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cityops.cli import main
from cityops.clitools import db_exists
from stores import missing_db, new_db


def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=stdin)
    return result.exit_code, result.output


def test_catalogue_export_csv_has_every_entry() -> None:
    code, out = run("catalogue", "export", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 404  # the standard's 403 and cityops's extension (10950 道路交通拥堵)
    assert {r["kind"] for r in rows} == {"component", "matter"}
    rubbish = next(r for r in rows if r["kind"] == "matter" and r["code"] == "06010")
    assert rubbish["name"] == "暴露垃圾" and rubbish["time_limit_A"] == "4 working_hours"
    assert rubbish["department"] == "sanitation"


def test_users_tokens_and_refusals(tmp_path: Path) -> None:
    db = new_db(tmp_path, "c.db")
    assert run("init", "--db", db)[0] == 0
    assert run("user", "create", "ann", "--role", "dispatcher", "--password-stdin", "--db", db,
               stdin="a-long-password\n")[0] == 0
    code, out = run("user", "create", "w1", "--role", "department", "--department", "WH-WATER",
                    "--password-stdin", "--db", db, stdin="a-long-password\n")
    assert code == 0, out
    code, out = run("token", "ann", "--db", db)
    assert code == 0 and out.strip().startswith("cot_")
    code, out = run("user", "create", "bob", "--role", "wizard", "--password-stdin", "--db", db,
                    stdin="a-long-password\n")
    assert code == 2 and "unknown role" in out
    code, out = run("user", "create", "w2", "--role", "department", "--password-stdin", "--db", db,
                    stdin="a-long-password\n")
    assert code == 2 and "--department" in out
    code, out = run("user", "create", "cat", "--role", "collector", "--password-stdin", "--db", db,
                    stdin="short\n")
    assert code == 2 and "at least" in out
    code, out = run("token", "nobody", "--db", db)
    assert code == 2 and "no user" in out
    code, out = run("user", "list", "--db", db)
    assert "ann\tdispatcher" in out and "w1\tdepartment\tWH-WATER" in out


@pytest.mark.timeout(300)
def test_demo_then_indicators_and_history(tmp_path: Path) -> None:
    db = new_db(tmp_path, "demo.db")
    code, out = run("demo", "--no-serve", "--db", db, "--reports", "300")
    assert code == 0, out
    assert "全市 city" in out and "综合评价" in out
    demo_out = out
    code, out = run("indicators", "--db", db, "--by", "district", "--format", "csv")
    assert code == 0
    assert out.startswith("\ufeff"), "a BOM, as the API's CSV has"
    rows = list(csv.DictReader(io.StringIO(out.removeprefix("\ufeff"))))
    city = next(r for r in rows if r["区 district"] == "city")
    # The 300 reports, and the cases the demo's gauges and traffic detectors opened.
    sensed = re.search(r"gauge_cases\s+(\d+).*traffic_cases_opened\s+(\d+)", demo_out, re.S)
    assert sensed is not None
    assert int(city["受理数 accepted"]) == 300 + int(sensed.group(1)) + int(sensed.group(2))
    assert 0 < float(city["结案率 close_rate"]) <= 1
    assert float(city["返工率 rework_rate"]) > 0  # some cases failed verification
    for by in ("department", "grid"):
        code, out = run("indicators", "--db", db, "--by", by, "--format", "table")
        assert code == 0 and "结案率" in out
    code, out = run("indicators", "--db", db, "--from", "2000-01-01", "--to", "2000-02-01", "--format", "csv")
    assert code == 0
    code, out = run("indicators", "--db", db, "--from", "yesterday")
    assert code == 2 and "not a date" in out
    code, out = run("history", "verify", "--db", db)
    assert code == 0 and "intact" in out
    code, out = run("cases", "sweep", "--db", db)
    assert code == 0 and "escalated" in out


def test_history_verify_on_a_missing_database(tmp_path: Path) -> None:
    code, out = run("history", "verify", "--db", missing_db(tmp_path, "none.db"))
    assert code != 0 and "no database" in out


def test_token_revoke_all(tmp_path: Path) -> None:
    db = new_db(tmp_path, "t.db")
    run("init", "--db", db)
    run("user", "create", "ann", "--role", "acceptor", "--password-stdin", "--db", db, stdin="a-long-password\n")
    run("token", "ann", "--db", db)
    run("token", "ann", "--db", db)
    code, out = run("token", "ann", "--revoke-all", "--db", db)
    assert code == 0 and "revoked 2 token(s) of ann" in out


def test_commands_refuse_a_database_that_does_not_exist(tmp_path: Path) -> None:
    """Only `demo` and `init` make a database: a user created in a new empty file could never
    log in to the server that runs on the real one (the docs once dropped `--db`). Every
    command of the tree that takes --db is tried, so a new one is covered the day it is added."""
    import click

    def leaves(group: click.Group, path: list[str]) -> list[tuple[list[str], click.Command]]:
        ctx = click.Context(group)
        out = []
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            if isinstance(cmd, click.Group):
                out += leaves(cmd, [*path, name])
            elif cmd is not None:
                out.append(([*path, name], cmd))
        return out

    db = missing_db(tmp_path, "typo.db")
    tried = 0
    for path, cmd in leaves(main, []):
        if path in (["demo"], ["init"], ["write-process"]) or "db" not in {p.name for p in cmd.params}:
            continue
        code, out = run(*path, "--db", db, stdin="a-long-password\n")
        assert code == 2, (path, out)
        assert f"no database at {db}" in out and "cityops init" in out and "数据库文件" in out, (path, out)
        tried += 1
    assert tried > 40 and not db_exists(db)
    code, out = run("init", "--db", db)
    assert code == 0 and "created" in out and db_exists(db)
    assert run("init", "--db", db)[1].count("already there") == 1
    assert run("apikey", "list", "--db", db)[0] == 0


def test_the_default_database_is_the_demos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cityops demo` and every later command without --db meet in one file, demo.db."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CITYOPS_DB", raising=False)
    code, out = run("user", "list")
    assert code == 2 and "no database at demo.db" in out
    assert run("init")[0] == 0 and (tmp_path / "demo.db").exists()
    assert run("user", "list")[0] == 0


def test_a_missing_data_file_says_where_such_data_comes_from(tmp_path: Path) -> None:
    """The README's commands that read ../shared/data, on a clone without it: the file is named
    and the README section that gives each file's public source is pointed at (and exists)."""
    db = new_db(tmp_path, "d.db")
    run("init", "--db", db)
    gone = str(tmp_path / "shared" / "data" / "x.csv")
    mapping = str(Path(__file__).resolve().parents[1] / "examples" / "mappings" / "nyc311.yaml")
    for args in (["import", gone, "--mapping", mapping, "--db", db], ["warnings", "ingest-cap", gone, "--db", db],
                 ["eval", "classify", "--data", gone], ["eval", "replies", "--data", gone]):
        code, out = run(*args)
        assert code == 2 and f"no file at {gone}" in out and "Data the repository does not carry" in out, out
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    assert "### Data the repository does not carry" in readme


def test_the_demo_does_not_contradict_itself(platform: Any) -> None:
    """A verification's note says what its result says, and `cases show` prints the result."""
    from cityops.cases.models import Actor, Role
    from cityops.core import utcnow
    from cityops.sim.demo import DayPlayer, demo_day

    actors = {n: Actor(n, Role(n)) for n in ("collector", "acceptor", "dispatcher", "verifier", "supervisor")}
    actors |= {f"dept-{d.code.lower()}": Actor(d.code, Role.DEPARTMENT, d.code) for d in platform.city.departments}
    now = utcnow()
    player = DayPlayer(platform, actors, demo_day(platform, now), now, seed=3)
    player.report(60)
    player.play()
    with platform.store.read() as repo:
        verified = [(c, e) for c in range(1, 61) for e in repo.history(c) if e.change.action == "verify"]
    assert {e.change.data["passed"] for _, e in verified} == {True, False}
    for _, e in verified:
        assert ("未整改" in e.change.reason) == (not e.change.data["passed"]), e.change
    case_id, entry = verified[0]
    code, out = run("cases", "show", str(case_id), "--db", str(platform.store.path))
    assert code == 0 and ("通过 passed" if entry.change.data["passed"] else "未通过 failed") in out, out


def test_the_demo_day_ends_now(platform: Any) -> None:
    """The simulated time runs from 08:00 of the last working day up to the moment the demo
    runs, so the dashboard's 今日 holds today's reports (it once played a day five days back)."""
    from datetime import timedelta

    from cityops.core import utcnow
    from cityops.sim.demo import DayPlayer, demo_day

    now = utcnow()
    start = demo_day(platform, now)
    local = start.astimezone(platform.calendar.zone)
    assert (local.hour, local.minute) == (8, 0) and platform.calendar.is_working_day(local.date())
    assert local.date() < now.astimezone(platform.calendar.zone).date()
    assert now - start < timedelta(days=12), "the last working day, not one further back"
    span = (now - start).total_seconds() / 60
    offsets = DayPlayer(platform, {}, start, now, seed=1).arrivals(5000)
    assert offsets.max() <= span and offsets.max() > span - 60, "reports arrive up to now"
    assert (offsets >= 0).all() and (offsets[1:] >= offsets[:-1]).all()
