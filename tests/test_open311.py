"""Open311 GeoReport v2 against a real `cityops serve`: every endpoint, error path and extension."""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityops.cases.models import Role, Status
from cityops.cases.workflow import RULES
from cityops.intake.open311 import params, updates
from cityops.intake.open311.errors import Open311Error
from cityops.intake.open311.keys import RateLimiter, TokenBucket
from conftest import shared_file
from open311_server import WUHAN, Server, cityops, running

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(tmp_path_factory.mktemp("open311")) as server:
        yield server


def post(srv: Server, fmt: str = "json", headers: dict[str, str] | None = None, **form: Any) -> httpx.Response:
    data = {"api_key": srv.key, "service_code": "06010", "lat": WUHAN[1], "long": WUHAN[0],
            "description": "人行道上有暴露垃圾 / rubbish on the pavement", **form}
    return httpx.post(f"{srv.url}/requests.{fmt}", data={k: v for k, v in data.items() if v is not None},
                      headers=headers, timeout=30)


def errors_of(r: httpx.Response, status: int) -> str:
    """Check the spec's error array (JSON or XML) and return its description."""
    assert r.status_code == status, r.text
    if r.headers["content-type"].startswith("application/json"):
        body = r.json()
        assert isinstance(body, list) and body[0]["code"] == status
        return str(body[0]["description"])
    root = ET.fromstring(r.content)
    assert root.tag == "errors" and root.find("error/code").text == str(status)  # type: ignore[union-attr]
    return root.find("error/description").text or ""  # type: ignore[union-attr]


# --- discovery, services, definitions ---------------------------------------------------------

def test_discovery_in_both_formats(srv: Server) -> None:
    j = httpx.get(f"{srv.url}/discovery.json").json()
    assert j["endpoints"][0]["url"].endswith("/open311/v2")
    assert "application/json" in j["endpoints"][0]["formats"]
    x = ET.fromstring(httpx.get(f"{srv.url}/discovery.xml").content)
    assert x.tag == "discovery" and x.find("endpoints/endpoint/specification") is not None


def test_services_are_the_catalogues_251_matters_and_the_catch_all(srv: Server) -> None:
    items = httpx.get(f"{srv.url}/services.json").json()
    # The standard's 250, cityops's extension (10950 道路交通拥堵) and the catch-all "other"
    # (classified on intake).
    assert len(items) == 252
    rubbish = next(s for s in items if s["service_code"] == "06010")
    assert rubbish["service_name"] == "暴露垃圾 / Exposed rubbish"
    assert rubbish["type"] == "realtime" and rubbish["group"] and rubbish["metadata"] is True
    x = ET.fromstring(httpx.get(f"{srv.url}/services.xml").content)
    assert len(x.findall("service")) == 252
    assert "暴露垃圾" in httpx.get(f"{srv.url}/services.xml").content.decode("utf-8")


def test_service_definition_has_list_and_text_attributes(srv: Server) -> None:
    d = httpx.get(f"{srv.url}/services/01004.json").json()
    by_code = {a["code"]: a for a in d["attributes"]}
    assert by_code["depth"]["datatype"] == "singlevaluelist" and by_code["impact"]["datatype"] == "multivaluelist"
    assert {"key", "name"} <= set(by_code["depth"]["values"][0])
    assert by_code["component_id"]["datatype"] == "string"
    x = ET.fromstring(httpx.get(f"{srv.url}/service/01004.xml").content)  # the legacy alias
    assert x.tag == "service_definition" and x.find("attributes/attribute/values/value/key") is not None


# --- POST requests ------------------------------------------------------------------------------

def test_post_creates_a_reported_case_with_private_contact(srv: Server) -> None:
    r = post(srv, email="citizen@example.org", first_name="Li", phone="13800000000",
             media_url="https://example.org/p.jpg", **{"attribute[landmark]": "江汉关"})
    assert r.status_code == 200, r.text
    created = r.json()[0]
    rid, token = created["service_request_id"], created["token"]
    assert rid.isdigit() and token
    case = srv.core("GET", f"/api/v1/cases/{rid}").json()
    assert case["status"] == "reported" and case["source"] == "open311"
    assert case["attributes"]["contact"]["email"] == "citizen@example.org"
    public = httpx.get(f"{srv.url}/requests/{rid}.json").json()
    assert isinstance(public, list) and len(public) == 1
    text = json.dumps(public, ensure_ascii=False)
    assert "citizen@example.org" not in text and "13800000000" not in text
    assert public[0]["media_url"] == "https://example.org/p.jpg"
    assert public[0]["attributes"] == {"landmark": "江汉关"}
    assert httpx.get(f"{srv.url}/tokens/{token}.json").json() == [{"service_request_id": rid, "token": token}]


