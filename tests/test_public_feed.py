"""The public Open311 feed cannot be broken or made to leak: arbitrary attributes, text and
Unicode (stored by staff, imports or citizens) through the JSON and XML renderers always give
a parseable, markup-free answer; what is published is an allow-list."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityops.cases.models import Case, Change, HistoryEntry, Status
from cityops.intake.open311 import mapping, public, render
from public_render import assert_json_safe, assert_xml_safe, nasty_json, nasty_text

TZ = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 11, 27, 1, 2, 3, tzinfo=UTC)
CODES = frozenset({"depth", "landmark"})
REQUEST_TAGS = {
    "service_requests", "request", "service_request_id", "status", "status_notes", "service_name",
    "service_code", "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat", "long",
    "media_url", "attributes", "extended_attributes", "notes", "note", "datetime", "summary", "type",
    "channel", "case_status", "case_status_label", "district", "grid", "area_class", "department",
    "escalated", "rework_count", "report_count", "duplicate", "parent_service_request_id", "value",
} | CODES
actions = st.sampled_from(["report", "register", "verify", "comment", "return", "escalate", "reject",
                           "merged_in", "something_new"]) | nasty_text()
actors = st.sampled_from(["acceptor", "open311:crm", "verifier"]) | nasty_text()
statuses = st.sampled_from([s.value for s in Status]) | nasty_text()


@st.composite
def cases(draw: Any) -> tuple[Case, list[HistoryEntry]]:
    attributes = draw(st.one_of(
        nasty_json(),
        st.fixed_dictionaries({"open311": st.one_of(nasty_json(), st.fixed_dictionaries({
            "attributes": st.one_of(nasty_json(), st.dictionaries(st.sampled_from(sorted(CODES)) | nasty_text(), nasty_json())),
            "media_url": nasty_json(), "address_id": nasty_json()}))}),
    ))
    case = Case(
        id=draw(st.integers(1, 2**40)), status=draw(st.sampled_from(list(Status))), source=draw(st.sampled_from(["open311", "api"]) | nasty_text()),
        matter_code="06010", description=draw(nasty_text()), lon=114.3, lat=30.5,
        district=draw(nasty_text()), grid=draw(nasty_text()), area_class=draw(nasty_text()), reported_at=AT,
        address=draw(nasty_text()), department=draw(st.none() | nasty_text()),
        attributes=attributes if isinstance(attributes, dict) else {"open311": attributes},
    )
    history = [
        HistoryEntry(seq=i + 1, prev_hash="", hash="", change=Change(
            case_id=case.id, at=AT, actor=draw(actors), role="x", action=draw(actions),
            from_status=draw(st.none() | statuses), to_status=draw(statuses), reason=draw(nasty_text()),
            data=draw(st.dictionaries(st.sampled_from(["media_url"]) | nasty_text(), nasty_json(), max_size=3))))
        for i in range(draw(st.integers(0, 4)))
    ]
    return case, history


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.booleans(), nasty_text(), nasty_text())
def test_any_stored_case_renders_safely_in_json_and_xml(drawn: Any, text_public: bool, name: str, agency: str) -> None:
    case, history = drawn
    policy = public.Policy(text_channels=frozenset({case.source}) if text_public else frozenset())
    one = mapping.request_json(case, name, agency, TZ, history, "", policy=policy, attribute_codes=CODES)
    updates = [mapping.update_json(e, TZ) for e in history]
    for payload, root in (([one], "service_requests"), (updates, "service_request_updates")):
        value = assert_json_safe(render.body("json", root, payload))
        assert value is not None
        assert_xml_safe(render.body("xml", root, payload),
                        REQUEST_TAGS | {"service_request_updates", "request_update", "update_id", "external_status_code"})
    assert set(one.get("attributes", {})) <= CODES, "only the service's own attributes are published"
    if not text_public:
        assert one["description"] == one["address"] == one["media_url"] == ""
    # A reason is published only when an Open311 back office wrote it. The oracle renders the
    # same case with every other reason blanked: text that is there anyway (a status label, the
    # service's name, a coincidence of the generated values) proves nothing.
    blank = [e if e.change.actor.startswith("open311:") else
             dataclasses.replace(e, change=dataclasses.replace(e.change, reason="")) for e in history]
    shown = str((one["status_notes"], one.get("notes")))
    anyway = str(mapping.request_json(case, name, agency, TZ, blank, "", policy=policy, attribute_codes=CODES)
                 .get("notes"))
    anyway += str(mapping.request_json(case, name, agency, TZ, blank, "", policy=policy,
                                       attribute_codes=CODES)["status_notes"])
    for e in history:
        if e.change.reason.strip() and not e.change.actor.startswith("open311:") and len(e.change.reason) > 3:
            assert e.change.reason not in shown or e.change.reason in anyway, e.change.reason

def test_what_is_published_is_an_allow_list() -> None:
    case = Case(id=1, status=Status.DISPOSING, source="open311", matter_code="06010", description="d",
                lon=1.0, lat=2.0, district="420103", grid="g", area_class="A", reported_at=AT)

    def entry(seq: int, action: str, actor: str, reason: str, to: str = "disposing") -> HistoryEntry:
        return HistoryEntry(seq, Change(1, AT, actor, "r", action, "reported_back", to, reason), "", "")

    history = [entry(1, "report", "citizen", "", "reported"),
               entry(2, "verify", "verifier", "住户张三 13800000000 不满意"),
               entry(3, "comment", "acceptor", "内部备注"),
               entry(4, "brand_new_action", "acceptor", "新动作的原因"),
               entry(5, "comment", "open311:crm", "已安排人员 / crew booked")]
    out = mapping.request_json(case, "暴露垃圾", None, TZ, history)
    text = str(out)
    for secret in ("13800000000", "内部备注", "新动作"):
        assert secret not in text
    assert "crew booked" in out["status_notes"]
    assert [n["type"] for n in out["notes"]] == ["opened", "activity", "activity"]
    hotline = Case(**{**case.__dict__, "source": "hotline_12345", "description": "王五 电话 139", "address": "某小区 3 栋"})
    shown = mapping.request_json(hotline, "暴露垃圾", None, TZ)
    assert shown["description"] == shown["address"] == "", "the default publishes no staff/hotline free text"


def test_crafted_staff_attributes_cannot_break_anonymous_gets(api: Any) -> None:
    crafted = [
        {"open311": {"attributes": "not a mapping", "media_url": "javascript:alert(1)"}},
        {"open311": "a string"},
        {"open311": {"attributes": {"a><b": "<x/>", "landmark": ["\x00", 1, {"k": "v"}]}, "address_id": {"x": 1}}},
        {"open311": {"attributes": {"landmark": "]]><script>alert(1)</script>"}, "media_url": "https://ok.example/p.jpg\n<x>"}},
    ]
    for attrs in crafted:
        assert api.report("acceptor", attributes=attrs, source="open311").status_code == 201
    ids = api.get("admin", "/api/v1/cases").json()["cases"]
    assert len(ids) == len(crafted)
    c = api.client
    for fmt, check in (("json", assert_json_safe), ("xml", assert_xml_safe)):
        for url in (f"/open311/v2/requests.{fmt}", f"/open311/v2/requests.{fmt}?extensions=true",
                    f"/open311/v2/requests/{ids[0]['id']}.{fmt}?extensions=true",
                    f"/open311/v2/servicerequestupdates.{fmt}"):
            r = c.get(url)
            assert r.status_code == 200, (url, r.text[:300])
            check(r.content)
            assert b"<script" not in r.content and b"javascript:" not in r.content
    from cityops.intake.open311 import params

    big = c.get("/open311/v2/requests.json?page_size=100000")
    assert big.status_code == 200 and len(big.json()) <= params.DEFAULT_CAP <= 200, "anonymous pages are bounded"
