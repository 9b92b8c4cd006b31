"""Batch workflow steps (POST /api/v1/cases/actions): the same as taking them one by one, each
step refused on its own, within the limit, attributed to the caller."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Api
from stores import connect

URL = "/api/v1/cases/actions"
MATTER = "07002"  # closed without an on-site photo
LOOP: list[tuple[str, dict[str, Any]]] = [
    ("register", {}), ("dispatch", {}), ("accept", {}), ("report_back", {"reason": "已处置 / handled"}),
    ("verify", {"passed": True}),
]


def cases(api: Api, n: int) -> list[int]:
    return [api.report(matter_code=MATTER).json()["id"] for _ in range(n)]


def batch(api: Api, who: str, steps: list[dict[str, Any]]) -> Any:
    return api.post(who, URL, json={"steps": steps})


def loop_steps(ids: list[int]) -> list[dict[str, Any]]:
    """Step k of every case, then step k+1 … (as a department system sends them)."""
    return [{"case_id": cid, "action": action, **body} for action, body in LOOP for cid in ids]


def history(api: Api, cid: int) -> list[tuple[Any, ...]]:
    entries = api.get("admin", f"/api/v1/cases/{cid}/history").json()["entries"]
    return [(e["seq"], e["actor"], e["role"], e["action"], e["from"], e["to"], e["reason"], sorted(e["data"]))
            for e in entries]


def status(api: Api, cid: int) -> str:
    return str(api.get("admin", f"/api/v1/cases/{cid}").json()["status"])


def outbox_steps(db: str, cid: int) -> list[str]:
    with connect(db) as conn:
        rows = conn.execute("SELECT subject FROM event_outbox WHERE key = ? ORDER BY id", (str(cid),)).fetchall()
    return [str(r[0]) for r in rows]


def test_a_batch_equals_the_same_steps_one_by_one(api: Api) -> None:
    api.platform.store.write(lambda repo: repo.set_setting("stream.nats", "nats://127.0.0.1:4222"))  # outbox on
    one, many = cases(api, 3), cases(api, 3)
    for action, body in LOOP:
        for cid in one:
            assert api.act("admin", cid, action, **body).status_code == 200
    r = batch(api, "admin", loop_steps(many))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["done"] == 15 and out["refused"] == 0
    assert [(x["case_id"], x["action"]) for x in out["results"]] == [(s["case_id"], s["action"]) for s in loop_steps(many)]
    assert out["results"][-1] == {"case_id": many[-1], "action": "verify", "ok": True, "status": "closed",
                                  "status_name": "已结案", "status_name_en": "Closed"}
    db = api.platform.store.path
    for a, b in zip(one, many, strict=True):
        assert status(api, a) == status(api, b) == "closed"
        assert history(api, a) == history(api, b)  # same actor, role, steps, reasons
        assert outbox_steps(db, a) == outbox_steps(db, b) and len(outbox_steps(db, b)) == 6
    verified = subprocess.run([sys.executable, "-m", "cityops", "history", "verify", "--db", db],
                              capture_output=True, text=True)
    assert verified.returncode == 0 and "6 case histories intact" in verified.stdout, verified.stdout
    assert api.get("admin", "/api/v1/history/verify").json()["intact"] is True


def test_a_refused_step_leaves_the_others_and_the_case_s_later_steps_are_not_tried(api: Api) -> None:
    c1, c2, c3 = cases(api, 3)
    api.act("acceptor", c2, "register")
    before = history(api, c2)
    r = batch(api, "admin", [
        {"case_id": c1, "action": "register"},
        {"case_id": c2, "action": "register"},  # already registered: refused
        {"case_id": c3, "action": "register"},
        {"case_id": c2, "action": "dispatch"},  # would work alone, but followed a refused step
        {"case_id": c1, "action": "dispatch"},
        {"case_id": c3, "action": "dispatch", "department": "NO-SUCH-DEPT"},
        {"case_id": 10**9, "action": "register"},
    ])
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["done"] == 3 and out["refused"] == 4
    res = out["results"]
    assert [x["ok"] for x in res] == [True, False, True, False, True, False, False]
    assert res[1]["error"] == "illegal_transition" and res[1]["http_status"] == 409 and res[1]["message_zh"]
    assert res[3]["error"] == "earlier_step_refused" and res[3]["http_status"] == 409
    assert "steps[1]" in res[3]["message"] and "第 2 步" in res[3]["message_zh"]
    assert res[5]["error"] == "invalid_input" and res[5]["http_status"] == 422
    assert res[6]["error"] == "not_found" and res[6]["http_status"] == 404
    assert (status(api, c1), status(api, c2), status(api, c3)) == ("dispatched", "registered", "registered")
    assert history(api, c2) == before


def test_a_step_refused_after_it_wrote_is_undone_alone(api: Api) -> None:
    """A listener refusing after the step's row and history entry were written (its savepoint
    rolls back both; the steps before and after it stand)."""
    from cityops import hooks
    from cityops.errors import InvalidInput

    def refuse(repo: Any, platform: Any, before: Any, after: Any, change: Any) -> None:
        if change.reason == "boom":
            raise InvalidInput("refused by a listener", "监听器拒绝")

    c1, c2 = cases(api, 2)
    hooks.on_case_changed(refuse)
    try:
        r = batch(api, "admin", [{"case_id": c1, "action": "register"}, {"case_id": c2, "action": "register",
                                                                           "reason": "boom"},
                                 {"case_id": c2, "action": "register"}, {"case_id": c1, "action": "dispatch"}])
    finally:
        hooks._case_listeners.remove(refuse)
    assert [x["ok"] for x in r.json()["results"]] == [True, False, False, True]
    assert status(api, c2) == "reported" and len(history(api, c2)) == 1
    assert status(api, c1) == "dispatched" and len(history(api, c1)) == 3
    assert api.get("admin", "/api/v1/history/verify").json()["intact"] is True


def test_roles_and_departments_are_checked_per_step(api: Api) -> None:
    c1, c2 = cases(api, 2)
    r = batch(api, "acceptor", [{"case_id": c1, "action": "register"}, {"case_id": c1, "action": "dispatch"},
                                {"case_id": c2, "action": "register"}])
    res = r.json()["results"]
    assert [x["ok"] for x in res] == [True, False, True]
    assert res[1]["error"] == "forbidden" and res[1]["http_status"] == 403
    assert api.get("admin", f"/api/v1/cases/{c1}/history").json()["entries"][-1]["actor"] == "acceptor"
    batch(api, "dispatcher", [{"case_id": c1, "action": "dispatch"}, {"case_id": c2, "action": "dispatch"}])
    dept = api.get("admin", f"/api/v1/cases/{c1}").json()["department"]
    other = next(d.code for d in api.platform.city.departments if d.code != dept)
    api.act("admin", c2, "return", reason="不归我们 / not ours")
    api.act("admin", c2, "dispatch", department=other)
    # The department operator takes its own case's steps; the other department's case is not its to see.
    res = batch(api, dept, [{"case_id": c1, "action": "accept"}, {"case_id": c2, "action": "accept"}]).json()["results"]
    assert res[0]["ok"] is True and res[0]["status"] == "disposing"
    assert res[1]["ok"] is False and res[1]["error"] == "forbidden"
    assert status(api, c2) == "dispatched"
    entries = api.get("admin", f"/api/v1/cases/{c1}/history").json()["entries"]
    with api.platform.store.read() as repo:
        assert entries[-1]["actor"] == next(u.name for u in repo.list_users() if u.department == dept)


def test_the_limit_and_a_malformed_step_refuse_the_whole_request_before_any_write(api: Api) -> None:
    (c1,) = cases(api, 1)
    steps = [{"case_id": c1, "action": "register"}] + [{"case_id": c1, "action": "comment", "reason": "x"}] * 500
    r = batch(api, "admin", steps)
    assert r.status_code == 422
    body = r.json()
    assert "at most 500" in body["message"] and "最多 500 步" in body["message_zh"]
    r = batch(api, "admin", [{"case_id": c1, "action": "register"}, {"case_id": c1, "action": "fly"}])
    assert r.status_code == 422 and "steps.1.action" in r.json()["message"]
    assert status(api, c1) == "reported" and len(history(api, c1)) == 1
    assert batch(api, "admin", []).json() == {"done": 0, "refused": 0, "results": []}
    r = batch(api, "admin", steps[:500])  # exactly the limit
    assert r.status_code == 200 and r.json()["done"] == 500
    assert len(history(api, c1)) == 501


def test_running_a_finished_batch_again_refuses_instead_of_repeating(api: Api) -> None:
    ids = cases(api, 4)
    first = batch(api, "admin", loop_steps(ids)).json()
    assert first["done"] == 20
    heads = {cid: history(api, cid) for cid in ids}
    again = batch(api, "admin", loop_steps(ids)).json()
    assert again["done"] == 0 and again["refused"] == 20
    codes = {x["error"] for x in again["results"]}
    assert codes == {"illegal_transition", "earlier_step_refused"}
    assert {cid: history(api, cid) for cid in ids} == heads


def test_the_route_is_documented_with_the_other_case_routes(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    assert "post" in schema["paths"]["/api/v1/cases/actions"]


# Hypothesis: a random batch gives what the same steps give one by one (a client that stops a
# case's steps at its first refusal), on statuses, histories and per-step answers.

ACTIONS = [("register", {}), ("reject", {"reason": "重复 / duplicate"}), ("dispatch", {}),
           ("accept", {}), ("return", {"reason": "非本单位 / not ours"}), ("report_back", {}),
           ("verify", {"passed": True}), ("verify", {"passed": False}), ("comment", {"reason": "备注"})]
WHO = ["admin", "acceptor", "dispatcher", "verifier"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(who=st.sampled_from(WHO), plan=st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, len(ACTIONS) - 1)), min_size=1, max_size=12))
def test_a_random_batch_equals_one_by_one(api: Api, who: str, plan: list[tuple[int, int]]) -> None:
    one, many = cases(api, 3), cases(api, 3)
    expected, stopped = [], set()
    for k, a in plan:
        action, body = ACTIONS[a]
        if k in stopped:
            expected.append((False, "earlier_step_refused"))
            continue
        r = api.act(who, one[k], action, **body)
        ok = r.status_code == 200
        expected.append((ok, r.json()["status"] if ok else r.json()["error"]))
        if not ok:
            stopped.add(k)
    r = batch(api, who, [{"case_id": many[k], "action": ACTIONS[a][0], **ACTIONS[a][1]} for k, a in plan])
    got = [(x["ok"], x["status"] if x["ok"] else x["error"]) for x in r.json()["results"]]
    assert got == expected
    for a, b in zip(one, many, strict=True):
        assert status(api, a) == status(api, b)
        assert [h[1:] for h in history(api, a)] == [h[1:] for h in history(api, b)]


def test_a_batch_crosses_to_the_write_process(platform: Any) -> None:
    """The server's writes run in a write process: the batch's op and its steps are pickled there
    and the outcomes come back."""
    import asyncio

    from cityops.cases import bulk, service
    from cityops.cases.models import Action, Actor, Role
    from cityops.cases.workflow import Command
    from cityops.core import utcnow

    admin = Actor("admin", Role.ADMIN)
    new = service.NewReport(matter_code=MATTER, description="积水 / water", lon=114.3055, lat=30.5928)
    ids = [platform.store.write(lambda repo: service.intake(repo, platform, new, admin, utcnow())).id for _ in range(2)]

    async def main() -> Any:
        await platform.start_write_process()
        try:
            now = utcnow()
            steps = [bulk.Step(ids[0], Command(Action.REGISTER, admin, now)),
                     bulk.Step(ids[1], Command(Action.DISPATCH, admin, now)),
                     bulk.Step(ids[1], Command(Action.REGISTER, admin, now))]
            return steps, await platform.awrite(bulk.act_many, steps)
        finally:
            await platform.stop_write_process()

    steps, outcomes = asyncio.run(main())
    out = bulk.results_json(steps, outcomes)
    assert [r["ok"] for r in out["results"]] == [True, False, False]
    assert out["results"][0]["status"] == "registered" and out["results"][2]["error"] == "earlier_step_refused"


def register_both_while(api: Api, listener: Any, c1: int, c2: int) -> Any:
    """A batch registering c1 then c2, with `listener` hearing every case change meanwhile."""
    from cityops import hooks

    hooks.on_case_changed(listener)
    try:
        return batch(api, "admin", [{"case_id": c1, "action": "register"}, {"case_id": c2, "action": "register"}])
    finally:
        hooks._case_listeners.remove(listener)


def notified(db: str, cid: int) -> list[tuple[Any, ...]]:
    with connect(db) as conn:
        rows = conn.execute("SELECT seq, channel, address, subject FROM notify_outbox WHERE case_id = ? ORDER BY seq",
                            (cid,)).fetchall()
    return [tuple(r) for r in rows]


def test_a_batch_notifies_subscribers_as_single_steps_do(api: Api) -> None:
    """The batch reads its cases' subscriptions ahead in one query (most cases have none): a
    case with a reporter's contact is told of each public step as when its steps go one by one."""
    contact = {"attributes": {"contact": {"email": "ren@example.org"}}}
    one, many = [api.report(matter_code=MATTER, **contact).json()["id"] for _ in range(2)]
    quiet = cases(api, 1)[0]
    for action, body in LOOP:
        assert api.act("admin", one, action, **body).status_code == 200
    r = batch(api, "admin", loop_steps([many, quiet]))
    assert r.json()["done"] == 10, r.text
    db = api.platform.store.path
    assert [x[:3] for x in notified(db, one)] == [x[:3] for x in notified(db, many)] and notified(db, many)
    assert [x[3] for x in notified(db, one)] == [x[3].replace(str(many), str(one)) for x in notified(db, many)]
    assert notified(db, quiet) == []