def test_multivaluelist_attributes_and_address_string(srv: Server) -> None:
    r = post(srv, service_code="01004", **{"attribute[depth]": "gt27", "attribute[impact][]": ["traffic", "underpass"]})
    assert r.status_code == 200, r.text
    got = httpx.get(f"{srv.url}/requests/{r.json()[0]['service_request_id']}.json").json()[0]
    assert got["attributes"] == {"depth": "gt27", "impact": ["traffic", "underpass"]}
    by_name = post(srv, lat=None, long=None, address_string="江汉区")
    assert by_name.status_code == 200, by_name.text
    by_lonlat = post(srv, lat=None, long=None, address_string=f"{WUHAN[0]},{WUHAN[1]}")
    assert by_lonlat.status_code == 200, by_lonlat.text
    bad = post(srv, lat=None, long=None, address_string="火星基地")
    assert "address_string" in errors_of(bad, 400)
    assert errors_of(post(srv, service_code="01004", **{"attribute[depth]": "deep"}), 400)


def test_post_error_paths(srv: Server) -> None:
    assert "api_key" in errors_of(post(srv, api_key=None), 403)
    assert errors_of(post(srv, fmt="xml", api_key="o311_not-a-key"), 403)
    assert "service_code" in errors_of(post(srv, service_code="99999"), 404)
    assert "4000" in errors_of(post(srv, description="水" * 4001), 400)
    assert post(srv, description="水" * 4000).status_code == 200
    assert errors_of(post(srv, lat=None, long=None), 400)
    assert errors_of(post(srv, lat="0", long="0"), 400)  # outside the city
    assert errors_of(post(srv, jurisdiction_id="nowhere"), 404)


def test_revoked_key_is_refused_at_once(srv: Server, tmp_path: Path) -> None:
    key = cityops(srv.db, "apikey", "create", "short-lived")
    assert post(srv, api_key=key).status_code == 200
    assert "short-lived" in cityops(srv.db, "apikey", "list")
    cityops(srv.db, "apikey", "revoke", "short-lived")
    assert "revoked" in errors_of(post(srv, api_key=key), 403)
    assert "\tactive" not in next(line for line in cityops(srv.db, "apikey", "list").splitlines()
                                   if line.startswith("short-lived"))


def _count(srv: Server) -> int:
    return int(srv.core("GET", "/api/v1/cases", params={"limit": 1}).json()["total"])


def test_retried_posts_never_make_a_second_case(srv: Server) -> None:
    before = _count(srv)
    first = post(srv, headers={"Idempotency-Key": "retry-1"}).json()[0]
    again = post(srv, headers={"Idempotency-Key": "retry-1"}).json()[0]
    assert first == again
    a = post(srv, device_id="phone-7", token="draft-42").json()[0]
    b = post(srv, device_id="phone-7", token="draft-42").json()[0]
    assert a["service_request_id"] == b["service_request_id"]
    assert _count(srv) == before + 2
    # Concurrent retries of one submission, racing on 16 threads.
    answers: list[str] = []
    def send() -> None:
        answers.append(post(srv, headers={"Idempotency-Key": "race-1"}).json()[0]["service_request_id"])
    threads = [threading.Thread(target=send) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(answers)) == 1 and len(answers) == 16
    assert _count(srv) == before + 3


# --- GET requests ------------------------------------------------------------------------------

