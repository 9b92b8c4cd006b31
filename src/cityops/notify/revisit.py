"""回访: after each closure a return visit asks the reporter whether the problem was solved and
whether they are satisfied; a bad answer within the city's window reopens the case (重办) or
sends it to a supervisor's review, and a case reopened too often is escalated (督办).

Reporters with an e-mail or phone get a link (/r/{token}); hotline callers and reporters
without a channel wait in the operators' call-back queue (GET /api/v1/revisits).
"""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from cityops.cases import service
from cityops.cases.models import Action, Actor, Case, Role, Status
from cityops.cases.workflow import Command
from cityops.errors import Conflict, InvalidInput, NotFound
from cityops.notify.config import NotifyConfig, load_config
from cityops.store.codec import from_us, to_us

if TYPE_CHECKING:
    from cityops.core import Platform

REVISIT_ACTOR = Actor("revisit", Role.SYSTEM)
SATISFACTION: dict[str, tuple[str, str]] = {
    "satisfied": ("满意", "satisfied"),
    "basic": ("基本满意", "basically satisfied"),
    "unsatisfied": ("不满意", "unsatisfied"),
}
SOLVED = {True: ("已解决", "solved"), False: ("未解决", "not solved")}
STATUSES = ("pending", "answered", "review")
MAX_COMMENT = 1000


def is_hotline(case: Case) -> bool:
    return case.source.startswith("hotline")


def has_citizen(case: Case, cfg: NotifyConfig) -> bool:
    """Whether someone outside the city's staff reported this case (and is owed a return visit)."""
    staff = tuple(s.strip() for s in cfg.staff_sources.split(",") if s.strip())
    return not case.source.startswith(staff)


@dataclass(frozen=True)
class Answer:
    solved: bool
    satisfaction: str
    comment: str = ""

    def __post_init__(self) -> None:
        if self.satisfaction not in SATISFACTION:
            raise InvalidInput(
                f"satisfaction must be one of {', '.join(SATISFACTION)}, not '{self.satisfaction}'",
                "满意度只能是 满意 / 基本满意 / 不满意",
            )
        if len(self.comment) > MAX_COMMENT:
            raise InvalidInput(f"comment is longer than {MAX_COMMENT} characters", f"意见不能超过 {MAX_COMMENT} 字")

    @property
    def bad(self) -> bool:
        """Not solved, or 不满意: the answers that send a case back."""
        return not self.solved or self.satisfaction == "unsatisfied"

    def summary(self) -> str:
        s, sat = SOLVED[self.solved], SATISFACTION[self.satisfaction]
        return f"回访：{s[0]}，{sat[0]} / return visit: {s[1]}, {sat[1]}"


def parse_answer(solved: str | bool | None, satisfaction: str | None, comment: str | None) -> Answer:
    """An answer from form or JSON values ('yes'/'no', 'true'/'false', 1/0; 满意 etc. accepted)."""
    if isinstance(solved, bool):
        flag = solved
    elif solved is not None and solved.strip().lower() in ("yes", "true", "1", "solved", "是", "已解决"):
        flag = True
    elif solved is not None and solved.strip().lower() in ("no", "false", "0", "not_solved", "否", "未解决"):
        flag = False
    else:
        raise InvalidInput("solved must be yes or no", "请选择问题是否已解决")
    by_zh = {zh: key for key, (zh, _) in SATISFACTION.items()}
    sat = (satisfaction or "").strip()
    return Answer(flag, by_zh.get(sat, sat), (comment or "").strip())


def open_revisit(conn: sqlite3.Connection, case: Case, seq: int, now: datetime, auto: bool) -> str:
    """The return-visit task for this closure (idempotent on the closure); returns its token."""
    window = timedelta(days=load_config(conn).revisit_window_days)
    conn.execute(
        "INSERT OR IGNORE INTO revisits (case_id, closed_seq, mode, token, created_at, window_until)"
        " VALUES (?,?,?,?,?,?)",
        (case.id, seq, "auto" if auto else "call", secrets.token_urlsafe(16), to_us(now), to_us(now + window)),
    )
    row = conn.execute("SELECT token FROM revisits WHERE case_id = ? AND closed_seq = ?", (case.id, seq)).fetchone()
    return str(row[0])


