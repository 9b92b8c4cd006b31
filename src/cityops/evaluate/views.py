"""HTTP view for indicators (综合评价), as JSON or CSV."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import Response

from cityops.api.deps import ActorDep, PlatformDep
from cityops.api.routing import feature_router
from cityops.cases import names
from cityops.core import utcnow
from cityops.errors import InvalidInput
from cityops.evaluate.report import to_csv, to_records
from cityops.evaluate.service import GroupBy, indicators

router = feature_router("/api/v1", "indicators")


@router.get("/indicators", summary="结案率, 按期结案率, 返工率 … per district, department or grid")
def get_indicators(
    platform: PlatformDep,
    actor: ActorDep,
    by: GroupBy = "district",
    start: Annotated[datetime | None, Query(alias="from", description="reported on or after (ISO 8601 with zone)")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="reported before")] = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Any:
    for value in (start, end):
        if value is None:
            continue
        if value.tzinfo is None:
            raise InvalidInput("from/to need a zone, e.g. 2026-11-01T00:00:00+08:00", "时间必须带时区")
        try:
            value.astimezone(UTC)  # 0001-01-01T00:00+14:00 has no UTC date
        except OverflowError:
            raise InvalidInput(f"from/to out of range: {value}", "时间超出范围") from None
    with platform.store.read() as repo:
        frame = indicators(repo, by, utcnow(), start, end, actor)
    if format == "csv":
        # A UTF-8 byte order mark first, or Excel on a Chinese-locale Windows reads GBK.
        buf = io.StringIO("\ufeff")
        buf.seek(0, io.SEEK_END)
        to_csv(frame, buf)
        return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="indicators_{by}.csv"'})
    rows = to_records(frame)
    namer = {"district": names.district_names, "department": names.department_names}.get(by)
    if namer is not None:
        for row in rows:  # names beside codes; the total row keeps its own label
            code = row.get(by)
            if isinstance(code, str) and code:
                row[f"{by}_name"], row[f"{by}_name_en"] = namer(platform, code)
    return {"by": by, "rows": rows}