def test_get_requests_lists_filters_and_pages(srv: Server) -> None:
    ids = [post(srv, service_code="06011").json()[0]["service_request_id"] for _ in range(3)]
    got = httpx.get(f"{srv.url}/requests.json", params={"service_request_id": ",".join(ids)}).json()
    assert sorted(r["service_request_id"] for r in got) == sorted(ids)
    by_code = httpx.get(f"{srv.url}/requests.json", params={"service_code": "06011,01004", "status": "open"}).json()
    assert {r["service_code"] for r in by_code} <= {"06011", "01004"} and len(by_code) >= 3
    assert httpx.get(f"{srv.url}/requests.json", params={"service_code": "06011", "status": "closed"}).json() == []
    empty = httpx.get(f"{srv.url}/requests.json", params={"service_code": "", "status": "", "start_date": "",
                                                          "jurisdiction_id": ""}).json()
    assert len(empty) >= 3  # empty parameters behave as missing
    page1 = httpx.get(f"{srv.url}/requests.json", params={"page_size": 2, "page": 1}).json()
    page2 = httpx.get(f"{srv.url}/requests.json", params={"page_size": 2, "page": 2}).json()
    assert len(page1) == 2 and not {r["service_request_id"] for r in page1} & {r["service_request_id"] for r in page2}
    x = ET.fromstring(httpx.get(f"{srv.url}/requests.xml", params={"service_request_id": ids[0]}).content)
    assert x.tag == "service_requests" and x.find("request/service_request_id").text == ids[0]  # type: ignore[union-attr]
    one = httpx.get(f"{srv.url}/requests/{ids[0]}.json").json()[0]
    for field in ("requested_datetime", "updated_datetime"):
        assert one[field].endswith("+08:00") and datetime.fromisoformat(one[field]).tzinfo is not None


def test_get_requests_error_paths(srv: Server) -> None:
    assert errors_of(httpx.get(f"{srv.url}/requests/999999.json"), 404)
    assert errors_of(httpx.get(f"{srv.url}/requests/999999.xml"), 404)
    assert errors_of(httpx.get(f"{srv.url}/tokens/nope.json"), 404)
    assert errors_of(httpx.get(f"{srv.url}/services/99999.xml"), 404)
    assert "ISO 8601" in errors_of(httpx.get(f"{srv.url}/requests.json", params={"start_date": "27/11/2026"}), 400)
    assert "90" in errors_of(httpx.get(f"{srv.url}/requests.json", params={
        "start_date": "2026-01-01T00:00:00+08:00", "end_date": "2026-05-01T00:00:00+08:00"}), 400)
    assert errors_of(httpx.get(f"{srv.url}/requests.json", params={"status": "pending"}), 400)
    assert errors_of(httpx.get(f"{srv.url}/services.json", params={"jurisdiction_id": "beijing"}), 404)
    assert httpx.get(f"{srv.url}/services.json", params={"jurisdiction_id": "420100"}).status_code == 200


# --- extensions and servicerequestupdates -------------------------------------------------------

def update(srv: Server, rid: str, status: str, **form: str) -> httpx.Response:
    data = {"api_key": srv.office, "service_request_id": rid, "status": status,
            "updated_datetime": datetime.now(UTC).isoformat(), "description": f"back office: {status}", **form}
    return httpx.post(f"{srv.url}/servicerequestupdates.json", data=data, timeout=30)


def test_updates_walk_a_case_through_the_workflow(srv: Server) -> None:
    rid = post(srv).json()[0]["service_request_id"]
    assert "reported" in errors_of(update(srv, rid, "CLOSED"), 400)  # illegal: nothing changes
    assert srv.core("GET", f"/api/v1/cases/{rid}").json()["history_count"] == 1
    assert update(srv, rid, "INVESTIGATING", update_id="u-1").status_code == 200
    again = update(srv, rid, "INVESTIGATING", update_id="u-1")  # a retried update is not applied twice
    assert again.status_code == 200
    assert srv.core("GET", f"/api/v1/cases/{rid}").json()["status"] == "registered"
    assert srv.core("POST", f"/api/v1/cases/{rid}/actions/dispatch", json={}).status_code == 200
    assert update(srv, rid, "IN_PROGRESS").status_code == 200
    assert srv.core("GET", f"/api/v1/cases/{rid}").json()["status"] == "disposing"
    assert update(srv, rid, "FIXED").status_code == 200
    assert update(srv, rid, "CLOSED").status_code == 200
    got = httpx.get(f"{srv.url}/requests/{rid}.json", params={"extensions": "true"}).json()[0]
    assert got["status"] == "closed" and got["agency_responsible"] and got["expected_datetime"]
    types = [n["type"] for n in got["notes"]]
    assert types[0] == "opened" and types[-1] == "closed" and "activity" in types
    assert got["extended_attributes"]["channel"] == "open311"
    assert errors_of(update(srv, rid, "IN_PROGRESS"), 400)  # a closed case takes no more steps
    listed = httpx.get(f"{srv.url}/servicerequestupdates.json").json()
    mine = [u for u in listed if u["service_request_id"] == rid]
    assert [u["status"] for u in mine] == ["investigating", "action_scheduled", "in_progress", "fixed", "closed"]
    assert {"update_id", "updated_datetime", "description", "media_url"} <= set(mine[0])
    x = ET.fromstring(httpx.get(f"{srv.url}/servicerequestupdates.xml").content)
    assert x.tag == "service_request_updates" and x.find("request_update/update_id") is not None


