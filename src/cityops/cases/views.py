"""HTTP views for cases: intake, search, workflow actions, history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from cityops.api.deps import ActorDep, PlatformDep, require
from cityops.api.responses import JSON
from cityops.api.routing import feature_router
from cityops.cases import bulk, names, service
from cityops.cases.history import verify
from cityops.cases.models import STATUS_LABELS, Action, Actor, Case, Role
from cityops.cases.workflow import Command, allowed_actions
from cityops.core import Platform, utcnow
from cityops.errors import InvalidInput
from cityops.store.base import CaseQuery
from cityops.timefmt import iso, parse

router = feature_router("/api/v1", "cases")
# SQLite integers are 64-bit: a larger id or offset is refused here, not a 500 in the store.
MAX_INT = 2**63 - 1
CaseId = Annotated[int, Path(le=MAX_INT, description="case id")]
# A year of working hours; more would search centuries of calendar on the request path.
MAX_DUE_WITHIN_HOURS = 10_000


class CaseIn(BaseModel):
    matter_code: str = Field(description="GB/T 47678.5 matter code (5 digits), e.g. 06001")
    description: str = Field(max_length=service.MAX_DESCRIPTION)
    lon: float = Field(ge=-180, le=180, description="WGS-84 longitude")
    lat: float = Field(ge=-90, le=90, description="WGS-84 latitude")
    address: str = Field(default="", max_length=500)
    source: str = Field(default="api", max_length=32, description="citizen, inspector, hotline, …")
    attributes: dict[str, Any] = Field(default_factory=dict)


class ActionIn(BaseModel):
    reason: str = Field(default="", max_length=2000)
    department: str | None = Field(default=None, description="dispatch: department code (default: the rule's first choice)")
    matter_code: str | None = Field(default=None, description="register: correct the matter")
    passed: bool | None = Field(default=None, description="verify: true closes, false is rework")
    target: int | None = Field(default=None, le=MAX_INT, description="merge: the case to merge into")
    amount: float | None = Field(default=None, gt=0, description="request_extension: how long")
    unit: str | None = Field(default=None, description="working_hours | working_days | calendar_hours")


class StepIn(ActionIn):
    case_id: int = Field(ge=1, le=MAX_INT, description="the case this step is for")
    action: Action = Field(description="register, dispatch, accept, report_back, verify, …")


class StepsIn(BaseModel):
    steps: list[StepIn] = Field(description=f"at most {bulk.MAX_STEPS}; steps on one case apply in this order")


class CaseOut(BaseModel):
    id: int
    status: str
    status_label: list[str]
    matter_code: str
    description: str
    lon: float | None
    lat: float | None
    district: str
    grid: str
    department: str | None
    due_at: datetime | None
    overdue: bool


# Who sees a reporter's contact (attributes.contact): those who take reports and call back.
CONTACT_ROLES = frozenset({Role.ACCEPTOR, Role.SUPERVISOR, Role.ADMIN, Role.SYSTEM})


def case_json(case: Case, now: datetime, platform: Platform | None = None, actor: Actor | None = None) -> dict[str, Any]:
    """The case as JSON-ready values (orjson writes str enums itself). With the platform, the
    names beside the codes and every time in the city's own offset (e.g. +08:00). With the
    actor, a reporter's contact only for the roles that call back."""
    out = dict(case.__dict__)
    del out["history_head"]
    if actor is not None and actor.role not in CONTACT_ROLES and "contact" in case.attributes:
        out["attributes"] = {k: v for k, v in case.attributes.items() if k != "contact"}
    out["status_label"] = STATUS_LABELS[case.status]
    out["overdue"] = case.is_overdue(now)
    if platform is not None:
        out.update(names.case_names(platform, case))
        zone = platform.calendar.zone
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = iso(value, zone)
    return out


