"""Drone patrols (无人机巡查): detections from on-board or vendor algorithms become cases.

A detection is a box in a frame of a flight, with a class, a confidence, a track id (the same
object across frames) and where the drone was. The boxes of one tracked object are one thing:
its identity is (flight, track), and that identity, not the frame, is the intake's
idempotency key, so replaying a flight's detections opens each case once. A detection of the
same matter within DEDUPE_M of an open case joins that case instead of opening another.

Classes map to matter codes through a table the city edits (setting `field.drone_classes`,
JSON {label: matter code}); labels mapped to "" are ignored (a bus in traffic is no problem).
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import polars as pl

from cityops.cases import service as cases
from cityops.cases.models import FINAL_STATUSES, SYSTEM_ACTOR, Actor, Status
from cityops.errors import InvalidInput
from cityops.field.attachments import Stored, record
from cityops.field.images import distance_m
from cityops.field.plan import EARTH_M_PER_DEG, Camera
from cityops.store.base import CaseQuery
from cityops.store.codec import to_us
from cityops.timebounds import TimeWindow

if TYPE_CHECKING:
    from cityops.core import Platform

SETTING = "field.drone_classes"
DEDUPE_M = 10.0
MIN_CONFIDENCE = 0.5
MAX_DETECTIONS = 50_000
# Default table: on-board sanitation classes and the UAVDT vehicle classes (1 car, 2 truck, 3 bus).
DEFAULT_CLASSES: dict[str, str] = {
    "garbage": "06010", "exposed_rubbish": "06010", "overflowing_bin": "06042", "muck": "06011",
    "burning": "06020", "flyposting": "07001", "street_vendor": "09006", "construction_occupation": "08002",
    "muck_truck_uncovered": "08011", "abandoned_vehicle": "06034", "bicycle_disorder": "09010",
    "car": "09009", "truck": "09009", "bus": "",
    "1": "09009", "2": "09009", "3": "",
}


def class_table(repo: Any) -> dict[str, str]:
    raw = repo.get_setting(SETTING)
    table = dict(DEFAULT_CLASSES)
    if raw:
        table.update(orjson.loads(raw))
    return table


def set_classes(repo: Any, platform: Platform, updates: dict[str, str]) -> dict[str, str]:
    """Write op: change the city's class table (a matter code, or "" to ignore a label)."""
    for label, code in updates.items():
        if not isinstance(label, str) or not isinstance(code, str):
            raise InvalidInput("the table maps labels to matter codes (strings)", "类别表应为 标签→事项代码")
        if code:
            cases.check_matter(platform, code)
    raw = repo.get_setting(SETTING)
    saved = orjson.loads(raw) if raw else {}
    saved.update(updates)
    repo.set_setting(SETTING, orjson.dumps(saved).decode())
    return class_table(repo)


@dataclass(frozen=True)
class Sighting:
    """One tracked object of one flight: its best box, placed on the ground."""

    key: str
    flight: str
    drone: str
    label: str
    confidence: float
    lon: float
    lat: float
    seen_at: datetime
    frames: int
    image: int | None = None  # index of the detection whose "image" (base64) is the evidence


def ground_point(lon: Any, lat: Any, altitude_m: Any, heading_deg: Any, cx: Any, cy: Any,
                 width: float, height: float, camera: Camera) -> tuple[Any, Any]:
    """Where the centre of a box in a nadir frame is on the ground (arrays or scalars).
    Image x runs to the camera's right, y down (towards the back of the drone)."""
    across, along = camera.footprint(1.0)
    right = (np.asarray(cx) / width - 0.5) * across * altitude_m
    ahead = (0.5 - np.asarray(cy) / height) * along * altitude_m
    h = np.radians(heading_deg)
    east = right * np.cos(h) + ahead * np.sin(h)
    north = -right * np.sin(h) + ahead * np.cos(h)
    return (lon + east / (EARTH_M_PER_DEG * math.cos(math.radians(float(np.mean(lat))))),
            lat + north / EARTH_M_PER_DEG)


