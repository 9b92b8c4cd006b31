"""Open311 `media` (the FixMyStreet extension): a photo sent with the report, multipart.

The photo is cleaned and stored before the report's write; the write takes the report in and
records the photo in one transaction (`intake.open311.service.submit`: on the case, or, for a
catch-all request left for triage, held with the triage item until a person's pick moves it
onto the case), and the request's `media_url` points at the photo (which, like every picture,
is served only to those who may see the case, or, before that, who may triage).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.datastructures import UploadFile
from starlette.requests import Request

from cityops.cases.models import Actor, Role
from cityops.cases.service import NewReport
from cityops.field import attachments, images

if TYPE_CHECKING:
    from cityops.core import Platform
    from cityops.store.base import ApiKey


async def media_part(request: Request) -> bytes | None:
    """The `media` file of a multipart POST (Starlette keeps the parsed form), else None."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return None
    part = (await request.form()).get("media")
    if not isinstance(part, UploadFile):
        return None
    return await part.read(images.MAX_BYTES + 1)


async def submit_with_media(platform: Platform, report: NewReport, key: ApiKey, now: datetime,
                            media: bytes, base_url: str) -> list[dict[str, Any]]:
    """A request with its photo: the same steps and checks as a case photo (type from the
    bytes, limits, judged against the request's point and time, place and time stripped)."""
    from cityops.intake.open311 import service

    actor = Actor(f"open311:{key.name}", Role.COLLECTOR)
    stored = await asyncio.to_thread(attachments.prepare_at, platform, media, 0, report.lon, report.lat,
                                     now, "before", actor, now)
    url = f"{base_url.rstrip('/')}/api/v1/attachments/{stored.id}"
    o311 = {**report.attributes.get("open311", {}), "media_url": url}
    report = replace(report, attributes={**report.attributes, "open311": o311})
    try:
        return await platform.awrite(service.submit, report, key, now, stored)  # type: ignore[no-any-return]
    finally:
        # A refused report, or a replay whose first attempt already has its photo.
        await platform.awrite(attachments.discard, (stored.sha256, stored.thumb_sha256))
