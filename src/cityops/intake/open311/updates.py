"""POST servicerequestupdates: a back office's extended status mapped onto the seven-step workflow.

`plan(update_status, case_status)` is pure: it returns the workflow steps to take, or raises
with the statuses in which that update would be legal. A step names the action and the role
the back office acts in (department actions as the case's department; verify as verifier;
register/reject/merge as acceptor), so the workflow's own rules still decide.

| update status               | reported | registered | dispatched         | disposing   | reported_back      |
|-----------------------------|----------|------------|--------------------|-------------|--------------------|
| OPEN                        | comment  | comment    | comment            | comment     | comment            |
| FOR_TRIAGE                  | comment  | comment    | —                  | —           | —                  |
| INVESTIGATING               | register | comment    | comment            | comment     | —                  |
| ACTION_SCHEDULED            | —        | —          | accept             | comment     | —                  |
| IN_PROGRESS                 | —        | —          | accept             | comment     | —                  |
| FIXED                       | —        | —          | accept+report_back | report_back | comment            |
| NO_FURTHER_ACTION           | reject   | —          | accept+report_back | report_back | —                  |
| CLOSED                      | —        | —          | —                  | —           | verify(passed)     |
| REOPEN                      | —        | —          | —                  | —           | verify(failed)     |
| DUPLICATE (with duplicate_of) | merge  | merge      | —                  | —           | —                  |
| DUPLICATE (no target)       | comment  | comment    | comment            | comment     | comment            |
| NOT_COUNCILS_RESPONSIBILITY | reject   | —          | return             | return      | —                  |
| INTERNAL_REFERRAL           | —        | comment    | return             | return      | —                  |

A suspended case takes only OPEN/DUPLICATE comments; a final case (closed, rejected, merged)
takes none: every other pair answers 400 and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from cityops.cases.models import FINAL_STATUSES, Action, Role, Status
from cityops.intake.open311.errors import bad_request

S = Status
UPDATE_STATUSES = (
    "OPEN", "CLOSED", "FIXED", "IN_PROGRESS", "ACTION_SCHEDULED", "INVESTIGATING", "DUPLICATE",
    "NOT_COUNCILS_RESPONSIBILITY", "NO_FURTHER_ACTION", "INTERNAL_REFERRAL", "REOPEN", "FOR_TRIAGE",
)


@dataclass(frozen=True)
class Step:
    action: Action
    role: Role
    passed: bool | None = None


COMMENT = (Step(Action.COMMENT, Role.SUPERVISOR),)
ACCEPT = Step(Action.ACCEPT, Role.DEPARTMENT)
REPORT_BACK = Step(Action.REPORT_BACK, Role.DEPARTMENT)
RETURN = (Step(Action.RETURN, Role.DEPARTMENT),)
REJECT = (Step(Action.REJECT, Role.ACCEPTOR),)
MERGE = (Step(Action.MERGE, Role.ACCEPTOR),)
_OPEN_NOT_SUSPENDED = (S.REPORTED, S.REGISTERED, S.DISPATCHED, S.DISPOSING, S.REPORTED_BACK)

TABLE: dict[str, dict[Status, tuple[Step, ...]]] = {
    "OPEN": {s: COMMENT for s in _OPEN_NOT_SUSPENDED + (S.SUSPENDED,)},
    "FOR_TRIAGE": {S.REPORTED: COMMENT, S.REGISTERED: COMMENT},
    "INVESTIGATING": {
        S.REPORTED: (Step(Action.REGISTER, Role.ACCEPTOR),),
        S.REGISTERED: COMMENT, S.DISPATCHED: COMMENT, S.DISPOSING: COMMENT,
    },
    "ACTION_SCHEDULED": {S.DISPATCHED: (ACCEPT,), S.DISPOSING: COMMENT},
    "IN_PROGRESS": {S.DISPATCHED: (ACCEPT,), S.DISPOSING: COMMENT},
    "FIXED": {S.DISPATCHED: (ACCEPT, REPORT_BACK), S.DISPOSING: (REPORT_BACK,), S.REPORTED_BACK: COMMENT},
    "NO_FURTHER_ACTION": {S.REPORTED: REJECT, S.DISPATCHED: (ACCEPT, REPORT_BACK), S.DISPOSING: (REPORT_BACK,)},
    "CLOSED": {S.REPORTED_BACK: (Step(Action.VERIFY, Role.VERIFIER, passed=True),)},
    "REOPEN": {S.REPORTED_BACK: (Step(Action.VERIFY, Role.VERIFIER, passed=False),)},
    "NOT_COUNCILS_RESPONSIBILITY": {S.REPORTED: REJECT, S.DISPATCHED: RETURN, S.DISPOSING: RETURN},
    "INTERNAL_REFERRAL": {S.REGISTERED: COMMENT, S.DISPATCHED: RETURN, S.DISPOSING: RETURN},
}
_DUPLICATE_MERGE: dict[Status, tuple[Step, ...]] = {S.REPORTED: MERGE, S.REGISTERED: MERGE}
_DUPLICATE_NOTE: dict[Status, tuple[Step, ...]] = {s: COMMENT for s in _OPEN_NOT_SUSPENDED + (S.SUSPENDED,)}


def plan(update_status: str, case_status: Status, has_target: bool = False) -> tuple[Step, ...]:
    """The workflow steps for this update on a case in this status; raises 400 if illegal."""
    key = update_status.strip().upper()
    if key not in UPDATE_STATUSES:
        raise bad_request(
            f"unknown status '{update_status}'; use one of: {', '.join(UPDATE_STATUSES)} / 未知的状态 {update_status}"
        )
    table: dict[Status, tuple[Step, ...]]
    if key == "DUPLICATE":
        table = _DUPLICATE_MERGE if has_target else _DUPLICATE_NOTE
    else:
        table = TABLE[key]
    steps = table.get(case_status)
    if steps is None:
        legal = ", ".join(s.value for s in table) or "none"
        final = " (the case is final)" if case_status in FINAL_STATUSES else ""
        raise bad_request(
            f"status {key} is not possible for a case in status '{case_status.value}'{final}; "
            f"it is legal in: {legal} / 案卷当前状态为 {case_status.value}，不能更新为 {key}"
        )
    return steps