def sightings(body: dict[str, Any], window: TimeWindow | None = None, now: datetime | None = None) -> list[Sighting]:
    """Validate a detections document and reduce its boxes to one sighting per track.

    {"flight": "...", "drone": "...", "altitude_m": 120, "heading_deg": 0,
     "image_size": [1024, 540], "camera": {"hfov_deg": .., "vfov_deg": ..},
     "detections": [{"frame": 1, "track_id": 3, "label": "car", "confidence": 0.9,
                     "box": [left, top, width, height], "lon": .., "lat": .., "time": ISO}, ...]}
    Each detection's lon/lat is the drone's position at that frame (or the box's own, with
    "box_geo": true). With a `window`, every time must lie in it at `now` (a 422 names the first
    that does not)."""
    flight, drone = str(body.get("flight") or ""), str(body.get("drone") or "")
    dets = body.get("detections")
    if not flight or not isinstance(dets, list):
        raise InvalidInput("give flight and a list of detections", "缺少航班号或检测结果列表")
    if len(dets) > MAX_DETECTIONS:
        raise InvalidInput(f"at most {MAX_DETECTIONS} detections per upload", f"每次最多 {MAX_DETECTIONS} 条检测")
    if not dets:
        return []
    try:
        frame = pl.DataFrame({
            "track": [str(d.get("track_id", f"f{d['frame']}-{i}")) for i, d in enumerate(dets)],
            "label": [str(d["label"]) for d in dets],
            "confidence": [float(d.get("confidence", 1.0)) for d in dets],
            "cx": [float(d["box"][0]) + float(d["box"][2]) / 2 for d in dets],
            "cy": [float(d["box"][1]) + float(d["box"][3]) / 2 for d in dets],
            "lon": [float(d["lon"]) for d in dets],
            "lat": [float(d["lat"]) for d in dets],
            "time": [datetime.fromisoformat(str(d["time"])) for d in dets],
            "index": list(range(len(dets))),
        })
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise InvalidInput(f"each detection needs label, box [l, t, w, h], lon, lat, time: {exc}",
                           "每条检测须有 label、box、lon、lat、time") from None
    if frame["time"].dtype == pl.Datetime and frame["time"].dtype.time_zone is None:  # type: ignore[attr-defined]
        raise InvalidInput("detection times need a zone", "检测时间必须带时区")
    if window is not None and now is not None:
        _check_times(frame, window, now)
    if not body.get("box_geo"):
        w, h = (float(v) for v in body.get("image_size", (1024, 540)))
        cam = Camera(**{k: float(v) for k, v in (body.get("camera") or {}).items() if k in ("hfov_deg", "vfov_deg")})
        lon, lat = ground_point(frame["lon"].to_numpy(), frame["lat"].to_numpy(), float(body.get("altitude_m", 100)),
                                float(body.get("heading_deg", 0)), frame["cx"].to_numpy(), frame["cy"].to_numpy(),
                                w, h, cam)
        frame = frame.with_columns(pl.Series("lon", lon), pl.Series("lat", lat))
    # One row per track: the most confident box, and how often it was seen.
    best = (frame.sort("confidence", descending=True)
            .group_by("track", maintain_order=True)
            .agg(pl.col("label").first(), pl.col("confidence").first(), pl.col("lon").first(),
                 pl.col("lat").first(), pl.col("time").min(), pl.len().alias("frames"), pl.col("index").first()))
    return [Sighting(f"drone:{flight}:{r['track']}", flight, drone, r["label"], r["confidence"], r["lon"], r["lat"],
                     r["time"], r["frames"], r["index"] if dets[r["index"]].get("image") else None)
            for r in best.iter_rows(named=True)]


def _check_times(frame: pl.DataFrame, window: TimeWindow, now: datetime) -> None:
    """The first detection whose time is outside the window, as a 422 (one filter, no loop)."""
    lo, hi = window.bounds(now)
    bad = frame.filter((pl.col("time") < lo) | (pl.col("time") > hi)).head(1)
    if bad.height:
        row = bad.row(0, named=True)
        window.check(f"detections[{row['index']}].time", row["time"], now)