def test_update_statuses_duplicate_reject_and_keys(srv: Server) -> None:
    keep, dup, bad = (post(srv).json()[0]["service_request_id"] for _ in range(3))
    assert update(srv, dup, "DUPLICATE", duplicate_of=keep).status_code == 200
    merged = httpx.get(f"{srv.url}/requests/{dup}.json", params={"extensions": "true"}).json()[0]
    assert merged["status"] == "closed"
    assert merged["extended_attributes"]["parent_service_request_id"] == keep
    assert update(srv, bad, "NOT_COUNCILS_RESPONSIBILITY").status_code == 200
    assert srv.core("GET", f"/api/v1/cases/{bad}").json()["status"] == "rejected"
    citizen = httpx.post(f"{srv.url}/servicerequestupdates.json",
                         data={"api_key": srv.key, "service_request_id": keep, "status": "OPEN"})
    assert errors_of(citizen, 403)  # a citizen app's key may not post updates
    assert errors_of(update(srv, keep, "MAYBE"), 400)


def test_rate_limit_answers_429_with_an_error_array(tmp_path: Path) -> None:
    with running(tmp_path, rate="0.001", burst="5") as limited:  # a burst of 5, then nearly nothing
        codes = [post(limited).status_code for _ in range(5)]
        assert codes == [200] * 5
        assert errors_of(post(limited), 429)


# --- the real Chicago responses, field by field -------------------------------------------------

def test_same_shape_as_real_chicago_responses(srv: Server) -> None:
    chicago = json.loads(shared_file("311/chicago_open311_georeport_v2_2014_50.json").read_text())
    rid = post(srv, **{"attribute[landmark]": "江汉关"}).json()[0]["service_request_id"]
    update(srv, rid, "FOR_TRIAGE")
    update(srv, rid, "NOT_COUNCILS_RESPONSIBILITY")
    ours = httpx.get(f"{srv.url}/requests/{rid}.json", params={"extensions": "true"}).json()[0]
    for real in chicago:
        for field, value in real.items():
            assert field in ours, f"Chicago has '{field}', we do not"
            if field in ("lat", "long"):
                assert isinstance(ours[field], float)
            elif field in ("attributes", "extended_attributes"):
                assert isinstance(ours[field], dict)
            elif field == "notes":
                assert isinstance(ours[field], list)
            else:
                assert isinstance(ours[field], type(value)), field
        for real_note in real["notes"]:
            if real_note["type"] in ("opened", "activity", "closed"):
                ours_of_type = [n for n in ours["notes"] if n["type"] == real_note["type"]]
                for n in ours_of_type:
                    assert set(n) == set(real_note), real_note["type"]
        for field in ("requested_datetime", "updated_datetime"):
            assert datetime.fromisoformat(real[field]).tzinfo is not None
            assert len(ours[field]) == len(real[field])  # same second precision and zone form
    assert [n["type"] for n in ours["notes"]] == ["opened", "activity", "closed"]


# --- properties of the pure rules ---------------------------------------------------------------

_times = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC))