def _row(conn: sqlite3.Connection, where: str, value: Any) -> sqlite3.Row:
    row = conn.execute(f"SELECT * FROM revisits WHERE {where} = ?", (value,)).fetchone()
    if row is None:
        raise NotFound("no such return visit", "回访任务不存在")
    return row  # type: ignore[no-any-return]


def form_view(repo: Any, platform: Platform, token: str) -> dict[str, Any]:
    """What the /r/ page shows: the case's public facts and whether it is still open to answer."""
    row = _row(repo.conn, "token", token)
    case = repo.get_case(row["case_id"])
    entry = platform.catalogue.find("matter", case.matter_code)
    return {"case_id": case.id, "matter": entry.name if entry else case.matter_code,
            "matter_en": entry.name_en if entry else case.matter_code,
            "status": row["status"], "satisfaction": row["satisfaction"], "solved": row["solved"]}


def answer_by_token(repo: Any, platform: Platform, token: str, answer: Answer, now: datetime) -> dict[str, Any]:
    return _answer(repo, platform, _row(repo.conn, "token", token), answer, "reporter", now)


def answer_by_id(repo: Any, platform: Platform, revisit_id: int, answer: Answer, actor: Actor,
                 now: datetime) -> dict[str, Any]:
    return _answer(repo, platform, _row(repo.conn, "id", revisit_id), answer, f"operator:{actor.name}", now)


def _answer(repo: Any, platform: Platform, row: sqlite3.Row, answer: Answer, by: str, now: datetime) -> dict[str, Any]:
    """Store the answer, write it to the case's history and act on a bad one; all or nothing."""
    conn: sqlite3.Connection = repo.conn
    if row["status"] != "pending":
        raise Conflict(f"return visit {row['id']} was already answered", "该回访已答复，不能重复提交")
    cfg = load_config(conn)
    case_id = int(row["case_id"])
    reason = answer.summary() + (f"；意见 / comment: {answer.comment}" if answer.comment else "")
    case = service.act(repo, platform, case_id, Command(Action.COMMENT, REVISIT_ACTOR, now, reason=reason))
    status, outcome = "answered", ""
    in_window = now <= from_us(row["window_until"])  # type: ignore[operator]
    if answer.bad and in_window and case.status is Status.CLOSED:
        if cfg.unsatisfied == "review":
            status, outcome = "review", "review"
            service.act(repo, platform, case_id, Command(
                Action.COMMENT, REVISIT_ACTOR, now,
                reason="回访未解决或不满意，提交监督长复核 / return visit not satisfied: for the supervisor's review"))
        else:
            outcome = "reopened"
            case = service.act(repo, platform, case_id, Command(
                Action.REOPEN, REVISIT_ACTOR, now,
                reason=f"{answer.summary()}，重办 / reopened for rework"))
            earlier = conn.execute(
                "SELECT count(*) FROM revisits WHERE case_id = ? AND outcome IN ('reopened', 'escalated')",
                (case_id,)).fetchone()[0]
            if earlier + 1 > cfg.max_reopens and not case.escalated:
                outcome = "escalated"
                case = service.act(repo, platform, case_id, Command(
                    Action.ESCALATE, REVISIT_ACTOR, now,
                    reason=f"第 {earlier + 1} 次重办，超过 {cfg.max_reopens} 次 / reopened {earlier + 1} times: escalated"))
    conn.execute(
        "UPDATE revisits SET status = ?, answered_at = ?, answered_by = ?, solved = ?, satisfaction = ?,"
        " comment = ?, outcome = ? WHERE id = ?",
        (status, to_us(now), by, int(answer.solved), answer.satisfaction, answer.comment, outcome, row["id"]),
    )
    return {"revisit_id": row["id"], "case_id": case_id, "status": status, "outcome": outcome,
            "case_status": case.status.value}


