"""Detections become cases (事件 → 案卷) through the case service, one case per condition.

A detection opens a case (SYSTEM actor, matter from the catalogue) or joins the open case
for the same key (the same waterlogging point, road segment or gauge) instead of opening a
second one: the link lives in `detection_case`. Joining adds a comment to the case's history
only when something an operator should know changed (the level rose, or the water cleared);
the case itself closes through the usual loop (dispatch, dispose, verify).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from cityops.cases import service
from cityops.cases.models import SYSTEM_ACTOR, Action
from cityops.cases.workflow import Command
from cityops.detect.columns import Detection
from cityops.errors import CityopsError

if TYPE_CHECKING:
    from cityops.core import Platform

# GB/T 47678.5 has no waterlogging matter: standing water is registered against the storm
# drain grate (雨水箅子异常, 01004), as the legacy map does for 道路积水; a gauge fault against
# the flood monitoring equipment (防汛监测设施异常, 01067). Traffic has no congestion matter:
# non-recurrent congestion goes to the traffic police under 交通信号设施异常 (02015).
MATTERS = {"waterlogging": "01004", "device_fault": "01067", "congestion": "02015"}
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


def describe(d: Detection) -> str:
    """zh-CN first, English beside, as every case text."""
    at = datetime.fromtimestamp(d.at / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
    if d.kind == "waterlogging":
        return (f"积水监测{_LEVEL_ZH.get(d.level, d.level)}预警：{d.detail.get('point')} 积水深度 {d.value:.0f} cm"
                f"（{at}）/ Gauge: water {d.value:.0f} cm deep at {d.detail.get('point')} ({d.level}, {at})")
    if d.kind == "device_fault":
        return (f"积水监测设备故障（{_FAULT_ZH.get(d.level, d.level)}）：数据流 {d.datastream}（{at}）"
                f" / Gauge fault ({d.level}) on datastream {d.datastream} ({at})")
    if d.kind == "congestion":
        return (f"非常发性拥堵：{d.detail.get('segment')} 车速 {d.value:.0f}（{at}）"
                f" / Non-recurrent congestion on {d.detail.get('segment')}: speed {d.value:.0f} ({at})")
    return f"{d.kind} {d.level} {d.key} ({at})"


def _where(repo: Any, d: Detection) -> tuple[float, float] | None:
    row = repo.conn.execute("SELECT lon, lat FROM sta_datastream WHERE id = ?", (d.datastream,)).fetchone()
    if row is None or row[0] is None or row[1] is None:
        return None
    return float(row[0]), float(row[1])


def open_or_join_cases(repo: Any, platform: Platform, detections: list[Detection], now: datetime) -> CaseOutcome:
    """In the caller's write transaction: log every detection; open or join a case for those
    that deserve one. Returns the case ids opened and joined."""
    out = CaseOutcome()
    conn = repo.conn
    now_ms = int(now.timestamp() * 1000)
    for d in detections:
        case_id = None
        if d.level in CASE_LEVELS.get(d.kind, ()):
            case_id = _case_for(repo, platform, d, now, now_ms, out)
        value = None if math.isnan(d.value) else d.value
        conn.execute(
            "INSERT INTO detection_log (at, kind, key, level, value, datastream, case_id, detail)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (d.at, d.kind, d.key, d.level, value, d.datastream, case_id, orjson.dumps(d.detail).decode()),
        )
        out.logged += 1
    return out


def _case_for(repo: Any, platform: Platform, d: Detection, now: datetime, now_ms: int, out: CaseOutcome) -> int | None:
    conn = repo.conn
    row = conn.execute("SELECT case_id, level FROM detection_case WHERE key = ?", (d.key,)).fetchone()
    if row is not None:
        case = repo.get_case(int(row[0]))
        if case is not None and not case.is_final:
            _join(repo, platform, d, case.id, str(row[1]), now)
            conn.execute("UPDATE detection_case SET detections = detections + 1, updated_at = ?,"
                         " level = CASE WHEN ? THEN ? ELSE level END WHERE key = ?",
                         (now_ms, RANK.get(d.level, 0) > RANK.get(str(row[1]), 0), d.level, d.key))
            out.joined.append(case.id)
            return int(case.id)
    where = _where(repo, d)
    if where is None:
        return None
    report = service.NewReport(
        matter_code=MATTERS[d.kind], description=describe(d), lon=where[0], lat=where[1],
        source="sensor", reporter="system",
        attributes={"detection": {"kind": d.kind, "key": d.key, "level": d.level, "datastream": d.datastream,
                                  "value": None if math.isnan(d.value) else d.value, "at": d.at}},
    )
    try:
        case = service.intake(repo, platform, report, SYSTEM_ACTOR, now)
    except CityopsError:
        return None  # outside the city or an unknown matter: logged, no case
    conn.execute(
        "INSERT INTO detection_case (key, case_id, kind, level, opened_at, updated_at) VALUES (?,?,?,?,?,?)"
        " ON CONFLICT(key) DO UPDATE SET case_id = excluded.case_id, level = excluded.level,"
        " opened_at = excluded.opened_at, updated_at = excluded.updated_at, detections = 1",
        (d.key, case.id, d.kind, d.level, now_ms, now_ms),
    )
    out.opened.append(case.id)
    return int(case.id)


def _join(repo: Any, platform: Platform, d: Detection, case_id: int, level: str, now: datetime) -> None:
    """Comment on the case only when the level rose or the water cleared."""
    reason = ""
    if RANK.get(d.level, 0) > RANK.get(level, 0):
        reason = f"升级为{_LEVEL_ZH.get(d.level, d.level)} / now {d.level}: " + describe(d)
    elif d.kind == "waterlogging" and d.detail.get("cleared"):
        reason = (f"积水已退至预警线以下（{d.detail.get('last_cm', 0):.0f} cm），待核查结案"
                  f" / water below the thresholds ({d.detail.get('last_cm', 0):.0f} cm): ready to verify")
    if reason:
        service.act(repo, platform, case_id, Command(Action.COMMENT, SYSTEM_ACTOR, now, reason=reason))