@router.post(
    "/cases", status_code=201, response_model=CaseOut, summary="Report a case (信息收集)",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": CaseIn.model_json_schema()}}},
        "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                        "schema": {"type": "string", "maxLength": 200},
                        "description": "a retried request with the same key returns the first case"}],
    },
)
async def create_case(request: Request, actor: ActorDep) -> JSON:
    # The body is parsed by pydantic-core straight from bytes: the hot path of intake.
    try:
        body = CaseIn.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is not None and len(idempotency_key) > 200:
        raise InvalidInput("Idempotency-Key is longer than 200 characters", "幂等键过长")
    platform: Platform = request.app.state.platform
    report = service.NewReport(
        matter_code=body.matter_code, description=body.description, lon=body.lon, lat=body.lat,
        source=body.source, address=body.address, attributes=body.attributes,
        idempotency_key=f"{actor.name}:{idempotency_key}" if idempotency_key else None,
    )
    now = utcnow()
    case = await platform.awrite(service.intake, report, actor, now)
    return JSON(case_json(case, now, platform, actor), status_code=201)


@router.get("/cases", summary="Search cases (scoped to your department for department operators)")
def search_cases(
    platform: PlatformDep,
    actor: ActorDep,
    status: Annotated[str | None, Query(description="comma list of statuses (codes or names: closed, 已结案)")] = None,
    matter: Annotated[str | None, Query(description="comma list of matter codes or names (06010, 暴露垃圾)")] = None,
    district: Annotated[str | None, Query(description="district code or name (420103, 江汉区, Jianghan)")] = None,
    grid: str | None = None,
    department: Annotated[str | None, Query(description="department code or name")] = None,
    reported_from: Annotated[str | None, Query(
        alias="from", description="reported on or after: a date (the city's local day) or ISO 8601 with zone")] = None,
    reported_to: Annotated[str | None, Query(alias="to", description="reported before (date or ISO 8601 with zone)")] = None,
    overdue: bool = False,
    due_within_hours: Annotated[
        float | None, Query(gt=0, le=MAX_DUE_WITHIN_HOURS, description="open cases due within N working hours")
    ] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    source: Annotated[str | None, Query(
        max_length=200, description="comma list of channels (hotline_12345, citizen_app; GET /api/v1/channels)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    order: Annotated[str, Query(pattern="^-?(id|due_at|reported_at)$")] = "id",
) -> dict[str, Any]:
    now = utcnow()
    # Codes or the names a person types (江汉区, 处置中, 暴露垃圾, 武汉市水务局).
    statuses = [names.status_code(s) for s in _split(status) or ()] or None
    matters = [names.matter_codes(platform, m) for m in _split(matter) or ()] or None
    if district:
        district = names.district_code(platform, district)
    if department:
        department = names.department_code(platform, department)
    due_before = None
    if due_within_hours is not None:
        due_before = platform.calendar.add_working_hours(now, due_within_hours)
    query = CaseQuery(
        status=statuses, matter_code=matters, district=district, grid=grid,
        department=department, reported_from=_local(reported_from, platform), reported_to=_local(reported_to, platform),
        overdue_at=now if overdue else None, due_before=due_before, text=q,
        source=_split(source) or None, limit=limit, offset=offset, order=order,
    )
    with platform.store.read() as repo:
        cases, total = repo.search_cases(service.scoped(query, actor))
    return {"total": total, "limit": limit, "offset": offset, "cases": [case_json(c, now, platform, actor) for c in cases]}


@router.get("/cases/{case_id}", summary="One case, with the actions you may take now")
def get_case(case_id: CaseId, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    with platform.store.read() as repo:
        case = service.get_visible(repo, case_id, actor)
    out = case_json(case, utcnow(), platform, actor)
    out["allowed_actions"] = [a.value for a in allowed_actions(case, actor)]
    return out


@router.post("/cases/{case_id}/actions/{action}", summary="Take a workflow step (立案, 派遣, 核查 …)")
async def act(case_id: CaseId, action: Action, body: ActionIn, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    now = utcnow()
    cmd = Command(
        action=action, actor=actor, at=now, reason=body.reason, department=body.department,
        matter_code=body.matter_code, passed=body.passed, target=body.target,
        amount=body.amount, unit=body.unit,
    )
    case = await platform.awrite(service.act, case_id, cmd)
    return case_json(case, now, platform, actor)


@router.post("/cases/actions", summary="Take many cases' workflow steps at once (批量处理: 批量派遣, 批量办结 …)")
async def act_many(body: StepsIn, platform: PlatformDep, actor: ActorDep) -> JSON:
    bulk.check_size(len(body.steps))  # everything is checked before anything is written
    now = utcnow()
    steps = [
        bulk.Step(s.case_id, Command(
            action=s.action, actor=actor, at=now, reason=s.reason, department=s.department,
            matter_code=s.matter_code, passed=s.passed, target=s.target, amount=s.amount, unit=s.unit,
        ))
        for s in body.steps
    ]
    outcomes = await platform.awrite(bulk.act_many, steps)
    return JSON(bulk.results_json(steps, outcomes))


@router.get("/cases/{case_id}/history", summary="The case's append-only history")
def history(case_id: CaseId, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    with platform.store.read() as repo:
        service.get_visible(repo, case_id, actor)
        entries = repo.history(case_id)
    zone = platform.calendar.zone
    return {
        "case_id": case_id,
        "entries": [
            {
                "seq": e.seq, "at": iso(e.change.at, zone), "actor": e.change.actor,
                "role": e.change.role, "action": e.change.action,
                "action_name": names.action_names(e.change.action)[0],
                "action_name_en": names.action_names(e.change.action)[1],
                "status_name": names.status_names(e.change.to_status)[0],
                "status_name_en": names.status_names(e.change.to_status)[1],
                "role_label": list(names.role_names(e.change.role)),
                "from_label": list(names.status_names(e.change.from_status)) if e.change.from_status else None,
                "to_label": list(names.status_names(e.change.to_status)),
                "action_label": list(names.action_names(e.change.action)),
                "from": e.change.from_status, "to": e.change.to_status, "reason": e.change.reason,
                "data": e.change.data, "hash": e.hash,
            }
            for e in entries
        ],
    }


@router.get("/cases/{case_id}/history/verify", summary="Check the case's hash chain")
def verify_case(case_id: CaseId, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    with platform.store.read() as repo:
        case = service.get_visible(repo, case_id, actor)
        problems = verify(case_id, repo.history(case_id), case.history_head, case.history_count)
    return {"case_id": case_id, "intact": not problems, "problems": [p.__dict__ for p in problems]}


@router.get("/history/verify", summary="Check every case's hash chain (supervisor, admin)")
def verify_all(platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    require(actor, Role.SUPERVISOR)
    with platform.store.read() as repo:
        problems = service.verify_all(repo)
    return {"intact": not problems, "problems": [p.__dict__ for p in problems]}


@router.get("/cases/{case_id}/departments", summary="Who should act, by the dispatch rule")
def suggested(case_id: CaseId, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    with platform.store.read() as repo:
        case = service.get_visible(repo, case_id, actor)
    by_code = {d.code: d for d in platform.city.departments}
    return {
        "case_id": case_id,
        "departments": [
            {"code": c, "name": by_code[c].name, "name_en": by_code[c].name_en}
            for c in service.suggest_departments(platform, case)
        ],
    }


@router.post("/cases/sweep", summary="Escalate overdue cases to the supervisor (督办)")
async def sweep(platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    require(actor, Role.SUPERVISOR)
    now = utcnow()
    ids = await platform.awrite(service.sweep_overdue, now)
    return {"escalated": ids}


def _split(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [v.strip() for v in value.split(",") if v.strip()] or None


def _local(value: str | None, platform: Platform) -> datetime | None:
    """A plain date is the city's local day; a date and time needs its zone."""
    if value is None:
        return None
    try:
        at = parse(value, platform.calendar.zone)
        at.astimezone(UTC)  # 0001-01-01 in +08:00 has no UTC date
        return at
    except OverflowError:
        raise InvalidInput(f"from/to out of range: {value[:40]!r}", f"时间超出范围：{value[:40]!r}") from None
    except ValueError:
        raise InvalidInput(
            f"from/to must be a date (2026-11-01, the city's local day) or a time with zone "
            f"(2026-11-27T09:00:00+08:00): {value[:40]!r}",
            f"from/to 须为日期（2026-11-01，本市当地日）或带时区的时间（2026-11-27T09:00:00+08:00）：{value[:40]!r}",
        ) from None


def _aware(dt: datetime | None) -> datetime | None:
    if dt is not None and dt.tzinfo is None:
        raise InvalidInput("times need a zone, e.g. 2026-11-27T09:00:00+08:00", "时间必须带时区")
    return dt

