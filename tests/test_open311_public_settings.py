"""`cityops open311 public show|set`: the city's choice of what the anonymous Open311 feed
shows, validated (bilingual errors, nothing written) and honoured by the renderer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from cityops.cases.models import Case, Status
from cityops.cli import main
from cityops.intake.open311 import mapping, public
from stores import new_db


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_show_set_and_refuse(tmp_path: Path) -> None:
    db = new_db(tmp_path, "t.db")
    assert run("init", "--db", db)[0] == 0
    code, out = run("open311", "public", "show", "--db", db)
    assert code == 0
    assert json.loads(out) == {"channels": None, "text_channels": ["open311"], "fields": sorted(public.TEXT_FIELDS)}
    code, out = run("open311", "public", "set", "--channels", "citizen_app,open311", "--fields", "description,address",
                    "--db", db)
    assert code == 0, out
    want = {"channels": ["citizen_app", "open311"], "text_channels": ["open311"], "fields": ["address", "description"]}
    assert json.loads(out) == want
    code, out = run("open311", "public", "show", "--db", db)
    assert json.loads(out) == want
    for bad, zh in ((["--channels", "mars,open311"], "未知渠道"), (["--text-channels", "x"], "未知渠道"),
                    (["--fields", "phone"], "未知字段")):
        code, out = run("open311", "public", "set", *bad, "--db", db)
        assert code == 2 and zh in out and "unknown" in out, out
        assert json.loads(run("open311", "public", "show", "--db", db)[1]) == want, "nothing written"
    code, out = run("open311", "public", "set", "--channels", "all", "--text-channels", "open311,citizen_app", "--db", db)
    assert code == 0 and json.loads(out)["channels"] is None
    assert json.loads(out)["text_channels"] == ["citizen_app", "open311"] and json.loads(out)["fields"] == want["fields"]


def test_fields_narrow_what_text_channels_publish() -> None:
    case = Case(id=1, status=Status.REPORTED, source="open311", matter_code="06010", description="路边垃圾",
                lon=114.3, lat=30.5, district="420102", grid="g", area_class="A",
                reported_at=datetime(2026, 11, 27, tzinfo=UTC), address="中山大道 1 号",
                attributes={"open311": {"media_url": "https://example.org/a.jpg", "attributes": {"depth": "10"}}})
    tz = ZoneInfo("Asia/Shanghai")
    full = mapping.request_json(case, "暴露垃圾", None, tz, attribute_codes=frozenset({"depth"}))
    assert full["description"] and full["address"] and full["media_url"] and full.get("attributes")
    only = public.Policy(fields=frozenset({"description"}))
    out = mapping.request_json(case, "暴露垃圾", None, tz, policy=only, attribute_codes=frozenset({"depth"}))
    assert out["description"] == "路边垃圾"
    assert out["address"] == "" and out["media_url"] == "" and not out.get("attributes")
