"""Open311 extensions for the citizen's side, on the GeoReport v2 router's conventions
(form-encoded POSTs with api_key, answers in .json or .xml, errors as the spec's array):

- `POST requests/{id}/subscriptions.{fmt}`: `email`, `phone` or `webhook_url` hears of the
  request's public steps (a webhook gets mySociety `request_update` JSON);
- `GET|POST requests/{id}/questionnaire.{fmt}`: the return visit (回访) as a questionnaire, in
  the spirit of FixMyStreet's "has this been fixed?": the app that posted the request (its
  api_key) or a back office reads the questions and posts the answer for its user.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from cityops.api.routing import feature_router
from cityops.core import Platform, utcnow
from cityops.errors import Conflict, Forbidden, InvalidInput
from cityops.intake.open311 import params, public
from cityops.intake.open311 import service as o311
from cityops.intake.open311.views import PREFIX, _answer, _keyed_form, _platform, _query
from cityops.notify import outbox, revisit
from cityops.notify.config import load_config
from cityops.security import egress
from cityops.store.base import ApiKey

router = feature_router(PREFIX, "open311")


def _own(repo: Any, key: ApiKey, request_id: str) -> int:
    """The case, if this key posted it (or is a back office's)."""
    case = o311.one(repo, request_id)
    if key.scope != "backoffice" and public.open311_part(case.attributes).get("api_key") != key.name:
        raise Forbidden(f"api_key '{key.name}' did not post request {case.id}", "该密钥不能访问此请求的回访")
    return case.id


def _may_subscribe(repo: Any, key: ApiKey, request_id: str, form: dict[str, list[str]]) -> int:
    """The case, if this key may subscribe to it: the key that posted it, a back office's, or
    any key with the request's own `token` (what POST requests answered to the reporter)."""
    case = o311.one(repo, request_id)
    token = params.first(form, "token")
    if token and repo.case_for_open311_token(token) == case.id:
        return case.id
    if key.scope == "backoffice" or public.open311_part(case.attributes).get("api_key") == key.name:
        return case.id
    raise Forbidden(f"api_key '{key.name}' did not post request {case.id}; give the request's token "
                    f"(answered by POST requests) to subscribe to it",
                    f"该密钥未提交请求 {case.id}，不能订阅；请提供提交时返回的 token")


def _subscribe(repo: Any, platform: Platform, key: ApiKey, request_id: str, form: dict[str, list[str]],
               now: datetime) -> list[dict[str, str]]:
    case_id = _may_subscribe(repo, key, request_id, form)
    given = _given(form)
    subs = [outbox.add_subscriber(repo.conn, case_id, c, v, now, params.first(form, "lang") or "zh")
            for c, v in given]
    return [{"service_request_id": str(case_id), "channel": s.channel, "subscription_token": s.token} for s in subs]


def _given(form: dict[str, list[str]]) -> list[tuple[str, str]]:
    given = [(c, v) for c, f in (("email", "email"), ("sms", "phone"), ("webhook", "webhook_url"))
             if (v := params.first(form, f))]
    if not given:
        raise InvalidInput("give email, phone or webhook_url", "请提供 email、phone 或 webhook_url")
    return given


def _questionnaire(repo: Any, platform: Platform, case_id: int) -> list[dict[str, Any]]:
    row = repo.conn.execute("SELECT * FROM revisits WHERE case_id = ? ORDER BY id DESC LIMIT 1", (case_id,)).fetchone()
    if row is None:
        return []  # not closed yet: nothing to ask
    cfg = load_config(repo.conn)
    yes_no = [{"key": "yes", "name": "已解决 / solved"}, {"key": "no", "name": "未解决 / not solved"}]
    sats = [{"key": k, "name": f"{zh} / {en}"} for k, (zh, en) in revisit.SATISFACTION.items()]
    return [{
        "service_request_id": str(case_id), "questionnaire_id": str(row["id"]), "status": row["status"],
        "answer_url": f"{cfg.public_url}/r/{row['token']}",
        "questions": [
            {"code": "solved", "description": "问题解决了吗？/ Was the problem solved?", "values": yes_no},
            {"code": "satisfaction", "description": "您满意吗？/ Are you satisfied?", "values": sats},
            {"code": "comment", "description": "意见（可选）/ Comment (optional)", "values": []},
        ],
        "answer": None if row["answered_at"] is None else {
            "solved": bool(row["solved"]), "satisfaction": row["satisfaction"], "comment": row["comment"]},
    }]


def _answer_op(repo: Any, platform: Platform, key: ApiKey, request_id: str, form: dict[str, list[str]],
               now: datetime) -> list[dict[str, Any]]:
    case_id = _own(repo, key, request_id)
    row = repo.conn.execute("SELECT token FROM revisits WHERE case_id = ? AND status = 'pending'"
                            " ORDER BY id DESC LIMIT 1", (case_id,)).fetchone()
    if row is None:
        raise Conflict(f"request {case_id} has no return visit waiting for an answer", "该请求没有待答复的回访")
    answer = revisit.parse_answer(params.first(form, "solved"), params.first(form, "satisfaction"),
                                  params.first(form, "comment"))
    result = revisit.answer_by_token(repo, platform, row["token"], answer, now)
    return [{"service_request_id": str(case_id), "status": result["status"], "outcome": result["outcome"]}]


@router.post("/requests/{request_id}/subscriptions.{fmt}", summary="Subscribe to a request's updates (cityops extension)")
async def subscribe(request: Request, request_id: str, fmt: str) -> Response:
    async def work() -> list[dict[str, str]]:
        platform = _platform(request)
        form, key = await _keyed_form(request, platform, "report")
        await platform.aread(_may_subscribe, key, request_id, form)  # before any DNS lookup for a key with no right
        hooks = [v for c, v in _given(form) if c == "webhook"]
        for url in hooks:
            await egress.check_given(platform, url.strip())
        return await platform.awrite(_subscribe, key, request_id, form, utcnow())  # type: ignore[no-any-return]
    return await _answer(fmt, "subscriptions", work, status=201)


@router.get("/requests/{request_id}/questionnaire.{fmt}", summary="The return visit's questions (cityops extension)")
async def questionnaire(request: Request, request_id: str, fmt: str) -> Response:
    async def work() -> list[dict[str, Any]]:
        platform = _platform(request)
        def look(repo: Any) -> list[dict[str, Any]]:
            key = o311.authenticate(repo, params.first(_query(request), "api_key"))
            return _questionnaire(repo, platform, _own(repo, key, request_id))
        return await platform.aread(look)
    return await _answer(fmt, "questionnaires", work)


@router.post("/requests/{request_id}/questionnaire.{fmt}", summary="Answer the return visit (cityops extension)")
async def answer(request: Request, request_id: str, fmt: str) -> Response:
    async def work() -> list[dict[str, Any]]:
        platform = _platform(request)
        form, key = await _keyed_form(request, platform, "report")
        return await platform.awrite(_answer_op, key, request_id, form, utcnow())  # type: ignore[no-any-return]
    return await _answer(fmt, "questionnaires", work)
