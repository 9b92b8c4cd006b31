"""Return visits (回访): the reporter's answer, rework (重办) with the history saying why, the
operators' call-back queue, supervisor review, escalation, REOPEN's legality, and a simulated
day whose citizen indicators match a hand count."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityops.cases import service
from cityops.cases.models import FINAL_STATUSES, Action, Actor, Case, Role, Status
from cityops.cases.workflow import Command, allowed_actions, apply
from cityops.core import utcnow
from cityops.errors import CityopsError, Forbidden, IllegalTransition, InvalidInput
from cityops.notify.indicators import citizen_indicators
from conftest import add_users
from field_support import site_photo
from test_workflow import FakeClock

WUHAN = (114.3055, 30.5928)
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


# --- REOPEN in the pure state machine -------------------------------------------------------


def closed_case(**kw: Any) -> Case:
    base = Case(id=1, status=Status.CLOSED, source="hotline_12345", matter_code="06001", description="垃圾",
                lon=114.3, lat=30.55, district="420106", grid="420106001001001", area_class="A", reported_at=T0,
                department="WH-WATER", due_at=T0 + timedelta(hours=4), accepted_at=T0, disposed_at=T0,
                overdue_disposed=False, closed_at=T0 + timedelta(hours=1), registered_at=T0, dispatched_at=T0)
    return replace(base, **kw)


ROLES = list(Role)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(Status)), st.sampled_from(ROLES), st.sampled_from(["", "  ", "回访不满意"]),
       st.booleans())
def test_reopen_is_legal_only_from_closed_by_system_or_supervisor(
        status: Status, role: Role, reason: str, dispatched: bool) -> None:
    case = closed_case(status=status, department="WH-WATER" if dispatched else None)
    actor = Actor("x", role, "WH-WATER" if role is Role.DEPARTMENT else None)
    at = T0 + timedelta(days=2)
    legal = (status is Status.CLOSED and role in (Role.SYSTEM, Role.SUPERVISOR, Role.ADMIN)
             and bool(reason.strip()) and dispatched)
    try:
        new, change = apply(case, Command(Action.REOPEN, actor, at, reason=reason), FakeClock())
    except (Forbidden, IllegalTransition, InvalidInput):
        assert not legal
        return
    assert legal
    assert new.status is Status.DISPATCHED and new.department == case.department
    assert new.closed_at is None and new.disposed_at is None and new.accepted_at is None
    assert new.due_at == at + timedelta(hours=4)  # a fresh time limit, not the long-past one
    assert change.action == "reopen" and change.reason == reason and change.from_status == "closed"
    assert (Action.REOPEN in allowed_actions(case, actor)) is (role in (Role.SYSTEM, Role.SUPERVISOR, Role.ADMIN))


LIFE = [Action.REOPEN, Action.ACCEPT, Action.REPORT_BACK, Action.VERIFY, Action.ESCALATE, Action.COMMENT]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(LIFE), st.sampled_from(ROLES), st.booleans()), max_size=30))
def test_closed_iff_closed_at_whatever_reopens(seq: list[tuple[Action, Role, bool]]) -> None:
    case = closed_case()
    for minute, (action, role, passed) in enumerate(seq, start=1):
        actor = Actor("x", role, "WH-WATER" if role is Role.DEPARTMENT else None)
        before = case
        try:
            case, _ = apply(case, Command(action, actor, T0 + timedelta(hours=2, minutes=minute), reason="r",
                                          passed=passed), FakeClock())
        except CityopsError:
            assert case == before
            continue
        assert (case.status is Status.CLOSED) == (case.closed_at is not None)
        assert case.status not in FINAL_STATUSES - {Status.CLOSED}
        if case.status in (Status.DISPATCHED, Status.DISPOSING, Status.REPORTED_BACK):
            assert case.department and case.due_at is not None


# --- against the store and HTTP -----------------------------------------------------------
@pytest.fixture
def client(platform: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from cityops.api.app import create_app
    from cityops.auth.service import new_user

    users = [new_user(n, n, None, "test-password-1", set()) for n in ("acceptor", "supervisor")]

    tokens = add_users(platform, users)
    with TestClient(create_app(platform)) as c:
        c.hdr = {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()}  # type: ignore[attr-defined]
        yield c


def new_case(platform: Any, contact: dict[str, str] | None, source: str = "citizen_app") -> int:
    rep = service.NewReport(matter_code="06010", description="暴露垃圾", lon=WUHAN[0], lat=WUHAN[1], source=source,
                            attributes={"contact": contact} if contact else {})
    case = platform.store.write(lambda r: service.intake(r, platform, rep, Actor("acc", Role.ACCEPTOR), utcnow()))
    return int(case.id)


def act(platform: Any, case_id: int, action: Action, role: Role, **kw: Any) -> Case:
    def op(repo: Any) -> Case:
        dept = repo.get_case(case_id).department
        actor = Actor(role.value, role, dept if role is Role.DEPARTMENT else None)
        return service.act(repo, platform, case_id, Command(action, actor, utcnow(), **kw))
    return platform.store.write(op)  # type: ignore[no-any-return]


def close(platform: Any, case_id: int, first: bool = True) -> None:
    if first:
        act(platform, case_id, Action.REGISTER, Role.ACCEPTOR)
        act(platform, case_id, Action.DISPATCH, Role.DISPATCHER)
    act(platform, case_id, Action.ACCEPT, Role.DEPARTMENT)
    act(platform, case_id, Action.REPORT_BACK, Role.DEPARTMENT)
    site_photo(platform, case_id)
    act(platform, case_id, Action.VERIFY, Role.VERIFIER, passed=True)


def revisit_link(platform: Any, case_id: int) -> str:
    with platform.store.read() as repo:
        bodies = [r[0] for r in repo.conn.execute(
            "SELECT body FROM notify_outbox WHERE case_id = ? AND channel = 'email' ORDER BY id", (case_id,))]
    found = re.search(r"/r/[\w-]+", bodies[-1])
    assert found, bodies[-1]
    return found.group(0)


def test_unsatisfied_reporter_sends_the_case_back_with_the_history_saying_why(platform: Any, client: Any) -> None:
    case_id = new_case(platform, {"email": "ren@example.org"})
    close(platform, case_id)
    link = revisit_link(platform, case_id)
    form = client.get(link)
    assert form.status_code == 200 and "不满意" in form.text and "<script" not in form.text and "http" not in form.text
    r = client.post(link, data={"solved": "yes", "satisfaction": "unsatisfied", "comment": "垃圾又堆起来了"})
    assert r.status_code == 200 and "重新办理" in r.text
    with platform.store.read() as repo:
        case = repo.get_case(case_id)
        history = repo.history(case_id)
        row = repo.conn.execute("SELECT * FROM revisits WHERE case_id = ?", (case_id,)).fetchone()
    assert case.status is Status.DISPATCHED and case.closed_at is None
    answer, reopen = history[-2].change, history[-1].change
    assert answer.action == "comment" and answer.actor == "revisit"
    assert "不满意" in answer.reason and "垃圾又堆起来了" in answer.reason
    assert reopen.action == "reopen" and reopen.role == "system" and reopen.from_status == "closed"
    assert "不满意" in reopen.reason and "重办" in reopen.reason
    assert (row["status"], row["satisfaction"], row["solved"], row["outcome"]) == ("answered", "unsatisfied", 1, "reopened")
    # The reporter hears of the rework; answering twice is refused.
    with platform.store.read() as repo:
        last = repo.conn.execute("SELECT subject FROM notify_outbox ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert "重办" in last
    assert client.post(link, data={"solved": "yes", "satisfaction": "satisfied"}).status_code == 409
    assert "已评价" in client.get(link).text
    # Reworked and closed again: a second return visit, answered well, leaves it closed.
    close(platform, case_id, first=False)
    second = revisit_link(platform, case_id)
    assert second != link
    assert client.post(second, data={"solved": "yes", "satisfaction": "basic"}).status_code == 200
    with platform.store.read() as repo:
        assert repo.get_case(case_id).status is Status.CLOSED


def test_hotline_callers_wait_in_the_operators_queue(platform: Any, client: Any) -> None:
    case_id = new_case(platform, {"phone": "13800138000"}, source="hotline_12345")
    close(platform, case_id)
    inspector = new_case(platform, None, source="inspector")
    close(platform, inspector)  # the city's own inspector: no citizen to call back
    queue = client.get("/api/v1/revisits?status=pending&mode=call", headers=client.hdr["acceptor"]).json()["revisits"]
    assert [q["case_id"] for q in queue] == [case_id]
    assert queue[0]["contact"]["phone"] == "13800138000" and queue[0]["description"] == "暴露垃圾"
    bad = client.post(f"/api/v1/revisits/{queue[0]['id']}", headers=client.hdr["acceptor"],
                      json={"solved": True, "satisfaction": "so-so"})
    assert bad.status_code == 422
    ok = client.post(f"/api/v1/revisits/{queue[0]['id']}", headers=client.hdr["acceptor"],
                     json={"solved": True, "satisfaction": "satisfied"})
    assert ok.status_code == 200 and ok.json()["outcome"] == "" and ok.json()["case_status"] == "closed"
    assert client.get("/api/v1/revisits?status=pending", headers=client.hdr["acceptor"]).json()["revisits"] == []
    rows = client.get("/api/v1/indicators/citizen?by=channel", headers=client.hdr["acceptor"]).json()["rows"]
    hotline = next(r for r in rows if r["channel"] == "hotline_12345")
    assert (hotline["revisit_due"], hotline["revisited"], hotline["satisfaction_rate"]) == (1, 1, 1.0)
    assert rows[-1]["channel"] == "city" and rows[-1]["revisit_due"] == 1
    assert client.get("/api/v1/indicators/citizen?by=nowhere", headers=client.hdr["acceptor"]).status_code == 422


def test_review_mode_sends_it_to_a_supervisor_and_window_limits_reopening(platform: Any, client: Any) -> None:
    platform.store.write(lambda repo: repo.set_setting("notify.unsatisfied", "review"))
    case_id = new_case(platform, None, source="hotline_12345")
    close(platform, case_id)
    rid = client.get("/api/v1/revisits", headers=client.hdr["acceptor"]).json()["revisits"][0]["id"]
    r = client.post(f"/api/v1/revisits/{rid}", headers=client.hdr["acceptor"],
                    json={"solved": False, "satisfaction": "unsatisfied", "comment": "没人来"})
    assert r.json()["outcome"] == "review" and r.json()["case_status"] == "closed"
    review = client.get("/api/v1/revisits?status=review", headers=client.hdr["supervisor"]).json()["revisits"]
    assert [x["case_id"] for x in review] == [case_id]
    back = client.post(f"/api/v1/cases/{case_id}/actions/reopen", headers=client.hdr["supervisor"],
                       json={"reason": "复核：确未解决 / reviewed: not solved"})
    assert back.status_code == 200 and back.json()["status"] == "dispatched"
    # Outside the window an unsatisfied answer is recorded but reopens nothing.
    platform.store.write(lambda repo: (repo.set_setting("notify.unsatisfied", "reopen"),
                                       repo.set_setting("notify.revisit_window_days", "0")))
    late = new_case(platform, None, source="hotline_12345")
    close(platform, late)
    rid = client.get("/api/v1/revisits?status=pending", headers=client.hdr["acceptor"]).json()["revisits"][0]["id"]
    r = client.post(f"/api/v1/revisits/{rid}", headers=client.hdr["acceptor"],
                    json={"solved": False, "satisfaction": "unsatisfied"})
    assert r.json()["outcome"] == "" and r.json()["case_status"] == "closed"


def test_a_case_reopened_too_often_is_escalated(platform: Any) -> None:
    from cityops.notify.revisit import Answer, answer_by_id

    platform.store.write(lambda repo: repo.set_setting("notify.max_reopens", "1"))
    case_id = new_case(platform, None, source="hotline_12345")
    close(platform, case_id)
    outcomes = []
    for _ in range(2):
        with platform.store.read() as repo:
            rid = repo.conn.execute("SELECT max(id) FROM revisits").fetchone()[0]
        result = platform.store.write(lambda repo, rid=rid: answer_by_id(
            repo, platform, rid, Answer(False, "unsatisfied"), Actor("op", Role.ACCEPTOR), utcnow()))
        outcomes.append(result["outcome"])
        close(platform, case_id, first=False) if result["outcome"] == "reopened" else None
    assert outcomes == ["reopened", "escalated"]
    with platform.store.read() as repo:
        case = repo.get_case(case_id)
        last = repo.history(case_id)[-1].change
    assert case.escalated and case.status is Status.DISPATCHED and last.action == "escalate"


def test_a_simulated_day_matches_a_hand_count(platform: Any) -> None:
    from cityops.notify.revisit import simulate_answers
    from cityops.sim.demo import DayPlayer, demo_day

    actors = {n: Actor(n, Role(n)) for n in ("collector", "acceptor", "dispatcher", "verifier", "supervisor")}
    actors.update({f"dept-{d.code.lower()}": Actor(d.code, Role.DEPARTMENT, d.code) for d in platform.city.departments})
    # A fixed point of the week, not the clock: the day played runs from the previous working
    # day's 08:00 to `now`, and run at 00:30 city time that left too few closures to answer.
    zone = platform.calendar.zone
    day = (utcnow().astimezone(zone) - timedelta(days=1)).date()
    while day.weekday() != 0:  # the last Monday before today, 18:00 city time (from Friday 08:00)
        day -= timedelta(days=1)
    now = datetime(day.year, day.month, day.day, 18, 0, tzinfo=zone)
    player = DayPlayer(platform, actors, demo_day(platform, now), now, seed=7)
    player.report(150)
    player.play()
    stats, reopened = simulate_answers(platform, 7, now)
    assert len(reopened) == stats["revisit_reopened"]
    assert stats["revisit_answered"] > 50
    with platform.store.read() as repo:
        rows = [dict(r) for r in repo.conn.execute(
            "SELECT r.*, c.source, c.district FROM revisits r JOIN cases c ON c.id = r.case_id")]
        city = citizen_indicators(repo.conn, "city").to_dicts()[0]
        by_district = citizen_indicators(repo.conn, "district", total=True).to_dicts()
        accepts = {r[0]: r[1] for r in repo.conn.execute(
            "SELECT case_id, min(at) FROM case_history WHERE action = 'accept' GROUP BY case_id")}
        reported = {r[0]: r[1] for r in repo.conn.execute("SELECT id, reported_at FROM cases")}
    answered = [r for r in rows if r["status"] != "pending"]
    hand = {
        "revisit_due": len(rows), "revisited": len(answered),
        "solved": sum(r["solved"] == 1 for r in answered),
        "satisfied": sum(r["satisfaction"] in ("satisfied", "basic") for r in answered),
        "unsatisfied": sum(r["satisfaction"] == "unsatisfied" for r in answered),
        "reopened": sum(r["outcome"] in ("reopened", "escalated") for r in answered),
    }
    assert {k: city[k] for k in hand} == hand
    assert city["revisit_rate"] == pytest.approx(hand["revisited"] / hand["revisit_due"])
    assert city["satisfaction_rate"] == pytest.approx(hand["satisfied"] / hand["revisited"])
    assert city["solve_rate"] == pytest.approx(hand["solved"] / hand["revisited"])
    assert city["reopen_rate"] == pytest.approx(hand["reopened"] / hand["revisited"])
    hours = [(accepts[c] - reported[c]) / 3.6e9 for c in accepts]
    assert city["avg_response_hours"] == pytest.approx(sum(hours) / len(hours))
    assert 0.80 <= city["satisfaction_rate"] <= 0.98  # realistic, as 12345 centres report
    assert not any(r["source"] == "inspector" for r in rows)  # staff reports get no return visit
    groups = by_district[:-1]
    assert by_district[-1]["district"] == "city" and by_district[-1]["revisit_due"] == len(rows)
    assert sum(g["revisited"] for g in groups) == hand["revisited"]
    assert Counter({g["district"]: g["revisit_due"] for g in groups if g["revisit_due"]}) == Counter(
        r["district"] for r in rows)


def test_open311_app_subscribes_reads_the_questionnaire_and_answers(platform: Any, client: Any) -> None:
    from cityops.intake.open311.keys import new_key

    plain, record = new_key("app", "report", utcnow())
    other, other_record = new_key("other-app", "report", utcnow())
    platform.store.write(lambda repo: (repo.add_api_key(record), repo.add_api_key(other_record)))
    r = client.post("/open311/v2/requests.json", data={
        "api_key": plain, "service_code": "06010", "lat": WUHAN[1], "long": WUHAN[0], "description": "垃圾"})
    rid = int(r.json()[0]["service_request_id"])
    sub = client.post(f"/open311/v2/requests/{rid}/subscriptions.json",
                      data={"api_key": plain, "email": "fan@example.org"})
    assert sub.status_code == 201 and sub.json()[0]["subscription_token"]
    assert client.post(f"/open311/v2/requests/{rid}/subscriptions.json", data={"api_key": plain}).status_code == 400
    assert client.get(f"/open311/v2/requests/{rid}/questionnaire.json?api_key={plain}").json() == []
    close(platform, rid)
    q = client.get(f"/open311/v2/requests/{rid}/questionnaire.json?api_key={plain}").json()[0]
    assert q["status"] == "pending" and [x["code"] for x in q["questions"]] == ["solved", "satisfaction", "comment"]
    assert "/r/" in q["answer_url"]
    xml = client.get(f"/open311/v2/requests/{rid}/questionnaire.xml?api_key={plain}")
    assert xml.status_code == 200 and "<questionnaires>" in xml.text
    assert client.get(f"/open311/v2/requests/{rid}/questionnaire.json?api_key={other}").status_code == 403
    a = client.post(f"/open311/v2/requests/{rid}/questionnaire.json",
                    data={"api_key": plain, "solved": "no", "satisfaction": "不满意"})
    assert a.status_code == 200 and a.json()[0]["outcome"] == "reopened"
    again = client.post(f"/open311/v2/requests/{rid}/questionnaire.json",
                        data={"api_key": plain, "solved": "yes", "satisfaction": "satisfied"})
    assert again.status_code == 409
    with platform.store.read() as repo:
        assert repo.get_case(rid).status is Status.DISPATCHED
        # the subscriber heard of the closure (no question: that is the reporter's) and the 重办
        subjects = [r[0] for r in repo.conn.execute(
            "SELECT subject FROM notify_outbox WHERE address = 'fan@example.org' ORDER BY id")]
    assert any("已办结" in s for s in subjects) and "重办" in subjects[-1]
