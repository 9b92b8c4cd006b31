"""HTTP: warnings workflow and skill under /api/v1/warnings; public CAP feeds under /cap."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Annotated, Any
from xml.sax.saxutils import escape

from fastapi import Body, Request, Response
from pydantic import BaseModel, Field

from cityops.api.deps import ActorDep, PlatformDep
from cityops.api.routing import feature_router
from cityops.cases.models import Role
from cityops.core import Platform, utcnow
from cityops.errors import InvalidInput, NotFound
from cityops.security import egress
from cityops.security.settings import load as load_security
from cityops.warning import cap, service
from cityops.warning.publish import publish

router = feature_router("/api/v1/warnings", "warnings")
feeds = feature_router("/cap", "cap")
MAX_CAP = 2_000_000
# Who may bring in an outside CAP alert (docs/warning.md): the duty supervisors, admin, and the
# platform's own integrations.
INGESTERS = (Role.SUPERVISOR, Role.SYSTEM)


class DraftIn(BaseModel):
    level: str = Field(description="red 红 I, orange 橙 II, yellow 黄 III, blue 蓝 IV")
    districts: list[str] = Field(min_length=1, description="district adcodes")
    headline_zh: str = Field(min_length=1, max_length=200)
    headline_en: str = Field(min_length=1, max_length=200)
    description_zh: str = Field(default="", max_length=4000)
    description_en: str = Field(default="", max_length=4000)
    onset: datetime | None = None
    expires: datetime
    point: str | None = None

    def to_draft(self, now: datetime) -> service.Draft:
        onset = self.onset or now
        if onset.tzinfo is None or self.expires.tzinfo is None:
            raise InvalidInput("onset and expires need a time-zone offset", "时间须带时区")
        return service.Draft(self.level, tuple(self.districts), self.headline_zh, self.headline_en,
                             self.description_zh or self.headline_zh, self.description_en or self.headline_en,
                             onset, self.expires, self.point)


class AckIn(BaseModel):
    district: str


class WebhookIn(BaseModel):
    url: str = Field(pattern=r"^https?://", max_length=500)


def _one(platform: Platform, warning_id: int) -> dict[str, Any]:
    with platform.store.read() as repo:
        return _one_in(repo, platform, warning_id)


def _one_in(repo: Any, platform: Platform, warning_id: int) -> dict[str, Any]:
    row = service.get(repo.conn, warning_id)
    out = service.warning_dict(row, platform.calendar.zone)
    out["dispatch"] = service.dispatch_status(repo.conn, warning_id, utcnow(), platform.calendar.zone)
    return out


async def _aone(platform: Platform, warning_id: int) -> dict[str, Any]:
    return await platform.aread(_one_in, platform, warning_id)


def _webhooks_and_allow(repo: Any) -> tuple[list[str], Any]:
    urls = [r[0] for r in repo.conn.execute("SELECT url FROM warning_webhooks").fetchall()]
    return urls, load_security(repo).egress_allow


@router.get("", summary="Warnings (ours), newest first")
def list_warnings(platform: PlatformDep, actor: ActorDep, status: str | None = None) -> list[dict[str, Any]]:
    with platform.store.read() as repo:
        sql = "SELECT * FROM warnings" + (" WHERE status = ?" if status else "") + " ORDER BY id DESC LIMIT 500"
        rows = repo.conn.execute(sql, (status,) if status else ()).fetchall()
    return [service.warning_dict(r, platform.calendar.zone) for r in rows]


@router.post("", status_code=201, summary="Draft a warning (CAP Alert); a supervisor approves and issues it")
async def draft(platform: PlatformDep, actor: ActorDep, body: DraftIn) -> dict[str, Any]:
    now = utcnow()
    wid = await platform.awrite(service.draft_warning, body.to_draft(now), actor, now)
    return await _aone(platform, wid)


@router.get("/incoming", summary="Outside CAP alerts accepted (shown beside our own)")
def incoming(platform: PlatformDep, actor: ActorDep) -> list[dict[str, Any]]:
    with platform.store.read() as repo:
        return service.incoming(repo.conn)


@router.post("/incoming", summary="Ingest an outside CAP 1.2 document (validated against the OASIS schema)")
async def ingest(request: Request, platform: PlatformDep, actor: ActorDep, source: str = "api") -> dict[str, Any]:
    from cityops.api.deps import require

    require(actor, *INGESTERS)  # an outside alert appears beside our own: not for every role
    data = await request.body()
    if len(data) > MAX_CAP:
        raise InvalidInput("CAP document too large", "CAP 文档过大")
    out: dict[str, Any] = await platform.awrite(service.ingest_cap, data, source, utcnow())
    return out


@router.post("/webhooks", status_code=201, summary="Subscribe a URL to issued CAP documents (admin)")
async def add_webhook(platform: PlatformDep, actor: ActorDep, body: WebhookIn) -> dict[str, Any]:
    from cityops.api.deps import require

    require(actor)
    await egress.check_given(platform, body.url)
    await platform.awrite(_add_hook, body.url, utcnow())
    return {"url": body.url}


def _add_hook(repo: Any, platform: Any, url: str, now: datetime) -> None:
    repo.conn.execute("INSERT OR IGNORE INTO warning_webhooks (url, created_at) VALUES (?, ?)",
                      (url, int(now.timestamp())))


@router.get("/dispatch/pending", summary="Dispatches to districts not yet acknowledged (overdue flagged)")
def pending(platform: PlatformDep, actor: ActorDep, overdue: bool = False,
            district: str | None = None) -> list[dict[str, Any]]:
    """待签收的预警下派 / Dispatches not yet acknowledged, oldest deadline first; `overdue=true`
    lists only those past their deadline (超期未签收), `district` one district's."""
    with platform.store.read() as repo:
        return service.pending_dispatch(repo.conn, utcnow(), platform.calendar.zone, overdue, district)


