"""The HTTP API: every transition over HTTP, refusals, bad input, scoping, history, indicators."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import Api


def after_photo(api: Api, cid: int) -> None:
    """Matters verified on site close only with an after-photo (cityops.field)."""
    from cityops.field.samples import jpeg

    r = api.post("verifier", f"/api/v1/cases/{cid}/attachments", data={"stage": "after"},
                 files={"file": ("after.jpg", jpeg(), "image/jpeg")})
    assert r.status_code in (200, 201), r.text


def walk_to(api: Api, status: str, **report: Any) -> dict[str, Any]:
    """Take a new case along the happy path until it reaches `status`."""
    case = api.report(**report).json()
    cid = case["id"]
    steps = [
        ("registered", "acceptor", "register", {}),
        ("dispatched", "dispatcher", "dispatch", {}),
        ("disposing", None, "accept", {}),
        ("reported_back", None, "report_back", {}),
        ("closed", "verifier", "verify", {"passed": True}),
    ]
    for target, who, action, body in steps:
        if case["status"] == status:
            break
        if action == "verify":
            after_photo(api, cid)
        r = api.act(who or case["department"], cid, action, **body)
        assert r.status_code == 200, r.text
        case = r.json()
        assert case["status"] == target
    return case


def test_healthz_and_openapi_document_every_endpoint(api: Api) -> None:
    assert api.client.get("/healthz").status_code == 200
    spec = api.client.get("/openapi.json").json()
    for path in ("/api/v1/cases", "/api/v1/cases/{case_id}/actions/{action}",
                 "/api/v1/cases/{case_id}/history", "/api/v1/indicators", "/api/v1/auth/token"):
        assert path in spec["paths"]


def test_login_gives_a_token(api: Api) -> None:
    r = api.client.post("/api/v1/auth/token", json={"username": "admin", "password": "test-password-1"})
    assert r.status_code == 200
    me = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert me.json()["role"] == "admin"
    bad = api.client.post("/api/v1/auth/token", json={"username": "admin", "password": "wrong-password"})
    assert bad.status_code == 401
    assert api.client.get("/api/v1/cases").status_code == 401


def test_full_loop_with_return_rework_extension_suspension(api: Api) -> None:
    case = walk_to(api, "dispatched")
    cid, first = case["id"], case["department"]
    assert case["due_at"] and case["district"] and case["grid"]
    # The department returns it; the dispatcher sends it to the next candidate.
    assert api.act(first, cid, "return", reason="不属于本单位").json()["status"] == "registered"
    options = [d["code"] for d in api.get("dispatcher", f"/api/v1/cases/{cid}/departments").json()["departments"]]
    second = next(code for code in options if code != first)
    case = api.act("dispatcher", cid, "dispatch", department=second).json()
    assert case["department"] == second
    assert api.act(second, cid, "accept").json()["status"] == "disposing"
    # Extension: requested by the department, approved by the supervisor.
    api.act(second, cid, "request_extension", amount=2, unit="working_hours", reason="需调设备")
    before = api.get("supervisor", f"/api/v1/cases/{cid}").json()["due_at"]
    after = api.act("supervisor", cid, "approve_extension").json()["due_at"]
    assert after > before
    # Suspension and resumption.
    assert api.act("supervisor", cid, "suspend", reason="等待权属认定").json()["status"] == "suspended"
    assert api.act("supervisor", cid, "resume").json()["status"] == "disposing"
    # Report back, fail verification (rework), report back again, pass.
    api.act(second, cid, "report_back")
    case = api.act("verifier", cid, "verify", passed=False, reason="现场仍有垃圾").json()
    assert case["status"] == "disposing" and case["rework_count"] == 1
    api.act(second, cid, "report_back")
    after_photo(api, cid)
    assert api.act("verifier", cid, "verify", passed=True).json()["status"] == "closed"
    hist = api.get("admin", f"/api/v1/cases/{cid}/history").json()["entries"]
    actions = [e["action"] for e in hist]
    assert actions[0] == "report" and actions[-1] == "verify" and "return" in actions
    assert api.get("admin", f"/api/v1/cases/{cid}/history/verify").json()["intact"] is True


def test_reject_and_merge(api: Api) -> None:
    a = api.report().json()["id"]
    b = api.report().json()["id"]
    c = api.report().json()["id"]
    assert api.act("acceptor", a, "reject", reason="").status_code == 422  # a reason is required
    assert api.act("acceptor", a, "reject", reason="非城管事项").json()["status"] == "rejected"
    merged = api.act("acceptor", c, "merge", target=b).json()
    assert merged["status"] == "merged" and merged["merged_into"] == b
    assert api.get("admin", f"/api/v1/cases/{b}").json()["report_count"] == 2
    assert api.act("acceptor", b, "merge", target=a).status_code == 409  # into a rejected case


@pytest.mark.parametrize(("who", "action", "status"), [
    ("dispatcher", "register", 403),  # not the dispatcher's job
    ("acceptor", "dispatch", 409),  # role may not... (acceptor cannot dispatch)
    ("acceptor", "verify", 409),
])
def test_refused_transitions_change_nothing(api: Api, who: str, action: str, status: int) -> None:
    cid = api.report().json()["id"]
    before = api.get("admin", f"/api/v1/cases/{cid}").json()
    r = api.act(who, cid, action, passed=True)
    assert r.status_code in (403, 409)
    assert r.json()["message"] and r.json()["message_zh"]
    after = api.get("admin", f"/api/v1/cases/{cid}").json()
    assert before["version"] == after["version"] and before["status"] == after["status"]
    assert len(api.get("admin", f"/api/v1/cases/{cid}/history").json()["entries"]) == 1


def test_illegal_transition_is_409_with_a_message(api: Api) -> None:
    cid = api.report().json()["id"]
    r = api.act("dispatcher", cid, "dispatch")
    assert r.status_code == 409 and "registered" in r.json()["message"]
    assert api.act("admin", cid, "fly").status_code == 422


@pytest.mark.parametrize(("body", "status", "fragment"), [
    ({"matter_code": "99999"}, 422, "unknown matter code"),
    ({"lon": 116.40, "lat": 39.90}, 422, "outside"),  # Beijing
    ({"description": ""}, 422, "empty"),
    ({"description": "x" * 4001}, 422, "description"),
    ({"lon": "east"}, 422, "lon"),
])
def test_bad_reports_get_4xx_and_store_nothing(api: Api, body: dict[str, Any], status: int, fragment: str) -> None:
    r = api.report(**body)
    assert r.status_code == status, r.text
    assert fragment in r.json()["message"]
    assert api.get("admin", "/api/v1/cases").json()["total"] == 0


def test_malformed_json_and_oversized_body(api: Api) -> None:
    r = api.client.post("/api/v1/cases", content=b"{not json", headers={**api.h("collector"), "content-type": "application/json"})
    assert r.status_code == 400 and "malformed JSON" in r.json()["message"]
    big = b'{"description": "' + b"x" * 1_100_000 + b'"}'
    r = api.client.post("/api/v1/cases", content=big, headers={**api.h("collector"), "content-type": "application/json"})
    assert r.status_code == 413


def test_idempotency_key_makes_retries_safe(api: Api) -> None:
    h = {**api.h("collector"), "Idempotency-Key": "retry-1"}
    body = {"matter_code": "06001", "description": "垃圾", "lon": 114.3055, "lat": 30.5928}
    a = api.client.post("/api/v1/cases", json=body, headers=h).json()
    b = api.client.post("/api/v1/cases", json=body, headers=h).json()
    assert a["id"] == b["id"]
    assert api.get("admin", "/api/v1/cases").json()["total"] == 1


def test_department_scope_across_lists_searches_and_indicators(api: Api) -> None:
    mine = walk_to(api, "dispatched")
    dept = mine["department"]
    other = walk_to(api, "dispatched", matter_code="01003")  # a component: its owner first
    assert other["department"] != dept
    theirs = other["department"]
    # Lists and searches, with and without filters that try to widen the scope.
    for url in ("/api/v1/cases", f"/api/v1/cases?department={theirs}", "/api/v1/cases?status=dispatched",
                "/api/v1/cases?q=%E5%9E%83", f"/api/v1/cases?district={other['district']}"):
        ids = {c["id"] for c in api.get(dept, url).json()["cases"]}
        assert other["id"] not in ids, url
    assert api.get(dept, f"/api/v1/cases/{other['id']}").status_code == 403
    assert api.get(dept, f"/api/v1/cases/{other['id']}/history").status_code == 403
    assert api.get(dept, f"/api/v1/cases/{other['id']}/history/verify").status_code == 403
    assert api.act(dept, other["id"], "accept").status_code == 403
    rows = api.get(dept, "/api/v1/indicators?by=department").json()["rows"]
    assert {r["department"] for r in rows} <= {dept}
    assert api.get(dept, "/api/v1/users").status_code == 403
    assert api.get(dept, "/api/v1/history/verify").status_code == 403


def test_search_filters(api: Api) -> None:
    walk_to(api, "closed")
    walk_to(api, "registered", matter_code="09009")
    assert api.get("admin", "/api/v1/cases?status=closed").json()["total"] == 1
    assert api.get("admin", "/api/v1/cases?matter=09009").json()["total"] == 1
    assert api.get("admin", "/api/v1/cases?status=nonsense").status_code == 422
    assert api.get("admin", "/api/v1/cases?from=2020-01-01T00:00:00").status_code == 422
    assert api.get("admin", "/api/v1/cases?from=2020-01-01T00:00:00%2B08:00").json()["total"] == 2
    assert api.get("admin", "/api/v1/cases?overdue=true").json()["total"] == 0


def test_indicators_json_and_csv(api: Api) -> None:
    walk_to(api, "closed")
    rows = api.get("admin", "/api/v1/indicators?by=district").json()["rows"]
    assert sum(r["closed"] for r in rows) == 1
    csv = api.get("admin", "/api/v1/indicators?by=department&format=csv")
    assert csv.status_code == 200 and "close_rate" in csv.text


def test_users_admin_only(api: Api) -> None:
    body = {"name": "newbie", "role": "collector", "password": "long-enough-pw"}
    assert api.post("supervisor", "/api/v1/users", json=body).status_code == 403
    assert api.post("admin", "/api/v1/users", json=body).status_code == 201
    assert api.post("admin", "/api/v1/users", json=body).status_code == 409
    bad = {"name": "x", "role": "department", "password": "long-enough-pw"}
    assert api.post("admin", "/api/v1/users", json=bad).status_code == 422


def test_the_server_escalates_overdue_cases_and_drops_expired_tokens_by_itself(platform: Any) -> None:
    from datetime import timedelta

    from fastapi.testclient import TestClient

    from cityops.api.app import create_app
    from cityops.cases import service
    from cityops.cases.models import SYSTEM_ACTOR, Action, Actor, Role
    from cityops.cases.workflow import Command
    from cityops.core import utcnow

    long_ago = utcnow() - timedelta(days=30)
    report = service.NewReport("06010", "暴露垃圾", 114.3055, 30.5928)

    def overdue_case(repo: Any) -> int:
        case = service.intake(repo, platform, report, SYSTEM_ACTOR, long_ago)
        boss = Actor("boss", Role.SUPERVISOR)
        service.act(repo, platform, case.id, Command(Action.REGISTER, boss, long_ago))
        return service.act(repo, platform, case.id, Command(Action.DISPATCH, boss, long_ago)).id

    cid = platform.store.write(overdue_case)
    from cityops.auth.service import issue_token, new_user, token_digest

    def users_and_tokens(repo: Any) -> tuple[str, str]:
        repo.add_user(new_user("old", "collector", None, "old-password-1", set()), long_ago)
        expired = issue_token(repo, "old", long_ago, timedelta(days=1))
        return expired, issue_token(repo, "old", utcnow())

    expired, live = platform.store.write(users_and_tokens)
    with TestClient(create_app(platform, sweep_every=0.05)):
        import time

        for _ in range(100):
            with platform.store.read() as repo:
                if repo.get_case(cid).escalated:
                    break
            time.sleep(0.05)
    with platform.store.read() as repo:
        assert repo.get_case(cid).escalated
        assert repo.history(cid)[-1].change.action == "escalate"
        tokens = {r[0] for r in repo.conn.execute("SELECT token_hash FROM tokens")}
    assert token_digest(expired) not in tokens, "an expired token is removed by the sweep"
    assert token_digest(live) in tokens


def test_out_of_range_numbers_are_refused_not_500(api: Api) -> None:
    big = 10**25  # past SQLite's 64-bit integers
    cid = api.report().json()["id"]
    for url in (f"/api/v1/cases/{big}", f"/api/v1/cases/{big}/history", f"/api/v1/cases?offset={big}",
                "/api/v1/cases?due_within_hours=inf", "/api/v1/cases?due_within_hours=1e7",
                "/api/v1/indicators?from=0001-01-01T00:00:00%2B14:00"):
        r = api.get("admin", url)
        assert r.status_code == 422 and r.json()["message"], url
    assert api.act("acceptor", cid, "merge", target=big).status_code == 422
    r = api.report(attributes={"n": big})  # JSON allows it; the store's JSON cannot hold it
    assert r.status_code == 422 and "attributes" in r.json()["message"]
    assert api.get("admin", "/api/v1/cases").json()["total"] == 1


def test_extension_must_be_finite_and_at_most_about_a_year(api: Api) -> None:
    case = walk_to(api, "disposing")
    cid, dept = case["id"], case["department"]
    for amount, unit in ((1e300, "working_days"), (251, "working_days"), (2001, "working_hours")):
        r = api.act(dept, cid, "request_extension", amount=amount, unit=unit, reason="需调设备")
        assert r.status_code == 422 and "at most" in r.json()["message"]
    infinite = b'{"amount": Infinity, "unit": "working_hours", "reason": "r"}'  # Python's JSON reads it
    r = api.client.post(f"/api/v1/cases/{cid}/actions/request_extension", content=infinite,
                        headers={**api.h(dept), "content-type": "application/json"})
    assert r.status_code == 422
    assert api.get("admin", f"/api/v1/cases/{cid}").json()["pending_extension"] is None
    assert api.act(dept, cid, "request_extension", amount=250, unit="working_days", reason="大修").status_code == 200
    assert api.act("supervisor", cid, "approve_extension").status_code == 200


def test_streamed_oversized_body_is_413_on_every_endpoint(api: Api) -> None:
    cid = api.report().json()["id"]

    def chunks() -> Any:  # no Content-Length: the limit is only found while reading
        yield b'{"reason": "'
        for _ in range(120):
            yield b"x" * 10_000
        yield b'"}'

    for url in (f"/api/v1/cases/{cid}/actions/comment", "/api/v1/cases", "/api/v1/auth/token"):
        r = api.client.post(url, content=chunks(), headers={**api.h("admin"), "content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"] == "too_large", url
    assert len(api.get("admin", f"/api/v1/cases/{cid}/history").json()["entries"]) == 1


def test_logout_and_revocation_end_a_token(api: Api, tmp_path: Any) -> None:
    assert api.post("verifier", "/api/v1/auth/logout").json() == {"revoked": 1}
    assert api.get("verifier", "/api/v1/me").status_code == 401
    from cityops.auth.service import issue_token
    from cityops.core import utcnow

    token = api.platform.store.write(lambda repo: issue_token(repo, "acceptor", utcnow()))
    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/api/v1/me", headers=headers).status_code == 200
    assert api.platform.store.write(lambda repo: repo.revoke_tokens(user_name="acceptor")) == 2
    assert api.client.get("/api/v1/me", headers=headers).status_code == 401
