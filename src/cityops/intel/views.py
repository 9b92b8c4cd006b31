"""HTTP: classify a text, take a free-text report, and the triage queue."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, Request
from pydantic import BaseModel, Field

from cityops.api.deps import ActorDep, PlatformDep, require
from cityops.api.routing import feature_router
from cityops.cases.views import CONTACT_ROLES, CaseId, case_json
from cityops.core import utcnow
from cityops.intel import photos, service, store
from cityops.intel.photos import TRIAGE_ROLES
from cityops.intel.text import MAX_TEXT

router = feature_router("/api/v1", "intel")


class ClassifyIn(BaseModel):
    # One character over the limit is still accepted here, so that service.check answers
    # with its own bilingual message rather than pydantic's.
    text: str = Field(max_length=MAX_TEXT + 1, description="the report's free text (zh-CN or English)")
    lon: float | None = Field(default=None, ge=-180, le=180, description="WGS-84 longitude")
    lat: float | None = Field(default=None, ge=-90, le=90, description="WGS-84 latitude")


class TextReportIn(ClassifyIn):
    source: str = Field(default="hotline", max_length=32)
    address: str = Field(default="", max_length=500)


class TriageIn(BaseModel):
    matter_code: str = Field(description="the matter code a person chose")
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)


@router.post("/classify", summary="Classify a report's text: matter code top-k, department, place (智能分类)")
def classify(body: ClassifyIn, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    return service.classify(platform, body.text, body.lon, body.lat)


@router.post("/reports/text", status_code=201,
             summary="Report in free text: classified; sure answers become cases, the rest go to triage")
async def report_text(body: TextReportIn, platform: PlatformDep, actor: ActorDep) -> Any:
    from starlette.concurrency import run_in_threadpool

    from cityops.api.responses import JSON

    result = await run_in_threadpool(service.classify, platform, body.text, body.lon, body.lat)
    now = utcnow()
    out = await platform.awrite(service.accept_text, body.text.strip(), body.lon, body.lat, body.source,
                                body.address, result, actor, now)
    if "case" in out:
        return JSON({"case": case_json(out["case"], now), "classification": result}, status_code=201)
    return JSON({**out, "classification": result}, status_code=202)


@router.get("/triage", summary="Reports waiting for a person to pick the matter code (待分拣)")
def list_triage(
    request: Request, platform: PlatformDep, actor: ActorDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> dict[str, Any]:
    require(actor, *TRIAGE_ROLES)
    with platform.store.read() as repo:  # the items and their photos from one snapshot
        items, total = store.open_triage(repo.conn, limit, offset)
        held = photos.of_items(repo, [i["id"] for i in items])
    base = str(request.base_url).rstrip("/")
    for item in items:  # the photo the request sent (Open311 `media`), or null
        if actor.role not in CONTACT_ROLES and isinstance(item.get("attributes"), dict):
            item["attributes"] = {k: v for k, v in item["attributes"].items() if k != "contact"}
        item["photo"] = photos.public_json(held[item["id"]], platform, base) if item["id"] in held else None
    return {"total": total, "threshold": service.threshold(platform), "items": items}


@router.post("/triage/{item}", status_code=201, summary="Pick the matter code of a triage item; it becomes a case")
async def decide_triage(item: Annotated[int, Path(ge=1, le=2**62)], body: TriageIn,
                        platform: PlatformDep, actor: ActorDep) -> Any:
    from cityops.api.responses import JSON

    require(actor, *TRIAGE_ROLES)
    now = utcnow()
    case = await platform.awrite(service.resolve_triage, item, body.matter_code, body.lon, body.lat, actor, now)
    return JSON(case_json(case, now), status_code=201)


@router.get("/cases/{case_id}/summary",
            summary="A case's summary for operators: its merged reports, where, when, key facts, status (案情摘要)")
def case_summary(case_id: CaseId, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    now = utcnow()
    with platform.store.read() as repo:
        return service.case_summary(repo, platform, case_id, actor, now).as_json()


@router.get("/cases/{case_id}/reply-draft",
            summary="A draft reply to the citizen from the case history; provisional before closure (答复草稿)")
def reply_draft(case_id: CaseId, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    with platform.store.read() as repo:
        return service.reply_draft(repo, platform, case_id, actor).as_json()