@router.get("/points/{point}/skill", summary="Back-test figures of a point's warnings")
def skill(platform: PlatformDep, point: str) -> dict[str, Any]:
    with platform.store.read() as repo:
        rows = service.get_skill(repo.conn, point, platform.calendar.zone)
    if not rows:
        raise NotFound(f"no back-test stored for point {point}", f"监测点 {point} 尚无回测结果")
    return {"point": point, "skill": rows}


@router.get("/{warning_id}", summary="One warning with its dispatch to districts")
def one(platform: PlatformDep, actor: ActorDep, warning_id: int) -> dict[str, Any]:
    return _one(platform, warning_id)


@router.post("/{warning_id}/approve", summary="Approve a draft (supervisor)")
async def approve(platform: PlatformDep, actor: ActorDep, warning_id: int) -> dict[str, Any]:
    await platform.awrite(service.approve_warning, warning_id, actor, utcnow())
    return await _aone(platform, warning_id)


@router.post("/{warning_id}/issue", summary="Issue an approved warning (supervisor): CAP out, districts dispatched")
async def issue(platform: PlatformDep, actor: ActorDep, warning_id: int) -> dict[str, Any]:
    xml: bytes = await platform.awrite(service.issue_warning, warning_id, actor, utcnow())
    out = await _aone(platform, warning_id)
    urls, allow = await platform.aread(_webhooks_and_allow)
    delivery = await asyncio.to_thread(publish, out["identifier"], xml, urls, _mqtt_on(), allow)
    out["delivery"] = {"mqtt": delivery.mqtt, "webhooks_ok": delivery.webhooks_ok,
                       "webhooks_failed": delivery.webhooks_failed}
    return out


def _mqtt_on() -> bool:
    import os

    return os.environ.get("CITYOPS_MQTT", "") != "off"


@router.post("/{warning_id}/update", status_code=201, summary="Draft a CAP Update of an issued warning")
async def update(platform: PlatformDep, actor: ActorDep, warning_id: int, body: DraftIn) -> dict[str, Any]:
    now = utcnow()
    wid = await platform.awrite(service.update_warning, warning_id, body.to_draft(now), actor, now)
    return await _aone(platform, wid)


@router.post("/{warning_id}/cancel", status_code=201, summary="Draft a CAP Cancel of an issued warning")
async def cancel(platform: PlatformDep, actor: ActorDep, warning_id: int) -> dict[str, Any]:
    wid = await platform.awrite(service.cancel_warning, warning_id, actor, utcnow())
    return await _aone(platform, wid)


