"""Detections become cases (事件 → 案卷) through the case service, one case per condition.

A detection opens a case (SYSTEM actor, matter from the catalogue) or joins the open case
for the same key (the same waterlogging point or gauge; for congestion the same detector's
same episode) instead of opening a second one: the link lives in `detection_case`. A
congestion episode is one case: later detections of it join while it goes on (its start is
no later than the case's episode end), the detector's next episode opens a new one,
and an episode over for an hour opens none (it needs no one any more; it is logged). Joining
adds a comment to the case's history only when something an operator should know changed
(the level rose, or the water cleared); the case itself closes through the usual loop.

Case texts are written in the city's time (its calendar zone, never UTC), in both languages:
the description zh-CN first with English beside, and each language on its own in
`attributes.detection.text` for a reader who reads one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

import orjson

from cityops import hooks
from cityops.cases import service
from cityops.cases.models import FINAL_STATUSES, SYSTEM_ACTOR, Action, Status
from cityops.cases.workflow import Command
from cityops.detect.columns import MS_PER_MINUTE, Detection
from cityops.errors import CityopsError

if TYPE_CHECKING:
    from cityops.core import Platform

# Matters by kind: the first of these the city's catalogue has. GB/T 47678.5 has no
# waterlogging matter: standing water is registered against the storm drain grate (雨水箅子异常,
# 01004), as the legacy map does for 道路积水; a gauge fault against the flood monitoring
# equipment (防汛监测设施异常, 01067). It has no congestion matter either: cityops's catalogue
# extension adds 10950 道路交通拥堵 (catalog/data/extension.yaml); a catalogue without it
# falls back to the traffic police's 交通信号设施异常 (02015).
MATTERS: dict[str, tuple[str, ...]] = {"waterlogging": ("01004",), "device_fault": ("01067",),
                                       "congestion": ("10950", "02015")}
STALE_MS = 60 * MS_PER_MINUTE  # a congestion episode over this long before `now`: logged, no case
# Which detections deserve a case: recurrent congestion is the daily rush hour, rain signals
# are warnings (the warning feature's business), a flood receded within the batch still is.
CASE_LEVELS = {
    "waterlogging": {"yellow", "red"},
    "device_fault": {"frozen", "jump", "silent"},
    "congestion": {"non_recurrent"},
}
RANK = {"yellow": 1, "red": 2}
_FAULT_ZH = {"frozen": "读数冻结", "jump": "读数跳变", "silent": "长时间无数据"}
_LEVEL_ZH = {"yellow": "黄色", "red": "红色"}


@dataclass
class CaseOutcome:
    opened: list[int] = field(default_factory=list)
    joined: list[int] = field(default_factory=list)
    logged: int = 0


def matter_for(platform: Platform, kind: str) -> str:
    """The matter a detection of this kind is filed under in this city's catalogue."""
    codes = MATTERS[kind]
    return next((c for c in codes if platform.catalogue.find("matter", c) is not None), codes[-1])


def _local(ms: int, zone: tzinfo) -> tuple[str, str]:
    """A time in the city's zone, as each language writes it."""
    at = datetime.fromtimestamp(ms / 1000, zone)
    return f"{at.year}年{at.month}月{at.day}日 {at:%H:%M}", f"{at.day} {at:%b %Y}, {at:%H:%M}"


def texts(d: Detection, zone: tzinfo) -> dict[str, str]:
    """What the case says, in each language, with times in the city's zone."""
    at_zh, at_en = _local(d.at, zone)
    if d.kind == "waterlogging":
        level = _LEVEL_ZH.get(d.level, d.level)
        return {"zh": f"积水监测{level}预警：{d.detail.get('point')} 积水深度 {d.value:.0f} cm（{at_zh}）",
                "en": f"Gauge: water {d.value:.0f} cm deep at {d.detail.get('point')} ({d.level}, {at_en})"}
    if d.kind == "device_fault":
        return {"zh": f"积水监测设备故障（{_FAULT_ZH.get(d.level, d.level)}）：数据流 {d.datastream}（{at_zh}）",
                "en": f"Gauge fault ({d.level}) on datastream {d.datastream} ({at_en})"}
    if d.kind == "congestion":
        since_zh, since_en = _local(int(d.detail.get("started_at", d.at)), zone)
        seg, free = d.detail.get("segment"), float(d.detail.get("free_flow", math.nan))
        return {"zh": f"非常发性拥堵：{seg}（检测器 数据流 {d.datastream}）自 {since_zh} 起车速降至 {d.value:.0f} km/h"
                      f"（畅行 {free:.0f} km/h）",
                "en": f"Non-recurrent congestion on {seg} (detector, datastream {d.datastream}): speed down to "
                      f"{d.value:.0f} km/h since {since_en} (free flow {free:.0f} km/h)"}
    return {"zh": f"{d.kind} {d.level} {d.key}（{at_zh}）", "en": f"{d.kind} {d.level} {d.key} ({at_en})"}


def describe(d: Detection, zone: tzinfo, lang: str | None = None) -> str:
    """The text in one language ("zh", "en"), or zh-CN first with English beside."""
    t = texts(d, zone)
    return t[lang] if lang in t else f"{t['zh']} / {t['en']}"


def _where(repo: Any, d: Detection) -> tuple[float, float] | None:
    row = repo.conn.execute("SELECT lon, lat FROM sta_datastream WHERE id = ?", (d.datastream,)).fetchone()
    if row is None or row[0] is None or row[1] is None:
        return None
    return float(row[0]), float(row[1])


