"""HTTP view for indicators (综合评价), as JSON or CSV."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import Response

from cityops.api.deps import ActorDep, PlatformDep
from cityops.api.routing import feature_router
from cityops.cases import names
from cityops.core import utcnow
from cityops.errors import InvalidInput
from cityops.evaluate.report import UNASSIGNED, spreadsheet_csv, to_records
from cityops.evaluate.service import GroupBy, code_names, indicators
from cityops.timefmt import iso, parse

router = feature_router("/api/v1", "indicators")


@router.get("/indicators", summary="结案率, 按期结案率, 返工率 … per district, department or grid")
def get_indicators(
    platform: PlatformDep,
    actor: ActorDep,
    by: GroupBy = "district",
    start: Annotated[str | None, Query(
        alias="from", description="reported on or after: a date (the city's local day) or ISO 8601 with zone",
    )] = None,
    end: Annotated[str | None, Query(alias="to", description="reported before (date or ISO 8601 with zone)")] = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Any:
    zone = platform.calendar.zone
    period = [_moment(start, zone), _moment(end, zone)]
    now = utcnow()
    with platform.store.read() as repo:  # the spreadsheet ends with the city's total, as the CLI's does
        frame = indicators(repo, by, now, period[0], period[1], actor, total=format == "csv" and by != "city")
    if format == "csv":
        # The same file as `cityops indicators --format csv`: BOM, names beside codes.
        return Response(spreadsheet_csv(frame, code_names(platform)), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="indicators_{by}.csv"'})
    rows = to_records(frame)
    namer = {"district": names.district_names, "department": names.department_names}.get(by)
    if namer is not None:
        for row in rows:  # names beside codes; the total row keeps its own label
            code = row.get(by)
            if isinstance(code, str) and code:
                row[f"{by}_name"], row[f"{by}_name_en"] = namer(platform, code)
            elif code is None and by in UNASSIGNED:  # e.g. the cases not dispatched yet
                row[f"{by}_name"], row[f"{by}_name_en"] = UNASSIGNED[by]
    # Times in the city's offset, like every other answer (the rows themselves hold none).
    return {"by": by, "from": iso(period[0], zone), "to": iso(period[1], zone), "as_of": iso(now, zone),
            "rows": rows}


def _moment(value: str | None, zone: tzinfo) -> datetime | None:
    """A plain date is the city's local day; a date and time needs its zone."""
    if value is None:
        return None
    try:
        at = parse(value, zone)
    except ValueError:
        raise InvalidInput(
            f"from/to must be a date (2026-11-01, the city's local day) or a time with zone "
            f"(2026-11-01T00:00:00+08:00): {value[:40]!r}",
            f"from/to 须为日期（2026-11-01，本市当地日）或带时区的时间（2026-11-01T00:00:00+08:00）：{value[:40]!r}",
        ) from None
    try:
        return at.astimezone(UTC)  # 0001-01-01T00:00+14:00 has no UTC date
    except OverflowError:
        raise InvalidInput(f"from/to out of range: {value[:40]!r}", f"时间超出范围：{value[:40]!r}") from None
