"""HTTP: photos on cases (upload, list, fetch with the case's scope)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import Path, Query, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from cityops import timebounds
from cityops.api.deps import ActorDep, PlatformDep, require
from cityops.api.responses import JSON
from cityops.api.routing import feature_router
from cityops.cases import service as cases
from cityops.cases.models import Actor, Role
from cityops.core import Platform, utcnow
from cityops.errors import CityopsError, InvalidInput, NotFound
from cityops.field import attachments, drone, images, patrol, plan, videos
from cityops.field.pwa import inspector_grid

router = feature_router("/api/v1", "field")
CaseId = Annotated[int, Path(le=2**63 - 1, description="case id")]
AttachmentId = Annotated[str, Path(pattern="^[0-9a-f]{32}$", description="attachment id")]


async def read_upload(request: Request, field: str) -> tuple[bytes, dict[str, str]]:
    """The bytes of one file part (at most the video ceiling + 1 read) and the text fields."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput(f"send multipart/form-data with the photo in the field '{field}'",
                           f"请以 multipart/form-data 上传，照片字段名为 {field}")
    form = await request.form(max_files=2, max_fields=50)
    part = form.get(field)
    if not isinstance(part, UploadFile):
        raise InvalidInput(f"no file in the field '{field}'", f"缺少文件字段 {field}")
    data = await part.read(max(images.MAX_BYTES, videos.MAX_BYTES) + 1)
    texts = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    return data, texts


def _case_and_video_limits(repo: Any, case_id: int, actor: Actor) -> tuple[Any, Any]:
    return cases.get_visible(repo, case_id, actor), attachments.video_limits(repo)


async def store_photo(platform: Platform, actor: Actor, case_id: int, data: bytes,
                      stage: str) -> tuple[dict[str, Any], bool]:
    """Check scope, clean and store the files, record the row; on refusal remove the files."""
    case, video = await platform.aread(_case_and_video_limits, case_id, actor)
    now = utcnow()
    # Decoding a 12-megapixel photo takes a few hundred ms (and an object store answers over
    # the network): off the event loop.
    stored = await asyncio.to_thread(attachments.prepare, platform, data, case, stage, actor, now,
                                     images.DEFAULT_LIMITS, video)
    try:
        return await platform.awrite(attachments.record, stored, actor)  # type: ignore[no-any-return]
    except CityopsError:
        await platform.awrite(attachments.discard, (stored.sha256, stored.thumb_sha256))
        raise


# The body is read by hand (size limits, refusal before reading); declared here so that /docs
# shows the form and can send a file.
UPLOAD_BODY = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary",
                 "description": "a JPEG, PNG or WebP photo, or a short MP4/MOV video (docs/field.md)"},
        "stage": {"type": "string", "enum": list(attachments.STAGES), "default": "before",
                  "description": "before (处置前), after (处置后), verify (核查) or evidence (取证); "
                                 "closing a matter verified on site needs an after or verify one "
                                 "attached since the last report-back"},
    }}}}}


@router.post("/cases/{case_id}/attachments", status_code=201, openapi_extra={"requestBody": UPLOAD_BODY},
             summary="Attach a photo or short video (multipart field 'file'; stage before/after/verify)")
async def upload(case_id: CaseId, request: Request, actor: ActorDep) -> JSON:
    await request.app.state.platform.aread(cases.get_visible, case_id, actor)  # refuse before reading megabytes
    data, texts = await read_upload(request, "file")
    stage = attachments.check_stage(texts.get("stage"))
    row, created = await store_photo(request.app.state.platform, actor, case_id, data, stage)
    zone = request.app.state.platform.calendar.zone
    return JSON(attachments.public_json(row, zone, _base(request)), status_code=201 if created else 200)


def _base(request: Request) -> str:
    """Absolute URLs in answers: a client may fetch them as they are."""
    return str(request.base_url).rstrip("/")