def evidence_images(body: dict[str, Any], found: list[Sighting]) -> dict[str, bytes]:
    """The base64 "image" of each sighting's best detection, by sighting key."""
    out = {}
    for s in found:
        if s.image is None:
            continue
        try:
            out[s.key] = base64.b64decode(str(body["detections"][s.image]["image"]), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(f"detection {s.image}: image is not base64", f"第 {s.image} 条检测的图片不是 base64") from None
    return out


def ingest(repo: Any, platform: Platform, found: list[Sighting], evidence: dict[str, Stored] | None = None,
           min_confidence: float = MIN_CONFIDENCE, actor: Actor = SYSTEM_ACTOR) -> dict[str, Any]:
    """Write op: each new sighting opens a case, joins an open case of the same matter within
    DEDUPE_M, or is skipped (unmapped, unsure, outside). The case names `actor`, who posted the
    detections (the system only for the demo's own flights); the drone the caller names is a
    device label in the case's attributes, never the actor. A case is dated when the sighting
    was, but never after the clock. A sighting's image, stored beforehand, becomes the case's
    evidence photo."""
    from cityops.core import utcnow

    now = utcnow()
    table = class_table(repo)
    known = {r[0]: r[1] for r in repo.conn.execute(
        f"SELECT key, case_id FROM drone_detections WHERE key IN ({','.join('?' * len(found))})",
        [s.key for s in found]).fetchall()} if found else {}
    counts = {"opened": 0, "joined": 0, "replayed": 0, "ignored": 0, "outside": 0}
    case_ids: list[int] = []
    for s in found:
        if s.key in known:
            counts["replayed"] += 1
            if known[s.key] is not None:
                case_ids.append(int(known[s.key]))
            continue
        code = table.get(s.label, "")
        if not code or s.confidence < min_confidence:
            counts["ignored"] += 1
            continue
        if platform.city.locate_one(s.lon, s.lat) is None:
            counts["outside"] += 1
            continue
        joined = _open_case_near(repo, code, s.lon, s.lat)
        if joined is not None:
            case_id = joined
            counts["joined"] += 1
        else:
            report = cases.NewReport(
                matter_code=code, description=f"无人机巡查发现：{s.label}（置信度 {s.confidence:.2f}）/ "
                f"drone patrol detected: {s.label} (confidence {s.confidence:.2f})",
                lon=s.lon, lat=s.lat, source="drone", reporter=actor.name,
                attributes={"drone": {"flight": s.flight, "device": s.drone, "label": s.label,
                                      "confidence": s.confidence, "frames": s.frames}},
                idempotency_key=s.key,
            )
            case_id = cases.intake(repo, platform, report, actor, min(s.seen_at, now)).id
            counts["opened"] += 1
        case_ids.append(case_id)
        if evidence and s.key in evidence:
            record(repo, platform, replace(evidence[s.key], case_id=case_id), actor)
        repo.conn.execute(
            "INSERT INTO drone_detections (key, flight, label, matter_code, confidence, lon, lat, seen_at, case_id) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            (s.key, s.flight, s.label, code, s.confidence, s.lon, s.lat, to_us(s.seen_at), case_id))
    return {**counts, "case_ids": sorted(set(case_ids))}


def _open_case_near(repo: Any, code: str, lon: float, lat: float) -> int | None:
    d = DEDUPE_M / EARTH_M_PER_DEG
    open_statuses = [s.value for s in Status if s not in FINAL_STATUSES]
    found, _ = repo.search_cases(CaseQuery(status=open_statuses, matter_code=[code], limit=1000))
    for c in found:
        if c.lon is not None and c.lat is not None and abs(c.lat - lat) < d * 2 \
                and distance_m(c.lon, c.lat, lon, lat) <= DEDUPE_M:
            return int(c.id)
    return None


def uavdt_detections(text: str, flight: str, lon: float, lat: float, start: datetime, fps: float = 30.0,
                     frames: int | None = None) -> dict[str, Any]:
    """A detections document from a UAVDT ground-truth file (frame, target, l, t, w, h,
    out_of_view, occlusion, category), the drone hovering at lon/lat: for tests and the demo."""
    rows = np.loadtxt(text.splitlines(), delimiter=",", dtype=np.int64, ndmin=2)
    if frames is not None:
        rows = rows[rows[:, 0] <= frames]

    return {"flight": flight, "drone": "UAV-01", "altitude_m": 80, "heading_deg": 0, "image_size": [1024, 540],
            "detections": [{"frame": int(r[0]), "track_id": int(r[1]), "label": str(int(r[8])), "confidence": 1.0,
                            "box": [int(r[2]), int(r[3]), int(r[4]), int(r[5])], "lon": lon, "lat": lat,
                            "time": (start + timedelta(seconds=float(r[0]) / fps)).isoformat()} for r in rows]}


def demo_flight(platform: Platform, code: str, day: str, start: datetime, finds: int = 3) -> dict[str, Any]:
    """A simulated flight over a patrol grid: the plan's photo points, a few of which 'see'
    a sanitation problem. Seeded by grid and day, so flying the same day again replays it."""
    from cityops.field.plan import flight_plan

    fp = flight_plan(platform.city, code)
    rng = np.random.default_rng(abs(hash_text(f"{code}:{day}")))
    labels = ["garbage", "overflowing_bin", "street_vendor", "flyposting", "muck"]
    picks = rng.choice(len(fp.photos), size=min(finds, len(fp.photos)), replace=False)
    seconds_per_photo = fp.minutes * 60 / max(1, len(fp.photos))
    dets = []
    for n, i in enumerate(sorted(picks.tolist())):
        lon, lat = fp.photos[i]
        dets.append({"frame": int(i), "track_id": n, "label": labels[int(rng.integers(len(labels)))],
                     "confidence": round(float(rng.uniform(0.6, 0.98)), 2), "box": [400, 200, 60, 40],
                     "lon": lon + float(rng.normal(0, 0.0002)), "lat": lat + float(rng.normal(0, 0.0002)),
                     "time": (start + timedelta(seconds=i * seconds_per_photo)).isoformat()})
    return {"flight": f"{code}:{day}", "drone": f"UAV-{code}", "box_geo": True, "detections": dets}


def hash_text(text: str) -> int:
    import zlib

    return zlib.crc32(text.encode())