@given(_times, _times, _times)
def test_window_never_exceeds_90_days(a: datetime, b: datetime, now: datetime) -> None:
    try:
        start, end = params.window(a.isoformat(), b.isoformat(), now, TZ)
    except Open311Error as exc:
        assert exc.status == 400
        assert b < a or b - a > timedelta(days=90)
        return
    assert start <= end and end - start <= timedelta(days=90)


@given(st.sampled_from(updates.UPDATE_STATUSES), st.sampled_from(list(Status)), st.booleans())
def test_every_planned_first_step_is_legal_in_the_workflow(status: str, case: Status, target: bool) -> None:
    try:
        steps = updates.plan(status, case, target)
    except Open311Error as exc:
        assert exc.status == 400
        return
    first = RULES[steps[0].action]
    assert case in first.sources
    assert steps[0].role in first.roles or steps[0].role is Role.ADMIN


@given(st.lists(st.floats(min_value=0, max_value=0.5), max_size=200), st.floats(0.5, 50), st.integers(1, 60))
def test_token_bucket_never_exceeds_rate_plus_burst(gaps: list[float], rate: float, burst: int) -> None:
    bucket = TokenBucket(rate, burst, burst, 0.0)
    now, allowed = 0.0, 0
    for gap in gaps:
        now += gap
        allowed += bucket.take(now)
    assert allowed <= burst + rate * now + 1e-6


def test_rate_limiter_keeps_keys_apart() -> None:
    limiter = RateLimiter(rate=1, burst=2)
    assert [limiter.allow("a", 0.0) for _ in range(3)] == [True, True, False]
    assert limiter.allow("b", 0.0)
    assert limiter.allow("a", 1.0)


def test_huge_or_non_ascii_ids_and_dates_are_refused_not_500(srv: Server) -> None:
    rid = post(srv).json()[0]["service_request_id"]
    for bad in ("9" * 30, "²", "١٢"):  # '²'.isdigit() is True, int('²') fails; 30 digits overflow SQLite
        errors_of(httpx.get(f"{srv.url}/requests/{bad}.json"), 404)
        errors_of(httpx.get(f"{srv.url}/requests.json", params={"service_request_id": bad}), 400)
        form = {"api_key": srv.office, "service_request_id": rid, "status": "DUPLICATE", "duplicate_of": bad}
        errors_of(httpx.post(f"{srv.url}/servicerequestupdates.json", data=form), 400)
    errors_of(httpx.get(f"{srv.url}/requests.json", params={"page": "9" * 30}), 400)
    assert httpx.get(f"{srv.url}/requests.json", params={"page": str(10**15)}).json() == []
    errors_of(httpx.get(f"{srv.url}/requests.json", params={"end_date": "0001-01-01T00:00:00Z"}), 400)


def test_control_characters_never_break_the_xml_feed(srv: Server) -> None:
    rid = post(srv, description="井盖 \x01 破损 \x0b").json()[0]["service_request_id"]
    for url in (f"{srv.url}/requests/{rid}.xml", f"{srv.url}/requests.xml"):
        ET.fromstring(httpx.get(url).content)  # well-formed for every client
    assert "井盖 \ufffd 破损" in httpx.get(f"{srv.url}/requests/{rid}.xml").content.decode()


def test_internal_notes_stay_internal(srv: Server) -> None:
    rid = post(srv).json()[0]["service_request_id"]
    secret = "内部备注：举报人电话 13800000000"
    assert srv.core("POST", f"/api/v1/cases/{rid}/actions/comment", json={"reason": secret}).status_code == 200
    for url in (f"{srv.url}/requests/{rid}.json?extensions=true", f"{srv.url}/requests/{rid}.xml?extensions=true",
                f"{srv.url}/servicerequestupdates.json"):
        assert "13800000000" not in httpx.get(url).text, url
    # What a back office posts through Open311 is meant for the citizen, and shown.
    form = {"api_key": srv.office, "service_request_id": rid, "status": "OPEN", "description": "已安排人员 / crew booked"}
    assert httpx.post(f"{srv.url}/servicerequestupdates.json", data=form).status_code == 200
    got = httpx.get(f"{srv.url}/requests/{rid}.json", params={"extensions": "true"}).json()[0]
    assert "crew booked" in got["status_notes"]
