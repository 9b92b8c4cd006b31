"""Case service: the thin shell between the pure workflow and a store's unit of work."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from cityops import hooks
from cityops.cases import deadline
from cityops.cases.history import Problem, next_entry, verify
from cityops.cases.models import SYSTEM_ACTOR, Action, Actor, Case, Change, Role, Status
from cityops.cases.routing import candidates
from cityops.cases.workflow import Command, apply
from cityops.errors import Forbidden, IllegalTransition, InvalidInput, NotFound
from cityops.store.base import CaseQuery, Repo

if TYPE_CHECKING:
    from cityops.core import Platform

MAX_DESCRIPTION = 4000
# Roles that may take a report in (the platform's own integrations act as SYSTEM).
INTAKE_ROLES = frozenset({Role.COLLECTOR, Role.ACCEPTOR, Role.SUPERVISOR, Role.ADMIN, Role.SYSTEM})


@dataclass(frozen=True)
class NewReport:
    """What a person or device reported (上报)."""

    matter_code: str
    description: str
    lon: float
    lat: float
    source: str = "api"
    address: str = ""
    reporter: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None


class CalendarClock:
    """The workflow's DeadlineClock over the catalogue's time limits and the city calendar."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def due(self, case: Case, start: datetime) -> datetime:
        entry = self.platform.catalogue.matter(case.matter_code)
        return deadline.due_at(start, entry.time_limit(case.area_class or "C"), self.platform.calendar)

    def extend(self, due: datetime, amount: float, unit: str) -> datetime:
        return deadline.extend(due, amount, unit, self.platform.calendar)  # type: ignore[arg-type]

    def shift(self, due: datetime, stopped_at: datetime, resumed_at: datetime) -> datetime:
        return deadline.shift_for_suspension(due, stopped_at, resumed_at, self.platform.calendar)


def check_matter(platform: Platform, code: str) -> None:
    try:
        platform.catalogue.matter(code)
    except KeyError as exc:
        raise InvalidInput(
            f"unknown matter code '{code}'; see GET /api/v1/catalogue/matters",
            f"未知的管理事项代码 {code}",
        ) from exc


def validate_report(platform: Platform, report: NewReport) -> tuple[str, str, str]:
    """Check a report; returns (district, grid, area class). Raises InvalidInput."""
    check_matter(platform, report.matter_code)
    text = report.description.strip()
    if not text:
        raise InvalidInput("description must not be empty", "问题描述不能为空")
    if len(text) > MAX_DESCRIPTION:
        raise InvalidInput(
            f"description has {len(text)} characters; at most {MAX_DESCRIPTION} are allowed",
            f"问题描述超过 {MAX_DESCRIPTION} 字",
        )
    try:
        orjson.dumps(report.attributes)  # stored as JSON: refuse what cannot be, e.g. a 30-digit integer
    except orjson.JSONEncodeError as exc:
        raise InvalidInput(f"attributes cannot be stored: {exc}", "附加属性无法保存") from None
    if not (math.isfinite(report.lon) and math.isfinite(report.lat)):
        raise InvalidInput("coordinates must be finite numbers", "坐标必须是有效数字")
    where = platform.city.locate_one(report.lon, report.lat)
    if where is None:
        raise InvalidInput(
            f"({report.lon}, {report.lat}) is outside {platform.city.name_en}; "
            "give WGS-84 longitude and latitude inside the city",
            f"坐标 ({report.lon}, {report.lat}) 不在{platform.city.name}范围内",
        )
    return where.district_code, where.grid_code, where.area_class or "C"


def intake(repo: Repo, platform: Platform, report: NewReport, actor: Actor, now: datetime) -> Case:
    """信息收集: a report becomes a case in status 'reported'. Idempotent on its key."""
    if actor.role not in INTAKE_ROLES:
        raise Forbidden(f"role '{actor.role}' may not report cases", f"角色 {actor.role} 无权上报")
    if report.idempotency_key:
        existing = repo.idempotent_case(report.idempotency_key)
        if existing is not None:
            case = repo.get_case(existing)
            assert case is not None
            return case
    district, grid, area_class = validate_report(platform, report)
    case_id = repo.next_case_id()
    first = next_entry("", 0, Change(
        case_id=case_id, at=now, actor=actor.name, role=actor.role.value, action="report",
        from_status=None, to_status=Status.REPORTED.value, data={"source": report.source},
    ))
    case = Case(
        id=case_id, status=Status.REPORTED, source=report.source, matter_code=report.matter_code,
        description=report.description.strip(), lon=report.lon, lat=report.lat,
        district=district, grid=grid, area_class=area_class, reported_at=now,
        address=report.address, reporter=report.reporter or actor.name,
        attributes=report.attributes, updated_at=now,
        version=1, history_count=1, history_head=first.hash,
    )
    repo.insert_first(case, first)
    if report.idempotency_key:
        repo.remember_idempotent(report.idempotency_key, case.id, now)
    hooks.case_changed(repo, platform, None, case, first.change)
    return case


