"""The seven-step workflow as a pure state machine: legality, effects, invariants."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityops.cases.models import FINAL_STATUSES, Action, Actor, Case, Role, Status
from cityops.cases.workflow import RULES, Command, allowed_actions, apply
from cityops.errors import CityopsError, Forbidden, IllegalTransition, InvalidInput

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


class FakeClock:
    """Four hours per time limit; extensions and suspensions move due times plainly."""

    def due(self, case: Case, start: datetime) -> datetime:
        return start + timedelta(hours=4)

    def extend(self, due: datetime, amount: float, unit: str) -> datetime:
        return due + timedelta(hours=amount)

    def shift(self, due: datetime, stopped_at: datetime, resumed_at: datetime) -> datetime:
        return due + (resumed_at - stopped_at)


CLOCK = FakeClock()
ACCEPTOR = Actor("a", Role.ACCEPTOR)
DISPATCHER = Actor("d", Role.DISPATCHER)
DEPT = Actor("w", Role.DEPARTMENT, "WH-WATER")
OTHER_DEPT = Actor("x", Role.DEPARTMENT, "WH-GAS")
VERIFIER = Actor("v", Role.VERIFIER)
SUPERVISOR = Actor("s", Role.SUPERVISOR)


def new_case(**kw: object) -> Case:
    base = Case(
        id=1, status=Status.REPORTED, source="test", matter_code="06001", description="垃圾",
        lon=114.3, lat=30.55, district="420106", grid="420106001001001", area_class="A",
        reported_at=T0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def step(case: Case, action: Action, actor: Actor, minutes: int = 10, **kw: object) -> Case:
    cmd = Command(action, actor, case.reported_at + timedelta(minutes=minutes), **kw)  # type: ignore[arg-type]
    new, change = apply(case, cmd, CLOCK)
    assert change.from_status == case.status.value and change.to_status == new.status.value
    return new


def test_happy_path_closes_on_time() -> None:
    c = step(new_case(), Action.REGISTER, ACCEPTOR)
    c = step(c, Action.DISPATCH, DISPATCHER, 20, department="WH-WATER")
    assert c.status is Status.DISPATCHED and c.due_at == T0 + timedelta(minutes=20, hours=4)
    c = step(c, Action.ACCEPT, DEPT, 30)
    c = step(c, Action.REPORT_BACK, DEPT, 90)
    assert c.overdue_disposed is False
    c = step(c, Action.VERIFY, VERIFIER, 120, passed=True)
    assert c.status is Status.CLOSED and c.closed_at is not None


def test_failed_verification_is_rework_never_closed() -> None:
    c = new_case(status=Status.REPORTED_BACK, department="WH-WATER", due_at=T0 + timedelta(hours=4))
    c = step(c, Action.VERIFY, VERIFIER, passed=False, reason="未整改")
    assert c.status is Status.DISPOSING and c.rework_count == 1
    with pytest.raises(InvalidInput):
        step(replace(c, status=Status.REPORTED_BACK), Action.VERIFY, VERIFIER, passed=False)


def test_return_goes_back_for_redispatch() -> None:
    c = new_case(status=Status.DISPATCHED, department="WH-WATER", due_at=T0)
    c = step(c, Action.RETURN, DEPT, reason="非本单位")
    assert c.status is Status.REGISTERED and c.department is None and c.return_count == 1


def test_department_scope_and_role_separation() -> None:
    c = new_case(status=Status.DISPATCHED, department="WH-WATER", due_at=T0)
    with pytest.raises(Forbidden):
        step(c, Action.ACCEPT, OTHER_DEPT)
    with pytest.raises(Forbidden):
        step(c, Action.ACCEPT, DISPATCHER)  # command does not dispose
    reported_back = replace(c, status=Status.REPORTED_BACK)
    with pytest.raises(Forbidden):
        step(reported_back, Action.VERIFY, DEPT, passed=True)  # no one verifies their own work


def test_extension_and_suspension_move_the_due_time() -> None:
    due = T0 + timedelta(hours=4)
    c = new_case(status=Status.DISPOSING, department="WH-WATER", due_at=due)
    c = step(c, Action.REQUEST_EXTENSION, DEPT, amount=2, unit="working_hours", reason="设备")
    with pytest.raises(IllegalTransition):
        step(c, Action.REQUEST_EXTENSION, DEPT, amount=2, unit="working_hours", reason="again")
    c = step(c, Action.APPROVE_EXTENSION, SUPERVISOR)
    assert c.due_at == due + timedelta(hours=2) and c.extension_count == 1
    c = step(c, Action.SUSPEND, SUPERVISOR, 10, reason="等待产权认定")
    c = step(c, Action.RESUME, SUPERVISOR, 70)
    assert c.status is Status.DISPOSING and c.due_at == due + timedelta(hours=3)


def test_illegal_transition_message_says_what_is_legal() -> None:
    with pytest.raises(IllegalTransition) as err:
        step(new_case(), Action.DISPATCH, DISPATCHER, department="WH-WATER")
    assert "registered" in str(err.value)


ACTIONS = list(Action)
ACTORS = [ACCEPTOR, DISPATCHER, DEPT, OTHER_DEPT, VERIFIER, SUPERVISOR, Actor("root", Role.ADMIN)]


@st.composite
def commands(draw: st.DrawFn) -> tuple[Action, Actor, dict[str, object]]:
    action = draw(st.sampled_from(ACTIONS))
    actor = draw(st.sampled_from(ACTORS))
    extra: dict[str, object] = {
        "reason": draw(st.sampled_from(["", "原因"])),
        "department": draw(st.sampled_from([None, "WH-WATER"])),
        "passed": draw(st.sampled_from([None, True, False])),
        "target": draw(st.sampled_from([None, 1, 2])),
        "amount": draw(st.sampled_from([None, 2.0])),
        "unit": draw(st.sampled_from([None, "working_hours", "fortnights"])),
    }
    return action, actor, extra


@settings(max_examples=300, deadline=None)
@given(st.lists(commands(), max_size=40))
def test_any_command_sequence_keeps_the_invariants(seq: list[tuple[Action, Actor, dict[str, object]]]) -> None:
    case = new_case()
    for minute, (action, actor, extra) in enumerate(seq, start=1):
        before = case
        try:
            case = step(case, action, actor, minute, **extra)
        except CityopsError:
            assert case == before  # refused: nothing changed
            continue
        rule = RULES[action]
        assert before.status in rule.sources
        assert actor.role is Role.ADMIN or actor.role in rule.roles
        assert before.status not in FINAL_STATUSES or action is Action.COMMENT or (
            action is Action.REOPEN and before.status is Status.CLOSED)
        if case.status is Status.CLOSED and before.status is not Status.CLOSED:
            assert case.disposed_at is not None and case.registered_at is not None
        assert case.rework_count >= before.rework_count
        if case.status in (Status.DISPATCHED, Status.DISPOSING, Status.REPORTED_BACK):
            assert case.department and case.due_at is not None
        assert action in allowed_actions(before, actor)


def test_final_statuses_allow_only_comments() -> None:
    for status in FINAL_STATUSES:
        for actor in ACTORS:
            reopen = {Action.REOPEN} if status is Status.CLOSED else set()
            assert set(allowed_actions(new_case(status=status), actor)) <= {Action.COMMENT} | reopen


@settings(max_examples=200, deadline=None)
@given(st.lists(commands(), max_size=12))
def test_evolve_and_the_stored_row_give_the_cases_dataclasses_would(seq: list[tuple[Action, Actor, dict[str, object]]]) -> None:
    """The hot path's `evolve` and `case_of` equal dataclasses.replace and Case(...), on every
    case a command sequence reaches; a stored row reads back as the case it was."""
    from cityops.cases.models import evolve
    from cityops.store.codec import case_to_row, row_to_case

    case = new_case()
    for minute, (action, actor, extra) in enumerate(seq, start=1):
        with contextlib.suppress(CityopsError):
            case = step(case, action, actor, minute, **extra)
        changes = {"version": case.version + 1, "history_head": f"h{minute}", "status": case.status}
        assert evolve(case, **changes) == replace(case, **changes)
        assert evolve(case, **changes).__dict__ == replace(case, **changes).__dict__
        assert row_to_case(case_to_row(case)) == case
    with pytest.raises(TypeError):
        evolve(case, no_such_field=1)
