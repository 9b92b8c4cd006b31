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