@router.get("/cases/{case_id}/attachments", summary="A case's photos")
def list_for_case(case_id: CaseId, request: Request, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    with platform.store.read() as repo:
        cases.get_visible(repo, case_id, actor)
        rows = attachments.for_case(repo, case_id)
    return {"case_id": case_id, "attachments": [attachments.public_json(r, platform.calendar.zone, _base(request)) for r in rows]}


def _serve(platform: Any, actor: Any, attachment_id: str, thumbnail: bool) -> Response:
    from cityops.intel import photos

    with platform.store.read() as repo:
        try:
            row = attachments.get(repo, attachment_id, actor)
        except NotFound:  # the photo of a request waiting in triage: for those who triage
            row = photos.get(repo, attachment_id, actor)
    digest = row["thumb_sha256"] if thumbnail else row["sha256"]
    data = attachments.blobs(platform).get(digest)
    if data is None:
        raise CityopsError("the stored file is missing", "附件文件丢失")
    return Response(data, media_type="image/jpeg" if thumbnail else row["media_type"], headers={
        "Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'inline; filename="{attachment_id}"', "ETag": f'"{digest}"',
    })


@router.get("/attachments/{attachment_id}", summary="The photo (cleaned of EXIF), for those who may see its case")
def fetch(attachment_id: AttachmentId, platform: PlatformDep, actor: ActorDep) -> Response:
    return _serve(platform, actor, attachment_id, thumbnail=False)


@router.get("/attachments/{attachment_id}/thumbnail", summary="A 320 px thumbnail of the photo")
def fetch_thumbnail(attachment_id: AttachmentId, platform: PlatformDep, actor: ActorDep) -> Response:
    return _serve(platform, actor, attachment_id, thumbnail=True)


# ---- patrols --------------------------------------------------------------------------------


@router.post("/patrols/tracks", status_code=201, summary="Upload an inspector's GPS track (巡查轨迹)")
async def upload_track(request: Request, platform: PlatformDep, actor: ActorDep) -> JSON:
    require(actor, Role.COLLECTOR, Role.SUPERVISOR)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise InvalidInput("malformed JSON body", "JSON 格式错误") from None
    if not isinstance(body, dict):
        raise InvalidInput("send a JSON object {patrol_grid, points}", "请求体应为 JSON 对象")
    code, window = await platform.aread(
        lambda repo: (body.get("patrol_grid") or inspector_grid(repo, platform, actor.name), timebounds.window(repo)))
    if platform.city.patrol_grid(str(code)) is None:
        raise InvalidInput(f"unknown patrol grid '{code}'", f"未知的巡查网格 {code}")
    track = patrol.parse_track(platform, actor, body, str(code), window, utcnow())
    key = request.headers.get("idempotency-key")
    if key is not None and len(key) > 200:
        raise InvalidInput("Idempotency-Key is longer than 200 characters", "幂等键过长")
    out = await platform.awrite(patrol.store_track, track, f"{actor.name}:{key}" if key else None, utcnow())
    return JSON({**out, "patrol_grid": code, "day": track.day}, status_code=201 if out["created"] else 200)


def _day(platform: Platform, day: str | None) -> date:
    if day is None:
        return utcnow().astimezone(platform.calendar.zone).date()
    try:
        return date.fromisoformat(day)
    except ValueError:
        raise InvalidInput("day must be YYYY-MM-DD", "日期格式应为 YYYY-MM-DD") from None


@router.get("/patrols/schedule", summary="Patrol grids due on a day, by grid class")
def patrol_schedule(platform: PlatformDep, actor: ActorDep, day: str | None = None) -> dict[str, Any]:
    d = _day(platform, day)
    return {"day": d.isoformat(), "grids": patrol.schedule(platform, d)}


@router.get("/patrols/coverage", summary="巡查覆盖率: share of each patrol grid's unit grids patrolled on a day")
def patrol_coverage(platform: PlatformDep, actor: ActorDep, day: str | None = None,
                    patrol_grid: str | None = None) -> dict[str, Any]:
    d = _day(platform, day).isoformat()
    with platform.store.read() as repo:
        return {"day": d, "grids": patrol.coverage(repo, platform, d, patrol_grid)}


@router.get("/patrols/on-duty", summary="Inspectors seen on patrol in the last 30 minutes")
def patrol_on_duty(platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    with platform.store.read() as repo:
        return {"on_duty": patrol.on_duty(repo, platform, utcnow())}


@router.get("/patrols/indicators", summary="有效上报率, 核查及时率, 巡查覆盖率, 巡查里程")
def patrol_indicators(platform: PlatformDep, actor: ActorDep, by: str = "inspector",
                      start: Annotated[datetime | None, Query(alias="from")] = None,
                      end: Annotated[datetime | None, Query(alias="to")] = None) -> dict[str, Any]:
    require(actor, Role.SUPERVISOR, Role.DISPATCHER, Role.ACCEPTOR)
    end = end or utcnow()
    start = start or end - timedelta(days=30)
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("times need a zone, e.g. 2026-11-27T09:00:00+08:00", "时间必须带时区")
    with platform.store.read() as repo:
        return {"by": by, "from": start, "to": end, "rows": patrol.indicators(repo, platform, start, end, by)}


# ---- drones ---------------------------------------------------------------------------------


@router.get("/drone/plan/{patrol_grid}", summary="A lawnmower flight plan over a patrol grid, with its coverage")
def drone_plan(patrol_grid: str, platform: PlatformDep, actor: ActorDep,
               altitude_m: Annotated[float, Query(ge=10, le=500)] = 120.0,
               hfov_deg: Annotated[float, Query(gt=5, lt=170)] = 73.7,
               vfov_deg: Annotated[float, Query(gt=5, lt=170)] = 53.1,
               side_overlap: Annotated[float, Query(ge=0, lt=0.95)] = 0.3,
               front_overlap: Annotated[float, Query(ge=0, lt=0.95)] = 0.6,
               speed_m_s: Annotated[float, Query(gt=0, le=40)] = 10.0,
               endurance_min: Annotated[float, Query(gt=1, le=600)] = 30.0) -> dict[str, Any]:
    cam = plan.Camera(hfov_deg, vfov_deg, side_overlap, front_overlap)
    return plan.flight_plan(platform.city, patrol_grid, altitude_m, cam, speed_m_s, endurance_min).__dict__


@router.post("/drone/detections", summary="Take in a flight's detections; new ones open cases (无人机发现)")
async def drone_detections(request: Request, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    require(actor, Role.SUPERVISOR, Role.COLLECTOR)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise InvalidInput("malformed JSON body", "JSON 格式错误") from None
    if not isinstance(body, dict):
        raise InvalidInput("send a JSON object {flight, detections}", "请求体应为 JSON 对象")
    now = utcnow()
    window = await platform.aread(timebounds.window)
    found = drone.sightings(body, window, now)
    images_by_key = drone.evidence_images(body, found)
    evidence = {}
    for s in found:
        if s.key in images_by_key:
            evidence[s.key] = await asyncio.to_thread(
                attachments.prepare_at, platform, images_by_key[s.key], 0, s.lon, s.lat, s.seen_at, "evidence",
                actor, now)
    try:  # the cases name who posted the detections, not a drone label the caller chose
        return await platform.awrite(drone.ingest, found, evidence, drone.MIN_CONFIDENCE, actor)  # type: ignore[no-any-return]
    finally:  # evidence of replayed, ignored or refused sightings is not kept
        digests = tuple(d for st in evidence.values() for d in (st.sha256, st.thumb_sha256))
        if digests:
            await platform.awrite(attachments.discard, digests)


@router.get("/drone/classes", summary="The city's table from detection classes to matter codes")
def drone_classes(platform: PlatformDep, actor: ActorDep) -> dict[str, str]:
    with platform.store.read() as repo:
        return drone.class_table(repo)


@router.put("/drone/classes", summary="Change the class table ({label: matter code or \"\"})")
async def set_drone_classes(request: Request, platform: PlatformDep, actor: ActorDep) -> dict[str, str]:
    require(actor, Role.SUPERVISOR)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise InvalidInput("malformed JSON body", "JSON 格式错误") from None
    if not isinstance(body, dict):
        raise InvalidInput("send a JSON object {label: matter code}", "请求体应为 JSON 对象")
    return await platform.awrite(drone.set_classes, body)  # type: ignore[no-any-return]