def list_revisits(conn: sqlite3.Connection, status: str | None, mode: str | None, limit: int,
                  offset: int) -> list[dict[str, Any]]:
    """The operators' queue: each task with the case summary and the reporter's contact."""
    where, params = [], []
    if status:
        where.append("r.status = ?")
        params.append(status)
    if mode:
        where.append("r.mode = ?")
        params.append(mode)
    sql = ("SELECT r.*, c.matter_code, c.description, c.address, c.district, c.department, c.source,"
           " c.attributes FROM revisits r JOIN cases c ON c.id = r.case_id"
           + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY r.id LIMIT ? OFFSET ?")
    out = []
    for r in conn.execute(sql, [*params, limit, offset]).fetchall():
        contact = orjson.loads(r["attributes"]).get("contact", {})
        out.append({
            "id": r["id"], "case_id": r["case_id"], "mode": r["mode"], "status": r["status"],
            "created_at": from_us(r["created_at"]), "window_until": from_us(r["window_until"]),
            "matter_code": r["matter_code"], "description": r["description"], "address": r["address"],
            "district": r["district"], "department": r["department"], "source": r["source"],
            "contact": {k: contact[k] for k in ("first_name", "last_name", "phone", "email") if k in contact}
            if isinstance(contact, dict) else {},
            "answer": None if r["answered_at"] is None else {
                "answered_at": from_us(r["answered_at"]), "by": r["answered_by"], "solved": bool(r["solved"]),
                "satisfaction": r["satisfaction"], "comment": r["comment"], "outcome": r["outcome"]},
        })
    return out


# --- the demo's simulated citizens ------------------------------------------------------
def simulate_answers(platform: Platform, seed: int, now: datetime) -> tuple[dict[str, int], list[tuple[int, datetime]]]:
    """Citizens answer the demo day's return visits at realistic rates: about 92 % reached,
    about 93 % of those solved; satisfaction mostly 满意/基本满意; bad answers reopen cases.
    Returns counts, and (case id, when) for every case sent back for rework."""
    rng = np.random.default_rng(seed + 12)

    def play(repo: Any) -> tuple[dict[str, int], list[tuple[int, datetime]]]:
        rows = repo.conn.execute("SELECT id, token, mode, created_at FROM revisits WHERE status = 'pending' ORDER BY id").fetchall()
        n = len(rows)
        reached = rng.random(n) < 0.92
        solved = rng.random(n) < 0.93
        pick = rng.random(n)
        delay = rng.uniform(20, 360, n)
        stats = {"revisit_tasks": n, "revisit_answered": 0, "revisit_reopened": 0}
        reopened: list[tuple[int, datetime]] = []
        for i, r in enumerate(rows):  # one answer per closure: a few hundred in a demo day
            if not reached[i]:
                continue
            if solved[i]:
                sat = "satisfied" if pick[i] < 0.80 else "basic" if pick[i] < 0.96 else "unsatisfied"
            else:
                sat = "unsatisfied" if pick[i] < 0.7 else "basic"
            created = from_us(r["created_at"])
            assert created is not None
            at: datetime = min(created + timedelta(minutes=float(delay[i])), now)
            answer = Answer(bool(solved[i]), sat)
            if r["mode"] == "auto":
                result = answer_by_token(repo, platform, r["token"], answer, at)
            else:
                result = answer_by_id(repo, platform, int(r["id"]), answer, Actor("operator-demo", Role.ACCEPTOR), at)
            stats["revisit_answered"] += 1
            if result["outcome"] in ("reopened", "escalated"):
                stats["revisit_reopened"] += 1
                reopened.append((result["case_id"], at))
        return stats, reopened

    return platform.store.write(play)
