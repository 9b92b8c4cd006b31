"""Who hears of a case, and the outbox rows queued for them inside the case's own transaction.

Only public steps are told (PUBLIC_STEPS, an allow-list), and only with public values: the
step, the case's public status, the matter, the time and links. Reasons, notes, departments'
internal steps and who did what never reach a citizen's text.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import orjson

from cityops import hooks
from cityops.cases.models import STATUS_LABELS, Case, Change, Status
from cityops.errors import Conflict, InvalidInput, NotFound
from cityops.notify.config import NotifyConfig, load_config, load_templates
from cityops.store import txmemo
from cityops.store.codec import to_us

if TYPE_CHECKING:
    from cityops.core import Platform

CHANNELS = ("email", "sms", "webhook")
REVISIT_CHANNELS = frozenset({"email", "sms"})
# The steps a citizen hears of, with what they are told (zh, en). Anything else is internal.
PUBLIC_STEPS: dict[str, tuple[str, str]] = {
    "report": ("已受理", "received"),
    "register": ("已立案", "registered as a case"),
    "dispatch": ("已派遣至处置单位", "sent to the department in charge"),
    "report_back": ("已处置，待核查", "handled, being checked"),
    "reject": ("不予立案", "not taken up"),
    "merge": ("已与反映同一问题的案卷合并办理", "merged with a report of the same problem"),
    "reopen": ("重新办理（重办）", "reopened for rework"),
}
CLOSED_STEP = ("已办结", "closed")
# mySociety's extended statuses, for Open311 clients' webhooks.
_EXTENDED = {
    "report": "open", "register": "investigating", "dispatch": "action_scheduled",
    "report_back": "fixed", "reject": "no_further_action", "merge": "duplicate",
    "reopen": "in_progress", "verify": "closed",
}
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 -]{5,19}$")
_URL = re.compile(r"^https?://[^\s]+$")


def public_step(change: Change) -> tuple[str, str] | None:
    """What a citizen is told of this history entry, or None: it is internal."""
    if change.action == "verify":
        return CLOSED_STEP if change.to_status == Status.CLOSED.value else None
    return PUBLIC_STEPS.get(change.action)


# Who made a subscription: the reporter's contact at intake, a staff member for a citizen (or
# themselves, on a case they reported), or an Open311 app. The first two see a case's public
# steps on its /n/ page even when the public feed does not list the case.
ORIGINS = ("reporter", "staff", "subscriber")
PRIVATE_VIEW = frozenset({"reporter", "staff"})


@dataclass(frozen=True)
class Subscription:
    id: int
    case_id: int
    channel: str
    address: str
    origin: str
    lang: str
    token: str


def check_address(channel: str, address: str) -> str:
    address = address.strip()
    pattern = {"email": _EMAIL, "sms": _PHONE, "webhook": _URL}.get(channel)
    if pattern is None:
        raise InvalidInput(f"unknown channel '{channel}'; use one of: {', '.join(CHANNELS)}",
                           f"未知的通知渠道 {channel}")
    if len(address) > 300 or not pattern.match(address):
        raise InvalidInput(f"'{address}' is not a valid {channel} address", f"{channel} 地址格式不正确")
    return address


def subscribe(conn: sqlite3.Connection, case_id: int, channel: str, address: str, origin: str,
              now: datetime, lang: str = "zh") -> Subscription:
    """Add (or re-activate) a subscription; the same address twice is one subscription."""
    address = check_address(channel, address)
    _changed(conn)
    conn.execute(
        "INSERT INTO notify_subscriptions (case_id, channel, address, origin, lang, token, created_at)"
        " VALUES (?,?,?,?,?,?,?) ON CONFLICT (case_id, channel, address)"
        " DO UPDATE SET unsubscribed_at = NULL",
        (case_id, channel, address, origin, lang, secrets.token_urlsafe(16), to_us(now)),
    )
    row = conn.execute(
        "SELECT * FROM notify_subscriptions WHERE case_id = ? AND channel = ? AND address = ?",
        (case_id, channel, address),
    ).fetchone()
    return _subscription(row)


def add_subscriber(conn: sqlite3.Connection, case_id: int, channel: str, address: str, now: datetime,
                   lang: str = "zh", origin: str = "subscriber") -> Subscription:
    """A subscription someone asked for over HTTP; its token is the credential to unsubscribe,
    so it is only ever answered to whoever made the subscription. An address already subscribed
    is a 409 (answering its token would let anyone unsubscribe the reporter); one unsubscribed
    before is subscribed again under a new token."""
    address = check_address(channel, address)
    row = conn.execute("SELECT * FROM notify_subscriptions WHERE case_id = ? AND channel = ? AND address = ?",
                       (case_id, channel, address)).fetchone()
    if row is None:
        return subscribe(conn, case_id, channel, address, origin, now, lang)
    if row["unsubscribed_at"] is None:
        raise Conflict("this address is already subscribed to the request; its messages carry the links "
                       "to its status page and to unsubscribe",
                       "该地址已订阅此请求；发给它的每条通知都附有状态页和退订链接")
    _changed(conn)
    conn.execute("UPDATE notify_subscriptions SET unsubscribed_at = NULL, token = ?, lang = ? WHERE id = ?",
                 (secrets.token_urlsafe(16), lang, row["id"]))
    return _subscription(conn.execute("SELECT * FROM notify_subscriptions WHERE id = ?", (row["id"],)).fetchone())


def _subscription(row: sqlite3.Row) -> Subscription:
    return Subscription(row["id"], row["case_id"], row["channel"], row["address"], row["origin"],
                        row["lang"], row["token"])


_ACTIVE = "SELECT * FROM notify_subscriptions WHERE unsubscribed_at IS NULL AND case_id"


def subscriptions(conn: sqlite3.Connection, case_id: int) -> list[Subscription]:
    ahead = txmemo.rows(conn, "notify.ahead")
    if ahead and case_id in ahead:
        return list(ahead[case_id])
    rows = conn.execute(f"{_ACTIVE} = ? ORDER BY id", (case_id,)).fetchall()  # noqa: S608
    return [_subscription(r) for r in rows]


@hooks.on_steps_ahead
def read_ahead(repo: Any, case_ids: list[int]) -> None:
    """A batch's steps: their cases' active subscriptions in one query (most have none), kept
    until this transaction changes a subscription."""
    ahead = txmemo.rows(repo.conn, "notify.ahead")
    if ahead is None:
        return
    ahead.clear()
    if not case_ids:
        return
    found: dict[int, list[Subscription]] = {case_id: [] for case_id in case_ids}
    for r in repo.conn.execute(f"{_ACTIVE} IN (SELECT value FROM json_each(?)) ORDER BY id",  # noqa: S608
                               (orjson.dumps(case_ids).decode(),)):
        found[int(r["case_id"])].append(_subscription(r))
    ahead.update(found)


def _changed(conn: sqlite3.Connection) -> None:
    """A subscription was made or ended: what was read ahead is stale."""
    ahead = txmemo.rows(conn, "notify.ahead")
    if ahead:
        ahead.clear()


def by_token(conn: sqlite3.Connection, token: str) -> tuple[Subscription, bool]:
    """The subscription for an unsubscribe/status token, and whether it is still active."""
    row = conn.execute("SELECT * FROM notify_subscriptions WHERE token = ?", (token,)).fetchone()
    if row is None:
        raise NotFound("unknown link", "链接无效")
    return _subscription(row), row["unsubscribed_at"] is None


def unsubscribe(conn: sqlite3.Connection, token: str, now: datetime) -> int:
    """Stop a subscription and cancel what is still queued for it; returns the case id."""
    sub, _ = by_token(conn, token)
    _changed(conn)
    conn.execute("UPDATE notify_subscriptions SET unsubscribed_at = coalesce(unsubscribed_at, ?) WHERE id = ?",
                 (to_us(now), sub.id))
    conn.execute("UPDATE notify_outbox SET status = 'cancelled', lease_owner = NULL, lease_until = NULL"
                 " WHERE subscription_id = ? AND status = 'pending'", (sub.id,))
    return sub.case_id


def reporter_contact(case: Case) -> list[tuple[str, str]]:
    """(channel, address) pairs the reporter gave at intake: Open311's email/phone fields, or
    `attributes.contact` {email, phone} through the native API. Invalid ones are skipped."""
    contact = case.attributes.get("contact")
    if not isinstance(contact, dict):
        return []
    out = []
    for channel, field in (("email", "email"), ("sms", "phone")):
        value = contact.get(field)
        if isinstance(value, str) and value.strip():
            try:
                out.append((channel, check_address(channel, value)))
            except InvalidInput:
                continue  # a mistyped address must not refuse the report itself
    return out


def message_values(platform: Platform, case: Case, step: tuple[str, str], at: datetime,
                   cfg: NotifyConfig, sub: Subscription, revisit_token: str | None) -> dict[str, str]:
    """Every value a template may show: public by construction."""
    entry = platform.catalogue.find("matter", case.matter_code)
    zh, en = STATUS_LABELS[case.status]
    local = at.astimezone(ZoneInfo(platform.city.timezone))
    return {
        "case_id": str(case.id),
        "matter": entry.name if entry else case.matter_code,
        "matter_en": entry.name_en if entry else case.matter_code,
        "step": step[0], "step_en": step[1], "status": zh, "status_en": en,
        "at": local.strftime("%Y-%m-%d %H:%M"),
        "city": platform.city.name, "city_en": platform.city.name_en,
        "link": f"{cfg.public_url}/n/{sub.token}",
        "unsubscribe": f"{cfg.public_url}/n/{sub.token}/unsubscribe",
        "revisit_link": f"{cfg.public_url}/r/{revisit_token}" if revisit_token else "",
    }


def webhook_body(platform: Platform, case: Case, change: Change, seq: int, step: tuple[str, str]) -> str:
    """A mySociety request_update, the shape Open311 clients already read."""
    local = change.at.astimezone(ZoneInfo(platform.city.timezone))
    return orjson.dumps({
        "update_id": f"{case.id}_{seq}", "service_request_id": str(case.id),
        "status": _EXTENDED.get(change.action, "open"),
        "updated_datetime": local.isoformat(timespec="seconds"),
        "description": f"{step[0]} / {step[1]}", "external_status_code": case.status.value,
    }).decode()


def queue(conn: sqlite3.Connection, platform: Platform, case: Case, change: Change, seq: int,
          subs: list[Subscription], revisit_token: str | None) -> int:
    """One outbox row per subscription and channel; a step already queued is never queued again."""
    step = public_step(change)
    if step is None or not subs:
        return 0
    cfg = load_config(conn)
    templates = load_templates(conn)
    rows = []
    for sub in subs:
        if sub.channel == "webhook":
            subject, body = f"{case.id}_{seq}", webhook_body(platform, case, change, seq, step)
        else:
            # The return-visit question goes to the reporter only.
            token = revisit_token if sub.origin == "reporter" and step is CLOSED_STEP else None
            kind = templates["closed" if token else "step"]
            values = message_values(platform, case, step, change.at, cfg, sub, token)
            subject = kind["subject"].safe_substitute(values)
            body = kind["sms" if sub.channel == "sms" else "body"].safe_substitute(values)
        rows.append((case.id, seq, sub.id, sub.channel, sub.address, subject, body,
                     to_us(change.at), to_us(change.at)))
    cur = conn.executemany(
        "INSERT OR IGNORE INTO notify_outbox (case_id, seq, subscription_id, channel, address,"
        " subject, body, next_at, created_at) VALUES (?,?,?,?,?,?,?,?,?)", rows)
    return int(cur.rowcount)


def on_case_changed(repo: Any, platform: Platform, before: Case | None, after: Case, change: Change) -> None:
    """The listener: reporter's contact becomes subscriptions; public steps are queued;
    a closure opens its return visit (回访)."""
    from cityops.notify import revisit

    conn: sqlite3.Connection = repo.conn
    if before is None:
        contacts = reporter_contact(after)
        if not contacts:
            return  # the intake hot path: no contact, nothing to do
        lang = str(after.attributes.get("contact", {}).get("lang", "zh"))[:8]
        for channel, address in contacts:
            subscribe(conn, after.id, channel, address, "reporter", change.at, lang)
    seq = after.history_count
    token = None
    closed = change.action == "verify" and change.to_status == Status.CLOSED.value
    subs = subscriptions(conn, after.id) if public_step(change) is not None or closed else []
    if any(s.origin not in PRIVATE_VIEW for s in subs):
        from cityops.intake.open311 import public

        if not public.policy(repo).lists(after.source):  # an app hears only of what the feed lists
            subs = [s for s in subs if s.origin in PRIVATE_VIEW]
    if closed:
        auto = any(s.origin == "reporter" and s.channel in REVISIT_CHANNELS for s in subs)
        auto = auto and not revisit.is_hotline(after)  # hotline callers are called back
        if auto or revisit.has_citizen(after, load_config(conn)):
            link = revisit.open_revisit(conn, after, seq, change.at, auto)
            token = link if auto else None  # the question goes by message only in auto mode
    queue(conn, platform, after, change, seq, subs, token)


hooks.on_case_changed(on_case_changed)


def next_retry(attempts: int, cfg: NotifyConfig, now: datetime) -> datetime:
    """Exponential backoff: backoff_s, 2x, 4x … at most an hour."""
    return now + timedelta(seconds=min(cfg.backoff_s * 2 ** max(attempts - 1, 0), 3600.0))
