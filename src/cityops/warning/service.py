"""Storage and workflow of warnings: thin functions over `repo.conn` (SQLite).

Write operations are module-level `op(repo, platform, *args)` so HTTP can run them through
`platform.awrite` (in the write process); nothing here publishes: a caller publishes the
returned CAP document after the transaction committed (see publish.py).

Workflow: draft → approved → issued, each step by a `supervisor` (or admin). An Update or a
Cancel is a new warning that references the one it replaces; when it is issued the earlier
one becomes superseded (Update) or cancelled (Cancel). Issuing dispatches the warning to
each district it names (预警下派); each district acknowledges before its due time.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from cityops import hooks
from cityops.cases.models import Actor, Role
from cityops.errors import Forbidden, IllegalTransition, InvalidInput, NotFound
from cityops.security.settings import load as load_security
from cityops.timefmt import iso
from cityops.warning import cap
from cityops.warning.score import Skill

ACK_WITHIN = timedelta(minutes=30)  # a district acknowledges a warning within this time
APPROVERS = (Role.SUPERVISOR, Role.ADMIN)


def _ts(t: datetime) -> int:
    return int(t.timestamp())


def _dt(ts: int, tz: str) -> datetime:
    return datetime.fromtimestamp(ts, ZoneInfo(tz))


# --- skill ------------------------------------------------------------------------------


def save_skill(conn: sqlite3.Connection, point: str, forecast: str, threshold: float, model: Skill,
               baselines: dict[str, Skill], protocol: dict[str, Any], now: datetime) -> None:
    conn.execute(  # portable upsert (SQLite ≥ 3.24 and PostgreSQL): a point's figures replace its last
        "INSERT INTO warning_skill (point, forecast, threshold, events, warned, false_alarms, recall, precision,"
        " median_lead_min, baselines, protocol, computed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT (point, forecast) DO UPDATE SET threshold = excluded.threshold, events = excluded.events,"
        " warned = excluded.warned, false_alarms = excluded.false_alarms, recall = excluded.recall,"
        " precision = excluded.precision, median_lead_min = excluded.median_lead_min,"
        " baselines = excluded.baselines, protocol = excluded.protocol, computed_at = excluded.computed_at",
        (point, forecast, threshold, model.events, model.warned, model.false_alarms, model.recall,
         model.precision, model.median_lead_min,
         json.dumps({name: b.as_dict() for name, b in baselines.items()}),
         json.dumps(protocol), _ts(now)),
    )


def get_skill(conn: sqlite3.Connection, point: str, zone: tzinfo) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM warning_skill WHERE point = ? ORDER BY forecast", (point,)).fetchall()
    out = []
    for r in rows:
        d = dict(r)
        d["baselines"] = json.loads(d["baselines"])
        d["protocol"] = json.loads(d["protocol"])
        d["computed_at"] = _iso(d["computed_at"], zone)
        out.append(d)
    return out


# --- warnings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """What a person (or the model, through warn_points) proposes to warn about."""

    level: str
    districts: tuple[str, ...]
    headline_zh: str
    headline_en: str
    description_zh: str
    description_en: str
    onset: datetime
    expires: datetime
    point: str | None = None
    params: tuple[tuple[str, str], ...] = ()


def _require(actor: Actor, what: str) -> None:
    if actor.role not in APPROVERS:
        raise Forbidden(f"only a supervisor may {what} a warning", f"只有值班长（supervisor）可以{what}预警")


def _row(conn: sqlite3.Connection, warning_id: int) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM warnings WHERE id = ?", (warning_id,)).fetchone()
    if row is None:
        raise NotFound(f"no warning {warning_id}", f"预警 {warning_id} 不存在")
    return row  # type: ignore[no-any-return]


def _insert(repo: Any, platform: Any, d: Draft, actor: Actor, now: datetime, msg_type: str,
            refs: Sequence[str] = (), replaces: int | None = None) -> int:
    cap.level(d.level)
    known = {x.code for x in platform.city.districts}
    unknown = [c for c in d.districts if c not in known]
    if not d.districts or unknown:
        raise InvalidInput(f"unknown or no districts: {unknown or '[]'}", f"区划代码无效或缺失：{unknown}")
    if d.expires <= d.onset:
        raise InvalidInput("a warning must expire after its onset", "预警失效时间必须晚于生效时间")
    conn = repo.conn
    next_id = int(conn.execute("SELECT coalesce(max(id), 0) + 1 FROM warnings").fetchone()[0])
    identifier = f"cityops-{platform.city.code}-w{next_id}-{msg_type.lower()}"
    conn.execute(
        "INSERT INTO warnings (id, identifier, msg_type, status, level, point, districts, headline_zh,"
        " headline_en, description_zh, description_en, onset, expires, refs, replaces, params,"
        " created_by, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (next_id, identifier, msg_type, "draft", d.level, d.point, json.dumps(list(d.districts)),
         d.headline_zh, d.headline_en, d.description_zh, d.description_en, _ts(d.onset), _ts(d.expires),
         json.dumps(list(refs)), replaces, json.dumps(dict(d.params)), actor.name, _ts(now)),
    )
    return next_id


DRAFTERS = (Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN, Role.SYSTEM)


def draft_warning(repo: Any, platform: Any, d: Draft, actor: Actor, now: datetime) -> int:
    """A new warning (CAP Alert) in draft, by a dispatcher, a supervisor or the system (model)."""
    if actor.role not in DRAFTERS:
        raise Forbidden("only a dispatcher or supervisor may draft a warning", "只有派遣员或值班长可以起草预警")
    return _insert(repo, platform, d, actor, now, "Alert")


def approve_warning(repo: Any, platform: Any, warning_id: int, actor: Actor, now: datetime) -> None:
    """Two-person rule (on unless the city turned it off): the approver is not the drafter.
    Issuing is then for any supervisor, the approver included."""
    _require(actor, "approve")
    row = _row(repo.conn, warning_id)
    if row["status"] != "draft":
        raise IllegalTransition(f"warning {warning_id} is {row['status']}, not a draft",
                                f"预警 {warning_id} 当前为 {row['status']}，不是草稿")
    if row["created_by"] == actor.name and load_security(repo).two_person:
        raise Forbidden(f"two-person rule: warning {warning_id} was drafted by {actor.name}; another "
                        "supervisor must approve it (a city may turn the rule off: "
                        "`cityops security set two_person off`)",
                        f"双人审核：预警 {warning_id} 由 {actor.name} 起草，须由另一名值班长审核")
    repo.conn.execute("UPDATE warnings SET status='approved', approved_by=?, approved_at=? WHERE id=?",
                      (actor.name, _ts(now), warning_id))


def _sender(platform: Any) -> str:
    return f"cityops@{platform.city.code}"


def issue_warning(repo: Any, platform: Any, warning_id: int, actor: Actor, now: datetime) -> bytes:
    """Issue an approved warning: its CAP XML is fixed and stored, districts are dispatched,
    and the warning it replaces (Update/Cancel) leaves the active list. Returns the XML."""
    _require(actor, "issue")
    conn = repo.conn
    row = _row(conn, warning_id)
    if row["status"] != "approved":
        raise IllegalTransition(f"warning {warning_id} is {row['status']}; approve it before issuing",
                                f"预警 {warning_id} 当前为 {row['status']}，须先审核")
    xml = _maybe_signed(cap.build(to_cap(platform, row, now)))
    conn.execute("UPDATE warnings SET status='issued', issued_by=?, sent=?, cap_xml=? WHERE id=?",
                 (actor.name, _ts(now), xml, warning_id))
    if row["replaces"] is not None:
        new_status = "cancelled" if row["msg_type"] == "Cancel" else "superseded"
        conn.execute("UPDATE warnings SET status=? WHERE id=?", (new_status, row["replaces"]))
    if row["msg_type"] != "Cancel":
        due = _ts(now + ACK_WITHIN)
        conn.executemany("INSERT INTO warning_dispatch (warning_id, district, due_at) VALUES (?,?,?)",
                         [(warning_id, dc, due) for dc in json.loads(row["districts"])])
    kind = {"Update": "warning.updated", "Cancel": "warning.cancelled"}.get(row["msg_type"], "warning.issued")
    hooks.event(repo, kind, str(row["replaces"] or warning_id), {
        "warning_id": warning_id, "identifier": row["identifier"], "msg_type": row["msg_type"],
        "level": row["level"], "point": row["point"], "districts": json.loads(row["districts"]),
        "replaces": row["replaces"], "headline_zh": row["headline_zh"], "headline_en": row["headline_en"]})
    return xml


def _maybe_signed(xml: bytes) -> bytes:
    """Signed (enveloped XML signature) when $CITYOPS_CAP_KEY and $CITYOPS_CAP_CERT name a PEM
    private key and certificate; unsigned otherwise."""
    import os
    from pathlib import Path

    key, cert = os.environ.get("CITYOPS_CAP_KEY"), os.environ.get("CITYOPS_CAP_CERT")
    if not key or not cert:
        return xml
    return cap.sign(xml, Path(key).read_bytes(), Path(cert).read_bytes())


def _follow_up(repo: Any, platform: Any, warning_id: int, d: Draft | None, actor: Actor, now: datetime,
               msg_type: str) -> int:
    if actor.role not in DRAFTERS:
        raise Forbidden("only a dispatcher or supervisor may draft a warning", "只有派遣员或值班长可以起草预警")
    conn = repo.conn
    old = _row(conn, warning_id)
    if old["status"] != "issued":
        raise IllegalTransition(f"warning {warning_id} is {old['status']}; only an issued warning can be "
                                f"updated or cancelled", f"预警 {warning_id} 未发布，不能更新或解除")
    tz = platform.city.timezone
    ref = f"{_sender(platform)},{old['identifier']},{cap.cap_time(_dt(old['sent'], tz))}"
    refs = [*json.loads(old["refs"]), ref]
    if d is None:  # Cancel: the same warning, marked as lifted
        d = Draft(old["level"], tuple(json.loads(old["districts"])), "解除：" + old["headline_zh"],
                  "Lifted: " + old["headline_en"], "预警解除。", "The warning is lifted.",
                  now, max(now + timedelta(minutes=1), _dt(old["expires"], tz)), old["point"])
    return _insert(repo, platform, d, actor, now, msg_type, refs, warning_id)


def update_warning(repo: Any, platform: Any, warning_id: int, d: Draft, actor: Actor, now: datetime) -> int:
    """A draft CAP Update that will replace issued warning `warning_id` once issued."""
    return _follow_up(repo, platform, warning_id, d, actor, now, "Update")


def cancel_warning(repo: Any, platform: Any, warning_id: int, actor: Actor, now: datetime) -> int:
    """A draft CAP Cancel of issued warning `warning_id`."""
    return _follow_up(repo, platform, warning_id, None, actor, now, "Cancel")


def acknowledge(repo: Any, platform: Any, warning_id: int, district: str, actor: Actor, now: datetime) -> None:
    """A district confirms it received the warning (预警签收)."""
    dept = actor.department
    if actor.role not in (Role.ADMIN, Role.SUPERVISOR):
        d = next((x for x in platform.city.departments if x.code == dept), None)
        if d is None or d.district != district:
            raise Forbidden("only the district's own operators may acknowledge for it",
                            "只有该区的处置单位可以签收")
    cur = repo.conn.execute(
        "UPDATE warning_dispatch SET acknowledged_at=?, acknowledged_by=? WHERE warning_id=? AND district=?"
        " AND acknowledged_at IS NULL", (_ts(now), actor.name, warning_id, district))
    if cur.rowcount == 0:
        row = repo.conn.execute("SELECT 1 FROM warning_dispatch WHERE warning_id=? AND district=?",
                                (warning_id, district)).fetchone()
        if row is None:
            raise NotFound(f"warning {warning_id} was not dispatched to {district}",
                           f"预警 {warning_id} 未下派至 {district}")
        raise IllegalTransition("already acknowledged", "已签收")
    hooks.event(repo, "warning.acknowledged", str(warning_id),
                {"warning_id": warning_id, "district": district, "role": actor.role.value})


def dispatch_status(conn: sqlite3.Connection, warning_id: int, now: datetime, zone: tzinfo) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM warning_dispatch WHERE warning_id=? ORDER BY district",
                        (warning_id,)).fetchall()
    n = _ts(now)
    return [{"district": r["district"], "due_at": _iso(r["due_at"], zone),
             "acknowledged_at": _iso(r["acknowledged_at"], zone),
             "acknowledged_by": r["acknowledged_by"],
             "overdue": r["acknowledged_at"] is None and n > r["due_at"]
             or (r["acknowledged_at"] or 0) > r["due_at"]} for r in rows]


def pending_dispatch(conn: sqlite3.Connection, now: datetime, zone: tzinfo, overdue_only: bool = False,
                     district: str | None = None) -> list[dict[str, Any]]:
    """Dispatches of issued warnings not yet acknowledged, oldest due first (overdue flagged);
    only the overdue ones (past their deadline) with `overdue_only`, of one district with
    `district`."""
    n = _ts(now)
    rows = conn.execute(
        "SELECT d.warning_id, d.district, d.due_at, w.identifier, w.level FROM warning_dispatch d"
        " JOIN warnings w ON w.id = d.warning_id WHERE d.acknowledged_at IS NULL AND w.status = 'issued'"
        " AND (? = 0 OR d.due_at < ?) AND (CAST(? AS TEXT) IS NULL OR d.district = ?)"
        " ORDER BY d.due_at, d.warning_id, d.district", (int(overdue_only), n, district, district)).fetchall()
    return [{"warning_id": r["warning_id"], "identifier": r["identifier"], "level": r["level"],
             "district": r["district"], "due_at": _iso(r["due_at"], zone),
             "overdue": n > r["due_at"]} for r in rows]


def to_cap(platform: Any, row: sqlite3.Row, sent: datetime) -> cap.CapWarning:
    tz = platform.city.timezone
    names = {d.code: d for d in platform.city.districts}
    areas = []
    for code in json.loads(row["districts"]):
        geom = platform.city.geometries.get(code)
        polys = tuple(cap.polygon_text(geom)) if geom is not None else ()
        areas.append(cap.AreaPart(names[code].name, names[code].name_en, polys, (code,)))
    lv = cap.level(row["level"])
    params = tuple(json.loads(row["params"]).items())
    return cap.CapWarning(
        identifier=row["identifier"], sender=_sender(platform), sent=sent.astimezone(ZoneInfo(tz)),
        msg_type=row["msg_type"], level=row["level"],
        event_zh="城市内涝预警", event_en="Urban waterlogging warning",
        headline_zh=row["headline_zh"], headline_en=row["headline_en"],
        description_zh=row["description_zh"], description_en=row["description_en"],
        instruction_zh=f"{lv.zh}预警（{lv.roman}级）：请各区按预案做好排涝、交通疏导和人员转移准备。",
        instruction_en=f"{lv.en} warning (level {lv.roman}): districts prepare drainage, traffic "
                       "diversion and evacuation as planned.",
        onset=_dt(row["onset"], tz), expires=_dt(row["expires"], tz), areas=tuple(areas),
        references=tuple(json.loads(row["refs"])), parameters=tuple((k, str(v)) for k, v in params),
    )


def warning_dict(row: sqlite3.Row, zone: tzinfo) -> dict[str, Any]:
    d = dict(row)
    d.pop("cap_xml", None)
    d["districts"] = json.loads(d["districts"])
    d["refs"] = json.loads(d["refs"])
    d["params"] = json.loads(d["params"])
    for k in ("onset", "expires", "sent", "created_at", "approved_at"):
        if d.get(k) is not None:
            d[k] = _iso(d[k], zone)
    return d


def _iso(ts: float | None, zone: tzinfo) -> str | None:
    """A stored epoch second as an answer's time: ISO 8601 in the city's offset (`timefmt.iso`)."""
    return None if not ts else iso(datetime.fromtimestamp(ts, UTC), zone)


def active(conn: sqlite3.Connection, now: datetime) -> list[sqlite3.Row]:
    """Issued, not replaced, not a Cancel, not expired: what the Atom and GeoJSON feeds list."""
    return list(conn.execute(
        "SELECT * FROM warnings WHERE status='issued' AND msg_type != 'Cancel' AND expires > ? ORDER BY sent DESC",
        (_ts(now),)).fetchall())


def get(conn: sqlite3.Connection, warning_id: int) -> sqlite3.Row:
    return _row(conn, warning_id)


# --- incoming CAP -----------------------------------------------------------------------


def ingest_cap(repo: Any, platform: Any, data: bytes, source: str, now: datetime) -> dict[str, Any]:
    """Validate an outside CAP document and keep it (valid or not, with the reason)."""
    checked = cap.check(data)
    cur = repo.conn.execute(
        "INSERT INTO cap_incoming (source, valid, reason, identifier, sender, sent, msg_type, headline,"
        " received_at, xml) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (source, int(checked.valid), checked.reason, checked.identifier or None, checked.sender or None,
         checked.sent or None, checked.msg_type or None, checked.headline or None, _ts(now), data))
    return {"id": cur.lastrowid, "accepted": checked.valid, "reason": checked.reason,
            "identifier": checked.identifier, "sender": checked.sender}


def incoming(conn: sqlite3.Connection, limit: int = 100) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT id, source, valid, reason, identifier, sender, sent, msg_type, headline,"
                        " received_at FROM cap_incoming WHERE valid = 1 ORDER BY id DESC LIMIT ?",
                        (limit,)).fetchall()
    return [dict(r) | {"valid": bool(r["valid"])} for r in rows]