def open_or_join_cases(repo: Any, platform: Platform, detections: list[Detection], now: datetime,
                       sent_by: str | None = None) -> CaseOutcome:
    """In the caller's write transaction: log every detection; open or join a case for those
    that deserve one (naming `sent_by`, the user whose readings caused it, when a user sent
    them). Returns the case ids opened and joined."""
    out = CaseOutcome()
    conn = repo.conn
    now_ms = int(now.timestamp() * 1000)
    for d in detections:
        case_id = None
        stale = d.kind == "congestion" and int(d.detail.get("ended_at", d.at)) < now_ms - STALE_MS
        if d.level in CASE_LEVELS.get(d.kind, ()) and not stale:
            case_id = _case_for(repo, platform, d, now, now_ms, out, sent_by)
        value = None if math.isnan(d.value) else d.value
        conn.execute(
            "INSERT INTO detection_log (at, kind, key, level, value, datastream, case_id, detail)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (d.at, d.kind, d.key, d.level, value, d.datastream, case_id, orjson.dumps(d.detail).decode()),
        )
        hooks.event(repo, "detection", str(d.datastream), {
            "kind": d.kind, "key": d.key, "level": d.level, "datastream": d.datastream,
            "observed_ms": d.at, "value": value, "case_id": case_id})
        out.logged += 1
    return out


def _case_for(repo: Any, platform: Platform, d: Detection, now: datetime, now_ms: int, out: CaseOutcome,
              sent_by: str | None) -> int | None:
    conn = repo.conn
    episode_end = int(d.detail["ended_at"]) if d.kind == "congestion" and "ended_at" in d.detail else None
    # The case's status alone, not the whole case: a storm's gauges join their cases every batch.
    row = conn.execute("SELECT k.case_id, k.level, k.episode_end, c.status FROM detection_case k"
                       " LEFT JOIN cases c ON c.id = k.case_id WHERE k.key = ?", (d.key,)).fetchone()
    if row is not None and row[3] is not None and Status(row[3]) not in FINAL_STATUSES and _continues(d, row[2]):
        case_id = int(row[0])
        _join(repo, platform, d, case_id, str(row[1]), now)
        conn.execute("UPDATE detection_case SET detections = detections + 1, updated_at = ?,"
                     " level = CASE WHEN ? = 1 THEN ? ELSE level END,"
                     " episode_end = CASE WHEN coalesce(episode_end, ?) > ? THEN episode_end ELSE ? END"
                     " WHERE key = ?",  # SQLite's max(a, b), NULL when either is: portable
                     (now_ms, int(RANK.get(d.level, 0) > RANK.get(str(row[1]), 0)), d.level,
                      episode_end, episode_end, episode_end, d.key))
        out.joined.append(case_id)
        return case_id
    where = _where(repo, d)
    if where is None:
        return None
    zone = platform.calendar.zone
    report = service.NewReport(
        matter_code=matter_for(platform, d.kind), description=describe(d, zone), lon=where[0], lat=where[1],
        source="sensor", reporter="system",
        attributes={"detection": {"kind": d.kind, "key": d.key, "level": d.level, "datastream": d.datastream,
                                  "value": None if math.isnan(d.value) else d.value, "at": d.at,
                                  "text": texts(d, zone), **({"sent_by": sent_by} if sent_by else {}),
                                  **({"started_at": d.detail.get("started_at"), "segment": d.detail.get("segment")}
                                     if d.kind == "congestion" else {})}},
    )
    try:
        case = service.intake(repo, platform, report, SYSTEM_ACTOR, now)
    except CityopsError:
        return None  # outside the city or an unknown matter: logged, no case
    conn.execute(
        "INSERT INTO detection_case (key, case_id, kind, level, opened_at, updated_at, episode_end)"
        " VALUES (?,?,?,?,?,?,?)"
        " ON CONFLICT(key) DO UPDATE SET case_id = excluded.case_id, level = excluded.level,"
        " opened_at = excluded.opened_at, updated_at = excluded.updated_at, detections = 1,"
        " episode_end = excluded.episode_end",
        (d.key, case.id, d.kind, d.level, now_ms, now_ms, episode_end),
    )
    out.opened.append(case.id)
    return int(case.id)


def _continues(d: Detection, episode_end: int | None) -> bool:
    """Whether a detection belongs to the episode its key's open case is about: always, except
    a congestion episode that starts after the case's one ended (the detector's next jam; the
    detector's run of congested readings broke in between). A continuing episode, seen again
    by a later batch through its look-back, starts no later than the case's last known end."""
    if d.kind != "congestion" or episode_end is None:
        return True
    return int(d.detail.get("started_at", d.at)) <= int(episode_end)


def _join(repo: Any, platform: Platform, d: Detection, case_id: int, level: str, now: datetime) -> None:
    """Comment on the case only when the level rose or the water cleared."""
    reason = ""
    if RANK.get(d.level, 0) > RANK.get(level, 0):
        reason = f"升级为{_LEVEL_ZH.get(d.level, d.level)} / now {d.level}: " + describe(d, platform.calendar.zone)
    elif d.kind == "waterlogging" and d.detail.get("cleared"):
        reason = (f"积水已退至预警线以下（{d.detail.get('last_cm', 0):.0f} cm），待核查结案"
                  f" / water below the thresholds ({d.detail.get('last_cm', 0):.0f} cm): ready to verify")
    if reason:
        service.act(repo, platform, case_id, Command(Action.COMMENT, SYSTEM_ACTOR, now, reason=reason))
