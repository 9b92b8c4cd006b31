"""Answers speak the operators' language: names beside codes (zh and en), filters take the
names a person types, every time in the city's own offset, CSV that Excel opens."""

from __future__ import annotations

from typing import Any


def test_names_times_filters_and_csv(api: Any) -> None:
    case = api.report("acceptor").json()
    assert case["matter_name"] == "暴露垃圾" and case["matter_name_en"]
    assert case["status_name"] == "待受理" and case["status_name_en"] == "Reported"
    assert case["district_name"].endswith("区") and case["district_name_en"]
    assert case["reported_at"].endswith("+08:00"), "ISO 8601 in the city's offset"
    cid = case["id"]
    registered = api.act("acceptor", cid, "register").json()
    dispatched = api.act("dispatcher", cid, "dispatch").json()
    assert registered["registered_at"].endswith("+08:00") and dispatched["due_at"].endswith("+08:00")
    assert dispatched["department_name"] and dispatched["department_name_en"]
    got = api.get("admin", f"/api/v1/cases/{cid}").json()
    assert got["department_name"] == dispatched["department_name"]
    entries = api.get("admin", f"/api/v1/cases/{cid}/history").json()["entries"]
    assert [e["action_name"] for e in entries] == ["上报", "立案", "派遣"]
    assert entries[1]["status_name_en"] == "Registered" and all(e["at"].endswith("+08:00") for e in entries)

    name = case["district_name"]
    for value in (name, case["district"], case["district_name_en"]):
        found = api.get("admin", "/api/v1/cases", params={"district": value, "status": "已派遣待签收"}).json()
        assert [c["id"] for c in found["cases"]] == [cid], value
    r = api.get("admin", "/api/v1/cases", params={"district": "火星区"})
    assert r.status_code == 422 and "未知的区" in r.json()["message_zh"]
    assert api.get("admin", "/api/v1/cases", params={"matter": "暴露垃圾"}).json()["total"] == 1

    rows = api.get("admin", "/api/v1/indicators?by=district").json()["rows"]
    assert any(r.get("district_name") == name for r in rows)
    csv = api.get("admin", "/api/v1/indicators?by=department&format=csv")
    assert csv.content.startswith("\ufeff".encode()), "UTF-8 BOM for Excel on Chinese Windows"
    conflict = api.act("acceptor", cid, "register")
    assert conflict.status_code == 409 and "已派遣待签收" in conflict.json()["message_zh"]
    assert "register" not in conflict.json()["message_zh"], "the Chinese message is all Chinese"


def test_indicator_answers_use_city_time_and_local_days(api: Any) -> None:
    api.report("acceptor")
    body = api.get("admin", "/api/v1/indicators?by=city").json()
    assert body["as_of"].endswith("+08:00") and body["from"] is None and body["to"] is None
    # A plain date is the city's local day: from 2026-11-01 means 2026-11-01T00:00+08:00.
    body = api.get("admin", "/api/v1/indicators", params={"by": "city", "from": "2026-11-01", "to": "2026-12-01"}).json()
    assert body["from"] == "2026-11-01T00:00:00+08:00" and body["to"] == "2026-12-01T00:00:00+08:00"
    same = api.get("admin", "/api/v1/indicators",
                   params={"by": "city", "from": "2026-10-31T16:00:00Z", "to": "2026-11-30T16:00:00Z"}).json()
    assert same["from"] == body["from"] and same["rows"] == body["rows"]
    # Today's cases count from today's local date, to tomorrow's.
    from datetime import timedelta

    from cityops.core import utcnow
    from cityops.timefmt import local_day

    today = local_day(utcnow(), api.platform.calendar.zone)
    rows = api.get("admin", "/api/v1/indicators", params={
        "by": "city", "from": today.isoformat(), "to": (today + timedelta(days=1)).isoformat()}).json()["rows"]
    assert rows[0]["accepted"] == 1
    for bad in ("2026-11-01T00:00:00", "yesterday", "2026-13-01"):
        r = api.get("admin", "/api/v1/indicators", params={"from": bad})
        assert r.status_code == 422 and "本市当地日" in r.json()["message_zh"], bad


def test_case_search_plain_dates_are_local_days(api: Any) -> None:
    from datetime import timedelta

    from cityops.core import utcnow
    from cityops.timefmt import local_day

    cid = api.report("acceptor").json()["id"]
    today = local_day(utcnow(), api.platform.calendar.zone)
    found = api.get("admin", "/api/v1/cases", params={
        "from": today.isoformat(), "to": (today + timedelta(days=1)).isoformat()}).json()
    assert [c["id"] for c in found["cases"]] == [cid]
    assert api.get("admin", "/api/v1/cases", params={"to": today.isoformat()}).json()["total"] == 0
    for bad in ("0001-01-01", "2026-11-01T00:00:00", "soon"):
        r = api.get("admin", "/api/v1/cases", params={"from": bad})
        assert r.status_code == 422 and r.json()["message_zh"], bad
