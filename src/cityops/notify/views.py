"""HTTP for the citizen's side: subscriptions, the return-visit page (/r/), a case's public
status page with its unsubscribe link (/n/), the operators' call-back queue and indicators."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from cityops.api.deps import ActorDep, PlatformDep, require
from cityops.api.forms import form_items
from cityops.api.routing import feature_router
from cityops.cases import service as cases
from cityops.cases.models import STATUS_LABELS, Actor, Role
from cityops.core import Platform, utcnow
from cityops.errors import CityopsError, Forbidden, InvalidInput, NotFound
from cityops.intake.open311 import public
from cityops.notify import outbox, revisit
from cityops.notify.indicators import CitizenBy, citizen_indicators
from cityops.notify.outbox import public_step
from cityops.security import egress

router = feature_router("/api/v1", "citizens")
pages = feature_router("", "citizen pages")
MAX_INT = 2**63 - 1
# Roles that see reporters' contact details: those who take reports in and call people back.
CONTACT_ROLES = (Role.ACCEPTOR, Role.SUPERVISOR)
SUBSCRIBE_ROLES = (Role.ACCEPTOR, Role.COLLECTOR, Role.SUPERVISOR, Role.SYSTEM)
# Who may subscribe an address to any case: those who take citizens' reports and calls in, and
# the platform's integrations. A collector only to the cases they reported themselves.
SUBSCRIBE_ANY = (Role.ACCEPTOR, Role.SUPERVISOR, Role.ADMIN, Role.SYSTEM)


class SubscriptionIn(BaseModel):
    channel: Literal["email", "sms", "webhook"]
    address: str = Field(max_length=300, description="e-mail address, phone number or webhook URL")
    lang: str = Field(default="zh", max_length=8)


class RevisitAnswerIn(BaseModel):
    solved: bool
    satisfaction: Literal["satisfied", "basic", "unsatisfied"] = Field(description="满意 / 基本满意 / 不满意")
    comment: str = Field(default="", max_length=revisit.MAX_COMMENT)


def _may_subscribe(repo: Any, case_id: int, actor: Actor) -> None:
    case = repo.get_case(case_id)
    if case is None:
        raise NotFound(f"no case {case_id}", f"案卷 {case_id} 不存在")
    if actor.role not in SUBSCRIBE_ANY and case.reporter != actor.name:
        raise Forbidden(f"a {actor.role} may subscribe only to cases they reported; case {case_id} is not theirs",
                        f"{actor.role} 只能订阅本人上报的案卷，案卷 {case_id} 不是")


def _subscribe(repo: Any, platform: Platform, case_id: int, body: dict[str, str], actor: Actor,
               now: datetime) -> dict[str, Any]:
    _may_subscribe(repo, case_id, actor)
    sub = outbox.add_subscriber(repo.conn, case_id, body["channel"], body["address"], now, body["lang"], "staff")
    return {"id": sub.id, "case_id": case_id, "channel": sub.channel, "token": sub.token}


def _subscriber(actor: ActorDep) -> Actor:
    """A dependency, so a caller of the wrong role is refused before its body is read."""
    require(actor, *SUBSCRIBE_ROLES)
    return actor


@router.post("/cases/{case_id}/subscriptions", status_code=201, summary="Subscribe an address to a case's public steps")
async def subscribe(case_id: Annotated[int, Path(le=MAX_INT)], body: SubscriptionIn, platform: PlatformDep,
                    actor: Annotated[Actor, Depends(_subscriber)]) -> dict[str, Any]:
    await platform.aread(_may_subscribe, case_id, actor)  # before any DNS lookup for a caller with no right
    if body.channel == "webhook":
        await egress.check_given(platform, body.address.strip())
    return await platform.awrite(_subscribe, case_id, body.model_dump(), actor, utcnow())  # type: ignore[no-any-return]


@router.get("/cases/{case_id}/subscriptions", summary="Who hears of a case (contact roles only)")
def list_subscriptions(case_id: Annotated[int, Path(le=MAX_INT)], platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    require(actor, *CONTACT_ROLES)
    with platform.store.read() as repo:
        subs = outbox.subscriptions(repo.conn, case_id)
    return {"case_id": case_id, "subscriptions": [
        {"id": s.id, "channel": s.channel, "address": s.address, "origin": s.origin, "lang": s.lang} for s in subs]}


@router.get("/revisits", summary="Return visits (回访): the operators' call-back queue")
def list_revisits(
    platform: PlatformDep, actor: ActorDep,
    status: Annotated[str | None, Query(pattern="^(pending|answered|review)$")] = None,
    mode: Annotated[str | None, Query(pattern="^(auto|call)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> dict[str, Any]:
    require(actor, *CONTACT_ROLES)
    with platform.store.read() as repo:
        rows = revisit.list_revisits(repo.conn, status, mode, limit, offset)
    return {"revisits": rows}


@router.post("/revisits/{revisit_id}", summary="Record a return visit's answer (operator)")
async def answer_revisit(revisit_id: Annotated[int, Path(le=MAX_INT)], body: RevisitAnswerIn,
                         platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    require(actor, *CONTACT_ROLES)
    answer = revisit.Answer(body.solved, body.satisfaction, body.comment.strip())
    return await platform.awrite(revisit.answer_by_id, revisit_id, answer, actor, utcnow())  # type: ignore[no-any-return]


@router.get("/indicators/citizen", summary="回访率, 满意率, 解决率, 重办率, 响应时长")
def get_citizen_indicators(
    platform: PlatformDep, actor: ActorDep, by: CitizenBy = "district",
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    if any(v is not None and v.tzinfo is None for v in (start, end)):
        raise InvalidInput("from/to need a zone, e.g. 2026-11-01T00:00:00+08:00", "时间必须带时区")
    dept = (actor.department or "") if actor.role is Role.DEPARTMENT else None
    with platform.store.read() as repo:
        frame = citizen_indicators(repo.conn, by, start, end, department=dept, total=by != "city")
    return {"by": by, "rows": frame.to_dicts()}


# --- pages a citizen opens from a message: tiny, bilingual, no external assets ------------
_STYLE = ("body{font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em;line-height:1.6}"
          "fieldset{margin:1em 0}button{font-size:1.1em;padding:.4em 1.2em}")


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>", status_code=status)


def _error_page(exc: CityopsError) -> HTMLResponse:
    return _page("错误 / Error", f"<h1>{html.escape(exc.message_zh)}</h1><p>{html.escape(exc.message_en)}</p>", exc.status)


def _radio(name: str, value: str, label: str) -> str:
    return f'<label><input type="radio" name="{name}" value="{value}" required> {html.escape(label)}</label><br>'


@pages.get("/r/{token}", response_class=HTMLResponse, include_in_schema=False)
def revisit_form(token: Annotated[str, Path(max_length=64)], platform: PlatformDep) -> HTMLResponse:
    try:
        with platform.store.read() as repo:
            view = revisit.form_view(repo, platform, token)
    except CityopsError as exc:
        return _error_page(exc)
    title = f"回访 #{view['case_id']} / Return visit"
    head = (f"<h1>{html.escape(title)}</h1><p>{html.escape(view['matter'])} / "
            f"{html.escape(view['matter_en'])}</p>")
    if view["status"] != "pending":
        return _page(title, head + "<p>您已评价，谢谢！/ You have answered already. Thank you!</p>")
    sats = "".join(_radio("satisfaction", k, f"{zh} / {en}") for k, (zh, en) in revisit.SATISFACTION.items())
    form = (f'<form method="post">'
            f'<fieldset><legend>问题解决了吗？/ Was the problem solved?</legend>'
            f'{_radio("solved", "yes", "已解决 / solved")}{_radio("solved", "no", "未解决 / not solved")}</fieldset>'
            f'<fieldset><legend>您对办理结果满意吗？/ Are you satisfied?</legend>{sats}</fieldset>'
            f'<p><label>意见（可选）/ Comment (optional)<br><textarea name="comment" rows="4" cols="40"'
            f' maxlength="{revisit.MAX_COMMENT}"></textarea></label></p>'
            f'<button type="submit">提交 / Send</button></form>')
    return _page(title, head + form)


@pages.post("/r/{token}", response_class=HTMLResponse, include_in_schema=False)
async def revisit_submit(token: Annotated[str, Path(max_length=64)], request: Request, platform: PlatformDep) -> HTMLResponse:
    form = dict(await form_items(request))
    try:
        answer = revisit.parse_answer(form.get("solved"), form.get("satisfaction"), form.get("comment"))
        result = await platform.awrite(revisit.answer_by_token, token, answer, utcnow())
    except CityopsError as exc:
        return _error_page(exc)
    again = ("<p>我们将重新办理您反映的问题。/ We will handle your report again.</p>"
             if result["outcome"] in ("reopened", "escalated") else "")
    return _page("谢谢 / Thank you", f"<h1>谢谢您的评价！/ Thank you for your answer!</h1>{again}")


@pages.get("/n/{token}", response_class=HTMLResponse, include_in_schema=False)
def case_status(token: Annotated[str, Path(max_length=64)], platform: PlatformDep) -> HTMLResponse:
    """A case's public state and public steps, for whoever holds the subscription's link."""
    try:
        with platform.store.read() as repo:
            sub, _ = outbox.by_token(repo.conn, token)
            case = cases.get_visible(repo, sub.case_id, revisit.REVISIT_ACTOR)
            shown = sub.origin in outbox.PRIVATE_VIEW or public.policy(repo).lists(case.source)
            history = repo.history(case.id) if shown else []
    except CityopsError as exc:
        return _error_page(exc)
    unsubscribe_link = f'<p><a href="/n/{html.escape(token)}/unsubscribe">退订 / Unsubscribe</a></p>'
    if not shown:
        # A case the public feed does not list: its reporter (and a citizen staff subscribed)
        # see its public steps; an app's subscribers see only that their subscription exists.
        return _page("订阅 / Subscription", "<h1>此问题不公开 / This report is not public</h1>"
                     "<p>办理进展仅告知反映人。/ Its progress is told to the person who reported it only.</p>"
                     + unsubscribe_link)
    zh, en = STATUS_LABELS[case.status]
    steps = []
    for e in history:
        step = public_step(e.change)
        if step is not None:
            at = e.change.at.astimezone(platform.calendar.zone).strftime("%Y-%m-%d %H:%M")
            steps.append(f"<li>{at} {html.escape(step[0])} / {html.escape(step[1])}</li>")
    body = f"<h1>#{case.id}：{html.escape(zh)} / {html.escape(en)}</h1><ol>{''.join(steps)}</ol>" + unsubscribe_link
    return _page(f"#{case.id}", body)


@pages.get("/n/{token}/unsubscribe", response_class=HTMLResponse, include_in_schema=False)
def unsubscribe_form(token: Annotated[str, Path(max_length=64)], platform: PlatformDep) -> HTMLResponse:
    # A confirmation button: mail scanners that follow every link must not unsubscribe anyone.
    try:
        with platform.store.read() as repo:
            _, active = outbox.by_token(repo.conn, token)
    except CityopsError as exc:
        return _error_page(exc)
    if not active:
        return _page("已退订 / Unsubscribed", "<p>您已退订。/ You are unsubscribed.</p>")
    return _page("退订 / Unsubscribe", '<form method="post"><p>不再接收此问题的通知？/ Stop messages about this report?</p>'
                 '<button type="submit">退订 / Unsubscribe</button></form>')


@pages.post("/n/{token}/unsubscribe", response_class=HTMLResponse, include_in_schema=False)
async def unsubscribe(token: Annotated[str, Path(max_length=64)], platform: PlatformDep) -> HTMLResponse:
    try:
        await platform.awrite(_unsubscribe, token, utcnow())
    except CityopsError as exc:
        return _error_page(exc)
    return _page("已退订 / Unsubscribed", "<p>您已退订，不会再收到此问题的通知。/ You will get no more messages about this report.</p>")


def _unsubscribe(repo: Any, platform: Platform, token: str, now: datetime) -> int:
    return outbox.unsubscribe(repo.conn, token, now)