def get_visible(repo: Repo, case_id: int, actor: Actor) -> Case:
    case = repo.get_case(case_id)
    if case is None:
        raise NotFound(f"no case {case_id}", f"案卷 {case_id} 不存在")
    if actor.role is Role.DEPARTMENT and case.department != actor.department:
        raise Forbidden(f"case {case_id} is not assigned to your department", f"案卷 {case_id} 不属于本单位")
    return case


def scoped(query: CaseQuery, actor: Actor) -> CaseQuery:
    """A department operator's searches only ever see its own department's cases."""
    if actor.role is Role.DEPARTMENT:
        return replace(query, department=actor.department or "\x00none")
    return query


def act(repo: Repo, platform: Platform, case_id: int, cmd: Command) -> Case:
    """One workflow step on a stored case, with its history entry, in the caller's transaction."""
    case = get_visible(repo, case_id, cmd.actor)
    if cmd.action is Action.DISPATCH:
        cmd = replace(cmd, department=_dispatch_target(platform, case, cmd.department))
    if cmd.action is Action.REGISTER and cmd.matter_code:
        check_matter(platform, cmd.matter_code)
    target = None
    if cmd.action is Action.MERGE and cmd.target is not None:
        target = get_visible(repo, cmd.target, cmd.actor)
        if target.is_final:
            raise IllegalTransition(
                f"cannot merge into case {target.id}: it is {target.status}",
                f"目标案卷 {target.id} 已{target.status}，不能合并",
            )
    new, change = apply(case, cmd, CalendarClock(platform))
    hooks.check_case_rules(repo, platform, case, new, cmd)  # e.g. 现场核查 needs an after-photo
    saved = repo.save_case(new, change)
    hooks.case_changed(repo, platform, case, saved, change)
    if target is not None:
        merged = replace(target, report_count=target.report_count + case.report_count, updated_at=cmd.at)
        merged_in = Change(
            case_id=target.id, at=cmd.at, actor=cmd.actor.name, role=cmd.actor.role.value,
            action="merged_in", from_status=target.status.value, to_status=target.status.value,
            reason=cmd.reason, data={"source_case": case.id},
        )
        hooks.case_changed(repo, platform, target, repo.save_case(merged, merged_in), merged_in)
    return saved


def _dispatch_target(platform: Platform, case: Case, requested: str | None) -> str:
    codes = {d.code for d in platform.city.departments}
    if requested:
        if requested not in codes:
            raise InvalidInput(
                f"unknown department '{requested}'; see GET /api/v1/city/departments",
                f"未知的处置单位 {requested}",
            )
        return requested
    suggestions = suggest_departments(platform, case)
    if not suggestions:
        raise InvalidInput(
            f"no department serves matter {case.matter_code} in district {case.district}; name one",
            "没有可派遣的处置单位，请指定",
        )
    return suggestions[0]


def suggest_departments(platform: Platform, case: Case) -> list[str]:
    entry = platform.catalogue.matter(case.matter_code)
    return candidates(entry.department, entry.is_component_matter, case.district, platform.city.departments)


def sweep_overdue(repo: Repo, platform: Platform, now: datetime, limit: int = 10_000) -> list[int]:
    """Escalate (督办) every overdue case not yet escalated; returns their ids."""
    query = CaseQuery(overdue_at=now, escalated=False, limit=limit, order="due_at")
    cases, _ = repo.search_cases(query)
    escalated = []
    for case in cases:
        cmd = Command(Action.ESCALATE, SYSTEM_ACTOR, now, reason="超期自动督办 / overdue: escalated")
        new, change = apply(case, cmd, CalendarClock(platform))
        hooks.case_changed(repo, platform, case, repo.save_case(new, change), change)
        escalated.append(case.id)
    return escalated


def verify_all(repo: Repo) -> list[Problem]:
    """Every broken chain in the store (cases with an intact chain contribute nothing)."""
    problems: list[Problem] = []
    for case_id, head, count in repo.history_heads():
        problems.extend(verify(case_id, repo.history(case_id), head, count))
    return problems
