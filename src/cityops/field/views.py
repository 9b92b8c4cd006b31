"""HTTP: photos on cases (upload, list, fetch with the case's scope)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from cityops.api.deps import ActorDep, PlatformDep
from cityops.api.responses import JSON
from cityops.api.routing import feature_router
from cityops.cases import service as cases
from cityops.cases.models import Actor
from cityops.core import Platform, utcnow
from cityops.errors import CityopsError, InvalidInput
from cityops.field import attachments, images

router = feature_router("/api/v1", "field")
CaseId = Annotated[int, Path(le=2**63 - 1, description="case id")]
AttachmentId = Annotated[str, Path(pattern="^[0-9a-f]{32}$", description="attachment id")]


async def read_upload(request: Request, field: str) -> tuple[bytes, dict[str, str]]:
    """The bytes of one file part (at most images.MAX_BYTES + 1 read) and the text fields."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput(f"send multipart/form-data with the photo in the field '{field}'",
                           f"请以 multipart/form-data 上传，照片字段名为 {field}")
    form = await request.form(max_files=2, max_fields=50)
    part = form.get(field)
    if not isinstance(part, UploadFile):
        raise InvalidInput(f"no file in the field '{field}'", f"缺少文件字段 {field}")
    data = await part.read(images.MAX_BYTES + 1)
    texts = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    return data, texts


async def store_photo(platform: Platform, actor: Actor, case_id: int, data: bytes,
                      stage: str) -> tuple[dict[str, Any], bool]:
    """Check scope, clean and store the files, record the row; on refusal remove the files."""
    with platform.store.read() as repo:
        case = cases.get_visible(repo, case_id, actor)
    now = utcnow()
    # Decoding a 12-megapixel photo takes a few hundred ms: off the event loop.
    stored = await asyncio.to_thread(attachments.prepare, platform, data, case, stage, actor, now)
    try:
        return await platform.awrite(attachments.record, stored, actor)  # type: ignore[no-any-return]
    except CityopsError:
        await platform.awrite(attachments.discard, (stored.sha256, stored.thumb_sha256))
        raise


@router.post("/cases/{case_id}/attachments", status_code=201,
             summary="Attach a photo (multipart field 'file'; stage before/after/verify)")
async def upload(case_id: CaseId, request: Request, actor: ActorDep) -> JSON:
    data, texts = await read_upload(request, "file")
    stage = attachments.check_stage(texts.get("stage"))
    row, created = await store_photo(request.app.state.platform, actor, case_id, data, stage)
    return JSON(attachments.public_json(row), status_code=201 if created else 200)


@router.get("/cases/{case_id}/attachments", summary="A case's photos")
def list_for_case(case_id: CaseId, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    with platform.store.read() as repo:
        cases.get_visible(repo, case_id, actor)
        rows = attachments.for_case(repo, case_id)
    return {"case_id": case_id, "attachments": [attachments.public_json(r) for r in rows]}


def _serve(platform: Any, actor: Any, attachment_id: str, thumbnail: bool) -> Response:
    with platform.store.read() as repo:
        row = attachments.get(repo, attachment_id, actor)
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
