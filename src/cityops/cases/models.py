"""Case (案卷) values: statuses, actions, roles and the case record itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    REPORTED = "reported"  # 信息收集: received, waiting for the acceptor
    REJECTED = "rejected"  # 不予立案
    REGISTERED = "registered"  # 案卷建立: waiting for dispatch (again, after a return)
    DISPATCHED = "dispatched"  # 任务派遣: waiting for the department to accept
    DISPOSING = "disposing"  # 任务处理: the department is working on it (also after rework)
    REPORTED_BACK = "reported_back"  # 处理反馈: the department says it is done
    CLOSED = "closed"  # 核查结案
    SUSPENDED = "suspended"  # 挂起: the deadline clock stops
    MERGED = "merged"  # a duplicate, merged into another case


STATUS_LABELS: dict[Status, tuple[str, str]] = {
    Status.REPORTED: ("待受理", "Reported"),
    Status.REJECTED: ("不予立案", "Rejected"),
    Status.REGISTERED: ("已立案待派遣", "Registered"),
    Status.DISPATCHED: ("已派遣待签收", "Dispatched"),
    Status.DISPOSING: ("处置中", "Being handled"),
    Status.REPORTED_BACK: ("已反馈待核查", "Reported back"),
    Status.CLOSED: ("已结案", "Closed"),
    Status.SUSPENDED: ("已挂起", "Suspended"),
    Status.MERGED: ("已合并", "Merged"),
}

FINAL_STATUSES = frozenset({Status.REJECTED, Status.CLOSED, Status.MERGED})
# Statuses in which a department holds the case and its deadline clock runs.
WITH_DEPARTMENT = frozenset({Status.DISPATCHED, Status.DISPOSING, Status.REPORTED_BACK})


class Action(StrEnum):
    REGISTER = "register"
    REJECT = "reject"
    MERGE = "merge"
    DISPATCH = "dispatch"
    ACCEPT = "accept"
    RETURN = "return"  # the department says it is not theirs
    REPORT_BACK = "report_back"
    VERIFY = "verify"  # passed=True closes; passed=False is rework (返工)
    REQUEST_EXTENSION = "request_extension"
    APPROVE_EXTENSION = "approve_extension"
    DENY_EXTENSION = "deny_extension"
    SUSPEND = "suspend"
    RESUME = "resume"
    ESCALATE = "escalate"
    COMMENT = "comment"
    REOPEN = "reopen"  # 重办: a closed case goes back to its department (return visit not solved)


ACTION_LABELS: dict[Action, tuple[str, str]] = {
    Action.REGISTER: ("立案", "Register"),
    Action.REJECT: ("不予立案", "Reject"),
    Action.MERGE: ("合并", "Merge into another case"),
    Action.DISPATCH: ("派遣", "Dispatch"),
    Action.ACCEPT: ("签收", "Accept"),
    Action.RETURN: ("退回", "Return as not ours"),
    Action.REPORT_BACK: ("处理反馈", "Report back"),
    Action.VERIFY: ("核查", "Verify"),
    Action.REQUEST_EXTENSION: ("申请延期", "Request extension"),
    Action.APPROVE_EXTENSION: ("批准延期", "Approve extension"),
    Action.DENY_EXTENSION: ("驳回延期", "Deny extension"),
    Action.SUSPEND: ("挂起", "Suspend"),
    Action.RESUME: ("恢复", "Resume"),
    Action.ESCALATE: ("督办", "Escalate to supervisor"),
    Action.COMMENT: ("备注", "Comment"),
    Action.REOPEN: ("重办", "Reopen for rework"),
}


class Role(StrEnum):
    COLLECTOR = "collector"  # 信息采集员 / inspector
    ACCEPTOR = "acceptor"  # 受理员
    DISPATCHER = "dispatcher"  # 派遣员 (command centre)
    DEPARTMENT = "department"  # 处置单位操作员: scoped to one department
    VERIFIER = "verifier"  # 核查员
    SUPERVISOR = "supervisor"  # 监督长 / 值班长
    ADMIN = "admin"
    SENSOR = "sensor"  # a gateway: may only write observations
    SYSTEM = "system"  # the platform itself (sweeps, integrations)


ROLE_LABELS: dict[Role, tuple[str, str]] = {
    Role.COLLECTOR: ("信息采集员", "Collector / inspector"),
    Role.ACCEPTOR: ("受理员", "Acceptor"),
    Role.DISPATCHER: ("派遣员", "Dispatcher"),
    Role.DEPARTMENT: ("处置单位", "Department operator"),
    Role.VERIFIER: ("核查员", "Verifier"),
    Role.SUPERVISOR: ("监督长", "Supervisor"),
    Role.ADMIN: ("管理员", "Administrator"),
    Role.SENSOR: ("传感网关", "Sensor gateway"),
    Role.SYSTEM: ("系统", "System"),
}


@dataclass(frozen=True)
class Actor:
    """Who acts: a user name, a role and, for department operators, their department."""

    name: str
    role: Role
    department: str | None = None


SYSTEM_ACTOR = Actor("system", Role.SYSTEM)


@dataclass(frozen=True)
class Case:
    """One case (案卷). Times are tz-aware UTC; `version` guards concurrent updates."""

    id: int
    status: Status
    source: str
    matter_code: str
    description: str
    lon: float | None  # None: an imported record that never had a location
    lat: float | None
    district: str
    grid: str
    area_class: str
    reported_at: datetime
    address: str = ""
    reporter: str = ""
    department: str | None = None
    registered_at: datetime | None = None
    dispatched_at: datetime | None = None
    accepted_at: datetime | None = None
    due_at: datetime | None = None
    disposed_at: datetime | None = None
    overdue_disposed: bool | None = None
    closed_at: datetime | None = None
    rework_count: int = 0
    return_count: int = 0
    extension_count: int = 0
    pending_extension: str | None = None  # "<amount> <unit>", waiting for a supervisor
    suspended_from: Status | None = None
    suspended_at: datetime | None = None
    merged_into: int | None = None
    report_count: int = 1
    escalated: bool = False
    updated_at: datetime | None = None
    version: int = 0
    history_count: int = 0
    history_head: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def is_overdue(self, now: datetime) -> bool:
        """Overdue: a department holds it, it is not reported back yet and its due time passed."""
        return (
            self.status in (Status.DISPATCHED, Status.DISPOSING)
            and self.due_at is not None
            and now > self.due_at
        )


CASE_FIELDS: frozenset[str] = frozenset(Case.__dataclass_fields__)


def evolve(case: Case, **changes: Any) -> Case:
    """`dataclasses.replace` for a case, as one copy of its fields (1.4 µs against 8 µs: every
    workflow step builds several). Equal to replace's: Case has no __post_init__, no field
    left out of __init__, and replace too shares the attributes dict."""
    unknown = changes.keys() - CASE_FIELDS
    if unknown:
        raise TypeError(f"Case has no field {', '.join(sorted(unknown))}")
    new = object.__new__(Case)
    new.__dict__.update(case.__dict__, **changes)  # frozen: __setattr__ refuses, the dict is ours
    return new


def case_of(fields: dict[str, Any]) -> Case:
    """A case from every one of its fields (a stored row, decoded), without __init__'s 34
    frozen assignments (0.4 µs against 4.6 µs)."""
    if fields.keys() != CASE_FIELDS:
        raise TypeError(f"a case needs exactly its fields; got {sorted(fields.keys() ^ CASE_FIELDS)} wrong")
    new = object.__new__(Case)
    new.__dict__.update(fields)
    return new


@dataclass(frozen=True)
class Change:
    """One history entry (what happened to a case), before it is chained and stored."""

    case_id: int
    at: datetime
    actor: str
    role: str
    action: str
    from_status: str | None
    to_status: str
    reason: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HistoryEntry:
    """A stored history entry: a Change with its place and hash in the case's chain."""

    seq: int
    change: Change
    prev_hash: str
    hash: str
