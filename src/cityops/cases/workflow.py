"""The seven-step closed loop as a pure state machine.

`apply(case, command, clock)` returns the new case and the history change, or raises
`IllegalTransition` / `Forbidden` and changes nothing. Storage and HTTP live elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from cityops.cases.models import (
    ACTION_LABELS,
    FINAL_STATUSES,
    ROLE_LABELS,
    STATUS_LABELS,
    Action,
    Actor,
    Case,
    Change,
    Role,
    Status,
    evolve,
)
from cityops.errors import Forbidden, IllegalTransition, InvalidInput

S = Status


class DeadlineClock(Protocol):
    """What the workflow needs to know about time limits; implemented over the calendar."""

    def due(self, case: Case, start: datetime) -> datetime: ...

    def extend(self, due: datetime, amount: float, unit: str) -> datetime: ...

    def shift(self, due: datetime, stopped_at: datetime, resumed_at: datetime) -> datetime: ...


@dataclass(frozen=True)
class Command:
    action: Action
    actor: Actor
    at: datetime
    reason: str = ""
    department: str | None = None  # dispatch target
    matter_code: str | None = None  # register may correct the matter
    passed: bool | None = None  # verify
    target: int | None = None  # merge target
    amount: float | None = None  # extension
    unit: str | None = None


@dataclass(frozen=True)
class Rule:
    sources: frozenset[Status]
    roles: frozenset[Role]
    needs_reason: bool = False


_ANY_OPEN = frozenset(set(Status) - FINAL_STATUSES)
_ACCEPTING = frozenset({Role.ACCEPTOR, Role.SUPERVISOR})

# Which actions are legal from which statuses, and by whom. Supervision (collect, register,
# verify) is kept apart from command (dispatch) and from the departments (监督和处置互相分离).
RULES: dict[Action, Rule] = {
    Action.REGISTER: Rule(frozenset({S.REPORTED}), _ACCEPTING),
    Action.REJECT: Rule(frozenset({S.REPORTED}), _ACCEPTING, needs_reason=True),
    Action.MERGE: Rule(frozenset({S.REPORTED, S.REGISTERED}), _ACCEPTING),
    Action.DISPATCH: Rule(frozenset({S.REGISTERED}), frozenset({Role.DISPATCHER, Role.SUPERVISOR})),
    Action.ACCEPT: Rule(frozenset({S.DISPATCHED}), frozenset({Role.DEPARTMENT})),
    Action.RETURN: Rule(
        frozenset({S.DISPATCHED, S.DISPOSING}), frozenset({Role.DEPARTMENT}), needs_reason=True
    ),
    Action.REPORT_BACK: Rule(frozenset({S.DISPOSING}), frozenset({Role.DEPARTMENT})),
    Action.VERIFY: Rule(
        frozenset({S.REPORTED_BACK}),
        frozenset({Role.VERIFIER, Role.COLLECTOR, Role.SUPERVISOR}),
    ),
    Action.REQUEST_EXTENSION: Rule(
        frozenset({S.DISPATCHED, S.DISPOSING}), frozenset({Role.DEPARTMENT}), needs_reason=True
    ),
    Action.APPROVE_EXTENSION: Rule(
        frozenset({S.DISPATCHED, S.DISPOSING}), frozenset({Role.SUPERVISOR})
    ),
    Action.DENY_EXTENSION: Rule(
        frozenset({S.DISPATCHED, S.DISPOSING}), frozenset({Role.SUPERVISOR}), needs_reason=True
    ),
    Action.SUSPEND: Rule(
        frozenset({S.REGISTERED, S.DISPATCHED, S.DISPOSING}),
        frozenset({Role.SUPERVISOR}),
        needs_reason=True,
    ),
    Action.RESUME: Rule(frozenset({S.SUSPENDED}), frozenset({Role.SUPERVISOR})),
    Action.ESCALATE: Rule(
        frozenset({S.DISPATCHED, S.DISPOSING}), frozenset({Role.SUPERVISOR, Role.SYSTEM})
    ),
    Action.COMMENT: Rule(frozenset(Status), frozenset(Role), needs_reason=True),
    # 重办: the one way out of a closed case, when the reporter's return visit says it is not
    # solved; the platform (SYSTEM) or a supervisor decides, never the department itself.
    Action.REOPEN: Rule(frozenset({S.CLOSED}), frozenset({Role.SUPERVISOR, Role.SYSTEM}), needs_reason=True),
}


def allowed_actions(case: Case, actor: Actor) -> list[Action]:
    """The actions this actor may take on this case now (for UIs and API hints)."""
    out = []
    for action, rule in RULES.items():
        if case.status in rule.sources and _role_ok(rule, actor) and _scope_ok(case, actor):
            out.append(action)
    return out


def _role_ok(rule: Rule, actor: Actor) -> bool:
    return actor.role is Role.ADMIN or actor.role in rule.roles


def _scope_ok(case: Case, actor: Actor) -> bool:
    return actor.role is not Role.DEPARTMENT or (
        actor.department is not None and actor.department == case.department
    )


def check(case: Case, cmd: Command) -> None:
    """Refuse an illegal command with a message that says what would be legal."""
    rule = RULES[cmd.action]
    if not _scope_ok(case, cmd.actor):
        raise Forbidden(
            f"case {case.id} is not assigned to your department",
            f"案卷 {case.id} 不属于本单位",
        )
    if not _role_ok(rule, cmd.actor):
        roles = ", ".join(sorted(r.value for r in rule.roles))
        raise Forbidden(
            f"role '{cmd.actor.role}' may not {cmd.action}; allowed roles: {roles}",
            f"角色「{ROLE_LABELS[cmd.actor.role][0]}」无权执行「{ACTION_LABELS[cmd.action][0]}」",
        )
    if case.status not in rule.sources:
        legal = ", ".join(sorted(s.value for s in rule.sources))
        raise IllegalTransition(
            f"cannot {cmd.action} case {case.id} in status '{case.status}'; "
            f"'{cmd.action}' needs one of: {legal}",
            f"案卷 {case.id} 当前状态为「{STATUS_LABELS[case.status][0]}」，不能执行「{ACTION_LABELS[cmd.action][0]}」；"
            f"需处于：{'、'.join(STATUS_LABELS[s][0] for s in sorted(rule.sources))}",
        )
    if rule.needs_reason and not cmd.reason.strip():
        raise InvalidInput(
            f"'{cmd.action}' needs a reason", f"执行 {cmd.action} 必须填写原因"
        )


def apply(case: Case, cmd: Command, clock: DeadlineClock) -> tuple[Case, Change]:
    """Apply one command; returns (new case, change). Raises and changes nothing if illegal."""
    check(case, cmd)
    updates, data = _EFFECTS[cmd.action](case, cmd, clock)
    new = evolve(case, **updates, updated_at=cmd.at)
    change = Change(
        case_id=case.id,
        at=cmd.at,
        actor=cmd.actor.name,
        role=cmd.actor.role.value,
        action=cmd.action.value,
        from_status=case.status.value,
        to_status=new.status.value,
        reason=cmd.reason,
        data=data,
    )
    return new, change


Effect = Callable[[Case, Command, DeadlineClock], tuple[dict[str, Any], dict[str, Any]]]


def _register(case: Case, cmd: Command, clock: DeadlineClock) -> tuple[dict[str, Any], dict[str, Any]]:
    updates: dict[str, Any] = {"status": S.REGISTERED, "registered_at": cmd.at}
    data: dict[str, Any] = {}
    if cmd.matter_code and cmd.matter_code != case.matter_code:
        updates["matter_code"] = cmd.matter_code
        data["matter_code"] = cmd.matter_code
    return updates, data


def _reject(case: Case, cmd: Command, clock: DeadlineClock) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"status": S.REJECTED}, {}


def _merge(case: Case, cmd: Command, clock: DeadlineClock) -> tuple[dict[str, Any], dict[str, Any]]:
    if cmd.target is None or cmd.target == case.id:
        raise InvalidInput(
            "merge needs a target case id other than this case", "合并需要指定另一个目标案卷"
        )
    return {"status": S.MERGED, "merged_into": cmd.target}, {"target": cmd.target}


def _dispatch(case: Case, cmd: Command, clock: DeadlineClock) -> tuple[dict[str, Any], dict[str, Any]]:
    if not cmd.department:
        raise InvalidInput("dispatch needs a department", "派遣必须指定处置单位")
    due = clock.due(case, cmd.at)
    updates = {
        "status": S.DISPATCHED,
        "department": cmd.department,
        "dispatched_at": cmd.at,
        "due_at": due,
        "accepted_at": None,
    }
    return updates, {"department": cmd.department, "due_at": due.isoformat()}


def _accept(case: Case, cmd: Command, clock: DeadlineClock) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"status": S.DISPOSING, "accepted_at": cmd.at}, {}


def _return(case: Case, cmd: Command, clock: DeadlineClock) -> tuple[dict[str, Any], dict[str, Any]]:
    updates = {
        "status": S.REGISTERED,
        "department": None,
        "due_at": None,
        "accepted_at": None,
        "pending_extension": None,
        "return_count": case.return_count + 1,
    }
    return updates, {"department": case.department}


def _report_back(case: Case, cmd: Command, clock: DeadlineClock) -> tuple[dict[str, Any], dict[str, Any]]:
    late = case.due_at is not None and cmd.at > case.due_at
    updates = {
        "status": S.REPORTED_BACK,
        "disposed_at": cmd.at,
        "overdue_disposed": late,
        "pending_extension": None,
    }
    return updates, {"overdue": late}


def _verify(case: Case, cmd: Command, clock: DeadlineClock) -> tuple[dict[str, Any], dict[str, Any]]:
    if cmd.passed is None:
        raise InvalidInput("verify needs passed=true or false", "核查必须给出通过或不通过")
    if cmd.passed:
        return {"status": S.CLOSED, "closed_at": cmd.at}, {"passed": True}
    if not cmd.reason.strip():
        raise InvalidInput("a failed verification needs a reason", "核查不通过必须填写原因")
    # Rework (返工): back to the same department; the original due time still stands.
    updates = {"status": S.DISPOSING, "rework_count": case.rework_count + 1}
    return updates, {"passed": False}


# About a year at most: more is a typing mistake, and approving it would search centuries of
# calendar for working time (and fail) while the case waits.
MAX_EXTENSION = {"working_hours": 2_000.0, "working_days": 250.0, "calendar_hours": 8_760.0}


def _extension_amount(cmd: Command) -> str:
    if cmd.amount is None or not math.isfinite(cmd.amount) or cmd.amount <= 0 or not cmd.unit:
        raise InvalidInput(
            "an extension needs a positive amount and a unit "
            "(working_hours, working_days or calendar_hours)",
            "延期必须给出正数时长和单位（工作时、工作日或小时）",
        )
    if cmd.unit not in MAX_EXTENSION:
        raise InvalidInput(f"unknown time unit '{cmd.unit}'", f"未知的时间单位 {cmd.unit}")
    if cmd.amount > MAX_EXTENSION[cmd.unit]:
        limit = f"{MAX_EXTENSION[cmd.unit]:g} {cmd.unit}"
        raise InvalidInput(f"an extension may be at most {limit}", f"延期不能超过 {limit}")
    return f"{cmd.amount:g} {cmd.unit}"


def _request_extension(case: Case, cmd: Command, clock: DeadlineClock) -> tuple[dict[str, Any], dict[str, Any]]:
    if case.pending_extension:
        raise IllegalTransition(
            f"case {case.id} already has an extension request waiting ({case.pending_extension})",
            f"案卷 {case.id} 已有待审批的延期申请",
        )
    amount = _extension_amount(cmd)
    return {"pending_extension": amount}, {"extension": amount}


def _require_pending(case: Case) -> str:
    if not case.pending_extension:
        raise IllegalTransition(
            f"case {case.id} has no extension request to decide", f"案卷 {case.id} 没有待审批的延期申请"
        )
    return case.pending_extension


def _approve_extension(case: Case, cmd: Command, clock: DeadlineClock) -> tuple[dict[str, Any], dict[str, Any]]:
    pending = _require_pending(case)
    amount, unit = pending.split(" ", 1)
    assert case.due_at is not None  # a dispatched case always has a due time
    due = clock.extend(case.due_at, float(amount), unit)
    updates = {
        "due_at": due,
        "pending_extension": None,
        "extension_count": case.extension_count + 1,
    }
    return updates, {"extension": pending, "due_at": due.isoformat()}


def _deny_extension(case: Case, cmd: Command, clock: DeadlineClock) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"pending_extension": None}, {"extension": _require_pending(case)}


def _suspend(case: Case, cmd: Command, clock: DeadlineClock) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"status": S.SUSPENDED, "suspended_from": case.status, "suspended_at": cmd.at}, {}


def _resume(case: Case, cmd: Command, clock: DeadlineClock) -> tuple[dict[str, Any], dict[str, Any]]:
    assert case.suspended_from is not None and case.suspended_at is not None
    due = case.due_at
    if due is not None:
        due = clock.shift(due, case.suspended_at, cmd.at)  # the clock stood still meanwhile
    updates = {
        "status": case.suspended_from,
        "suspended_from": None,
        "suspended_at": None,
        "due_at": due,
    }
    return updates, {"due_at": due.isoformat() if due else None}


def _escalate(case: Case, cmd: Command, clock: DeadlineClock) -> tuple[dict[str, Any], dict[str, Any]]:
    if case.escalated:
        raise IllegalTransition(f"case {case.id} is already escalated", f"案卷 {case.id} 已督办")
    return {"escalated": True}, {}


def _comment(case: Case, cmd: Command, clock: DeadlineClock) -> tuple[dict[str, Any], dict[str, Any]]:
    return {}, {}


def _reopen(case: Case, cmd: Command, clock: DeadlineClock) -> tuple[dict[str, Any], dict[str, Any]]:
    if not case.department:
        raise IllegalTransition(
            f"case {case.id} was never dispatched; it cannot be reopened for rework",
            f"案卷 {case.id} 未曾派遣，不能重办",
        )
    # Back to the same department, which signs for it again, with a fresh time limit: the
    # first one ran out long ago and would make the rework overdue before it starts.
    due = clock.due(case, cmd.at)
    updates = {
        "status": S.DISPATCHED,
        "due_at": due,
        "accepted_at": None,
        "disposed_at": None,
        "overdue_disposed": None,
        "closed_at": None,
        "pending_extension": None,
    }
    return updates, {"department": case.department, "due_at": due.isoformat()}


_EFFECTS: dict[Action, Effect] = {
    Action.REGISTER: _register,
    Action.REJECT: _reject,
    Action.MERGE: _merge,
    Action.DISPATCH: _dispatch,
    Action.ACCEPT: _accept,
    Action.RETURN: _return,
    Action.REPORT_BACK: _report_back,
    Action.VERIFY: _verify,
    Action.REQUEST_EXTENSION: _request_extension,
    Action.APPROVE_EXTENSION: _approve_extension,
    Action.DENY_EXTENSION: _deny_extension,
    Action.SUSPEND: _suspend,
    Action.RESUME: _resume,
    Action.ESCALATE: _escalate,
    Action.COMMENT: _comment,
    Action.REOPEN: _reopen,
}