def test_a_case_changed_by_an_earlier_step_of_the_batch_is_read_afresh(api: Api) -> None:
    """A case read ahead and then saved within the batch without being read through the repo
    (here by a listener of another case's step, from a query of its own) is read again for its
    own step: no stale version, no false conflict."""
    from cityops.cases.models import Change
    from cityops.store.codec import row_to_case

    c1, c2 = cases(api, 2)

    def touch(repo: Any, platform: Any, before: Any, after: Any, change: Any) -> None:
        if after.id == c1 and change.action == "register":
            other = row_to_case(repo.conn.execute("SELECT * FROM cases WHERE id = ?", (c2,)).fetchone())
            repo.save_case(other, Change(c2, change.at, "admin", "admin", "comment", other.status.value,
                                         other.status.value, "同一地点 / same place"))

    r = register_both_while(api, touch, c1, c2)
    assert [x["ok"] for x in r.json()["results"]] == [True, True], r.text
    assert [h[3] for h in history(api, c2)] == ["report", "comment", "register"]
    assert api.get("admin", "/api/v1/history/verify").json()["intact"] is True


def test_a_subscription_made_within_the_batch_is_heard_by_its_later_steps(api: Api) -> None:
    """Subscriptions read ahead are dropped when the batch makes one (here a listener of another
    case's step subscribes to c2): c2's own step is then told to the new subscriber."""
    from cityops.notify.outbox import subscribe

    c1, c2 = cases(api, 2)

    def follow(repo: Any, platform: Any, before: Any, after: Any, change: Any) -> None:
        if after.id == c1 and change.action == "register":
            subscribe(repo.conn, c2, "email", "neighbour@example.org", "subscriber", change.at)

    r = register_both_while(api, follow, c1, c2)
    assert [x["ok"] for x in r.json()["results"]] == [True, True], r.text
    assert [x[2] for x in notified(api.platform.store.path, c2)] == ["neighbour@example.org"]