@router.post("/{warning_id}/acknowledge", summary="A district acknowledges a dispatched warning (预警签收)")
async def ack(platform: PlatformDep, actor: ActorDep, warning_id: int,
              body: Annotated[AckIn, Body()]) -> dict[str, Any]:
    await platform.awrite(service.acknowledge, warning_id, body.district, actor, utcnow())
    return await _aone(platform, warning_id)


# --- public feeds -----------------------------------------------------------------------


@feeds.get("/alerts/{identifier}.xml", summary="One issued warning as CAP 1.2 XML")
def alert_xml(platform: PlatformDep, identifier: str) -> Response:
    with platform.store.read() as repo:
        row = repo.conn.execute("SELECT cap_xml FROM warnings WHERE identifier = ? AND cap_xml IS NOT NULL",
                                (identifier,)).fetchone()
    if row is None:
        raise NotFound(f"no issued warning {identifier}", f"没有已发布的预警 {identifier}")
    return Response(bytes(row[0]), media_type="application/cap+xml")


def _active_warnings(request: Request, platform: Platform) -> tuple[datetime, list[Any], str]:
    """What both feeds list (now, the active warnings) and the base their links are made from."""
    now = utcnow()
    with platform.store.read() as repo:
        rows = service.active(repo.conn, now)
    return now, rows, str(request.base_url).rstrip("/")


@feeds.get("/alerts.atom", summary="Atom index of active warnings, each linking to its CAP XML")
def alerts_atom(request: Request, platform: PlatformDep) -> Response:
    now, rows, base = _active_warnings(request, platform)
    entries = []
    for r in rows:
        link = f"{base}/cap/alerts/{r['identifier']}.xml"
        sent = cap.cap_time(datetime.fromtimestamp(r["sent"], now.tzinfo))
        lv = cap.level(r["level"])
        entries.append(
            f"<entry><id>urn:cityops:{escape(r['identifier'])}</id>"
            f"<title>{escape(r['headline_zh'])} / {escape(r['headline_en'])}</title>"
            f"<updated>{sent}</updated><published>{sent}</published>"
            f"<author><name>{escape(platform.city.name)}</name></author>"
            f"<category term=\"{lv.code}\" label=\"{lv.zh} {lv.roman}\"/>"
            f"<summary>{escape(r['description_en'])}</summary>"
            f"<link rel=\"alternate\" type=\"application/cap+xml\" href=\"{escape(link)}\"/></entry>")
    feed = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
            "<feed xmlns=\"http://www.w3.org/2005/Atom\">"
            f"<id>urn:cityops:{platform.city.code}:alerts</id>"
            f"<title>{escape(platform.city.name)} 预警 / active warnings</title>"
            f"<updated>{cap.cap_time(now)}</updated>"
            f"<link rel=\"self\" href=\"{escape(base)}/cap/alerts.atom\"/>" + "".join(entries) + "</feed>")
    return Response(feed.encode(), media_type="application/atom+xml")


@feeds.get("/alerts.geojson", summary="Active warnings as GeoJSON (district polygons)")
def alerts_geojson(request: Request, platform: PlatformDep) -> Response:
    import shapely

    from cityops.geo.geojson import geojson_geometry

    now, rows, base = _active_warnings(request, platform)
    features = []
    for r in rows:
        codes = json.loads(r["districts"])
        geoms = [platform.city.geometries[c] for c in codes if c in platform.city.geometries]
        geom = shapely.union_all(geoms) if geoms else None
        lv = cap.level(r["level"])
        features.append({
            "type": "Feature", "id": r["identifier"],
            "geometry": geojson_geometry(geom) if geom is not None else None,
            "properties": {"identifier": r["identifier"], "level": lv.code, "level_zh": lv.zh,
                           "level_roman": lv.roman, "severity": lv.severity, "msg_type": r["msg_type"],
                           "headline_zh": r["headline_zh"], "headline_en": r["headline_en"],
                           "districts": codes, "point": r["point"],
                           "sent": datetime.fromtimestamp(r["sent"], platform.calendar.zone).isoformat(),
                           "expires": datetime.fromtimestamp(r["expires"], platform.calendar.zone).isoformat(),
                           "cap": f"{base}/cap/alerts/{r['identifier']}.xml"},
        })
    body = json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
    return Response(body.encode(), media_type="application/geo+json")
