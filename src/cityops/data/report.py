"""The daily report upward (三级联网): cases, events and indicators in the structure of the
national city-operation data standard CJ/T 545-2021 (城市运行管理服务平台数据标准).

The standard's exact field list was NOT at hand when this was written: the grouping follows
its data classes as published in its outline (管理数据: 城市管理案件; 运行数据: 运行监测/预警事件;
综合评价数据: 评价指标), and each field's standard name below is our reading, not a quotation.
The mapping is versioned (MAPPING) and documented in docs/data.md, so that it can be corrected
against the text without touching the code that sends it: a new version, a new dict.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from cityops.store.codec import from_us
from cityops.timefmt import iso

MAPPING = "cityops-cjt545-2021/0.1"
# our column -> the standard's field (name as we read it)
CASE_FIELDS = {"case_id": "案件编号", "matter_code": "事部件类别代码", "status": "案件状态", "source": "案件来源",
               "district": "所属区县代码", "grid": "单元网格编码", "department": "处置部门", "reported_at": "上报时间",
               "dispatched_at": "派遣时间", "disposed_at": "处置完成时间", "closed_at": "结案时间"}
EVENT_FIELDS = {"identifier": "预警事件编号", "level": "预警级别", "districts": "影响区县", "headline_zh": "事件标题",
                "onset": "开始时间", "expires": "结束时间", "status": "事件状态"}
INDICATOR_FIELDS = {"district": "统计对象（区县代码）", "accepted": "受理数", "registered": "立案数",
                    "dispatched": "派遣数", "disposed": "处置数", "closed": "结案数", "close_rate": "结案率",
                    "dispose_rate": "处置率", "on_time_dispose_rate": "按期处置率", "on_time_close_rate": "按期结案率",
                    "rework_rate": "返工率", "avg_handle_hours": "平均处置时长（小时）"}


def _iso(us: int | None, zone: Any) -> str | None:
    """A stored instant in the city's local time, with its offset (the one format, timefmt)."""
    return iso(from_us(us), zone)


def build(repo: Any, platform: Any, day: date) -> dict[str, Any]:
    """The report of one local day: the cases reported that day, the warnings in force, and
    the day's indicators by district, with the standard's field names."""
    zone = platform.calendar.zone
    start = datetime.combine(day, time(0), zone)
    end = start + timedelta(days=1)
    lo, hi = int(start.timestamp() * 1e6), int(end.timestamp() * 1e6)
    cols = ("id", "matter_code", "status", "source", "district", "grid", "department", "reported_at",
            "dispatched_at", "disposed_at", "closed_at")
    cases = [dict(zip(cols, r, strict=True)) for r in repo.conn.execute(
        f"SELECT {', '.join(cols)} FROM cases WHERE reported_at >= ? AND reported_at < ? ORDER BY id", (lo, hi))]
    case_rows = [{CASE_FIELDS["case_id" if k == "id" else k]: (_iso(v, zone) if k.endswith("_at") else v)
                  for k, v in c.items()} for c in cases]
    events = [{EVENT_FIELDS[k]: v for k, v in zip(
        ("identifier", "level", "districts", "headline_zh", "onset", "expires", "status"), r, strict=True)}
        for r in repo.conn.execute("SELECT identifier, level, districts, headline_zh, onset, expires, status "
                                   "FROM warnings WHERE onset < ? AND expires >= ?", (hi, lo))]
    for e in events:
        e["开始时间"], e["结束时间"] = _iso(e["开始时间"], zone), _iso(e["结束时间"], zone)
    return {"standard": "CJ/T 545-2021", "mapping": MAPPING, "period": day.isoformat(),
            "reporter": {"城市代码": platform.city.code, "城市名称": platform.city.name},
            "管理数据": {"城市管理案件": case_rows}, "运行数据": {"预警事件": events},
            "综合评价数据": {"评价指标": _indicators(repo, start, end)}}


def _indicators(repo: Any, start: datetime, end: datetime) -> list[dict[str, Any]]:
    from cityops.evaluate.service import indicators

    frame = indicators(repo, "district", as_of=end, start=start, end=end, total=True)
    frame = frame.select([c for c in INDICATOR_FIELDS if c in frame.columns])
    return [{INDICATOR_FIELDS[k]: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
            for row in frame.to_dicts()]


def send(store: Any, platform: Any, base_url: str, day: date, now: datetime) -> dict[str, Any]:
    """Seal the day's report, send it to the province over mutual TLS, log the signed receipt."""
    from cityops.data import accesslog, envelope, exchange

    with store.read() as repo:
        me = exchange.identity(repo)
        cert, key, trusted = exchange.paths(repo)
        body = build(repo, platform, day)
    message = envelope.seal(me, body, now, "report")
    with exchange.client(cert, key, trusted) as http:
        peer, receipt, sealed = exchange.post_sealed(http, base_url.rstrip("/") + "/exchange/v1/reports", message,
                                                     me.trusted_pem, now, "receipt")
    store.write(lambda repo: accesslog.append(
        repo.conn, now, me.name, "system", "report.sent", None, "", peer=peer, period=body["period"],
        mapping=MAPPING, cases=len(body["管理数据"]["城市管理案件"]), request_digest=envelope.digest(message),
        receipt_sig=sealed["sig"], receipt_at=sealed["at"]))
    return {"peer": peer, "received": receipt["received"], "cases": len(body["管理数据"]["城市管理案件"])}
