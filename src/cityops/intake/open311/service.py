"""Open311 over the case backbone: keys, intake, lookups and back-office updates.

Every function takes the repo (one unit of work) and the platform and returns values; the
views run them in a read or in the group-committed writer.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from cityops import hooks
from cityops.cases import service as cases
from cityops.cases.models import FINAL_STATUSES, Actor, Case, HistoryEntry, Role, Status
from cityops.cases.workflow import Command
from cityops.errors import CityopsError
from cityops.field import attachments
from cityops.field.attachments import Stored
from cityops.intake.open311 import keys, mapping, params, public, services, updates
from cityops.intake.open311.errors import Open311Error, bad_request, from_domain
from cityops.store.base import ApiKey, CaseQuery, Repo

if TYPE_CHECKING:
    from cityops.core import Platform

SOURCE = "open311"
MAX_PAGE = 10**9  # page x page_size must stay inside SQLite's 64-bit OFFSET
_UNITS_ZH = {"working_hours": "工作时", "working_days": "工作日", "calendar_hours": "小时"}


def authenticate(repo: Repo, api_key: str | None, scope: str = "report") -> ApiKey:
    """The stored key for this plain key, or 403 (missing, unknown, revoked, wrong scope)."""
    if not api_key:
        raise Open311Error(403, "api_key is required / 缺少 api_key")
    return check_key(repo.api_key_by_hash(keys.digest(api_key)), scope)


def check_key(key: ApiKey | None, scope: str) -> ApiKey:
    """403 unless `key` (looked up by a plain key's digest) exists, stands and has `scope`."""
    if key is None:
        raise Open311Error(403, "api_key is not valid / api_key 无效")
    if key.revoked_at is not None:
        raise Open311Error(403, f"api_key '{key.name}' was revoked / api_key 已被吊销")
    if scope == "backoffice" and key.scope != "backoffice":
        raise Open311Error(403, f"api_key '{key.name}' may not post updates; create it with --backoffice / 该密钥无权提交处理进展")
    return key


def check_jurisdiction(platform: Platform, jurisdiction: str | None) -> None:
    if jurisdiction is not None and jurisdiction != platform.city.code:
        raise Open311Error(404, f"unknown jurisdiction_id '{jurisdiction}'; this endpoint serves '{platform.city.code}' / 未知的辖区 {jurisdiction}")


def city_tz(platform: Platform) -> ZoneInfo:
    return ZoneInfo(platform.city.timezone)


def request_token(case: Case) -> str:
    """Stable and opaque: the same case always gives the same token; it reveals nothing."""
    seed = f"open311-token:{case.id}:{case.reported_at.isoformat()}:{case.history_head[:16]}"
    return hashlib.sha256(seed.encode()).hexdigest()[:24]


def _places(platform: Platform) -> tuple[params.Place, ...]:
    city = platform.city
    out: list[params.Place] = []
    for d in city.districts:
        point = city.geometries[d.code].representative_point()
        out += [params.Place(d.name, point.x, point.y), params.Place(d.name_en, point.x, point.y)]
    for w in city.waterlogging_points:  # "模拟易渍水点 #001 / Simulated …": each half works too
        names = {w.name, w.code, *(part.strip() for part in w.name.split(" / "))}
        out += [params.Place(n, w.lon, w.lat) for n in names if n]
    return tuple(out)


def locate(platform: Platform, sub: params.Submission) -> tuple[float, float]:
    if sub.lat is not None and sub.lon is not None:
        return sub.lon, sub.lat
    if sub.address_id is not None:
        grid = platform.city.grid(sub.address_id)
        if grid is not None:
            return grid.lon, grid.lat
        point = next((w for w in platform.city.waterlogging_points if w.code == sub.address_id), None)
        if point is not None:
            return point.lon, point.lat
        if sub.address_string is None:
            raise bad_request(f"unknown address_id '{sub.address_id}': give a grid code or a waterlogging point code / 未知的 address_id")
    assert sub.address_string is not None
    return params.geocode(sub.address_string, _places(platform))


def idempotency_key(key: ApiKey, header: str | None, sub: params.Submission) -> str | None:
    """Per API key: the Idempotency-Key header, else device_id + the client's token."""
    if header:
        return f"open311:{key.name}:h:{header}"
    device = sub.contact.get("device_id")
    if device and sub.client_token:
        return f"open311:{key.name}:d:{device}:{sub.client_token}"
    return None


def prepare(platform: Platform, sub: params.Submission, key: ApiKey, header: str | None) -> cases.NewReport:
    """Everything that needs no write: service, attributes, location, and for the catch-all
    service the classification of the description. Raises 400/404."""
    if sub.service_code == services.CATCH_ALL:
        return _classified(platform, sub, key, header)
    entry = services.lookup(platform.catalogue, sub.service_code)
    attrs = services.check_attributes(entry, sub.attributes)
    lon, lat = locate(platform, sub)
    description = sub.description.strip() or services.service_name(entry)
    return cases.NewReport(
        matter_code=entry.code, description=description, lon=lon, lat=lat, source=SOURCE,
        address=sub.address_string or "", reporter=f"open311:{key.name}",
        attributes=_attributes(sub, key, attrs), idempotency_key=idempotency_key(key, header, sub),
    )


def _attributes(sub: params.Submission, key: ApiKey, attrs: dict[str, Any]) -> dict[str, Any]:
    o311: dict[str, Any] = {"api_key": key.name}
    if attrs:
        o311["attributes"] = attrs
    if sub.media_url:
        o311["media_url"] = sub.media_url
    if sub.address_id:
        o311["address_id"] = sub.address_id
    attributes: dict[str, Any] = {"open311": o311}
    if sub.contact:
        attributes["contact"] = sub.contact  # kept for the back office, never shown publicly
    return attributes


def _classified(platform: Platform, sub: params.Submission, key: ApiKey, header: str | None) -> cases.NewReport:
    """The catch-all service: the description decides the matter. At or above the city's
    threshold the report carries the predicted code from here on (and goes the ordinary way);
    below it the code stays empty and `submit` puts it in the triage queue."""
    from cityops.intel import service as intel

    if sub.attributes:
        raise bad_request(f"service '{services.CATCH_ALL}' has no attributes / 该服务没有属性")
    description = sub.description.strip()
    if not description:
        raise bad_request(f"service '{services.CATCH_ALL}' needs a description to classify / 该服务须填写描述")
    lon, lat = locate(platform, sub)
    try:
        result = intel.classify(platform, description, lon, lat)
    except CityopsError as exc:
        raise from_domain(exc) from exc
    attributes = _attributes(sub, key, {})
    sure = result["confidence"] >= intel.threshold(platform)
    attributes["intel"] = intel.intel_attributes(result) if sure else result
    return cases.NewReport(
        matter_code=result["matter_code"] if sure else "", description=description, lon=lon, lat=lat,
        source=SOURCE, address=sub.address_string or "", reporter=f"open311:{key.name}",
        attributes=attributes, idempotency_key=idempotency_key(key, header, sub),
    )


def submit(repo: Repo, platform: Platform, report: cases.NewReport, key: ApiKey, now: datetime,
           photo: Stored | None = None) -> list[dict[str, Any]]:
    """信息收集 through the one intake every source uses; returns the POST's answer.

    A sure request becomes a case, an unsure catch-all one a triage item; a `photo` already
    stored (multipart `media`, `field.open311`) is recorded with either in the same write, and
    the answer names it (`media_url`, the first request's on a retry).
    The answer is built here, inside the write, so that only it (not the whole case) travels
    back from the server's write process."""
    actor = Actor(f"open311:{key.name}", Role.COLLECTOR)
    try:
        if not report.matter_code or _went_to_triage(repo, report.idempotency_key):
            return _to_triage(repo, platform, report, actor, now, photo)
        replay = report.idempotency_key is not None and repo.idempotent_case(report.idempotency_key) is not None
        case = cases.intake(repo, platform, report, actor, now)
        if photo is not None and not replay:
            attachments.record(repo, platform, replace(photo, case_id=case.id), actor)
    except CityopsError as exc:
        raise from_domain(exc) from exc
    return [_case_answer(repo, platform, case, request_token(case), photo)]


def _went_to_triage(repo: Any, idempotency_key: str | None) -> bool:
    """A retry of a request that went to triage answers as the first did, even where the
    classifier is sure of it now: no case beside the item, no second photo."""
    from cityops.intel import store as intel_store

    return idempotency_key is not None and intel_store.triage_by_key(repo.conn, idempotency_key) is not None


def _case_answer(repo: Repo, platform: Platform, case: Case, token: str, photo: Stored | None) -> dict[str, Any]:
    repo.add_open311_token(token, case.id)
    answer = {"service_request_id": str(case.id), "token": token,
              "service_notice": service_notice(platform, case), "account_id": ""}
    return {**answer, "media_url": _media_url(case.attributes)} if photo is not None else answer


def _o311(attributes: Mapping[str, Any] | None, name: str) -> str:
    """A string kept under `attributes.open311` (token, media_url), or "". Attributes are
    free-form (staff may send any JSON): only a value of the right shape counts."""
    o311 = (attributes or {}).get("open311")
    value = o311.get(name) if isinstance(o311, dict) else None
    return value if isinstance(value, str) else ""


def _media_url(attributes: Mapping[str, Any]) -> str:
    return _o311(attributes, "media_url")


def _to_triage(repo: Any, platform: Platform, report: cases.NewReport, actor: Actor,
               now: datetime, photo: Stored | None) -> list[dict[str, Any]]:
    """A catch-all request the model was unsure of: a person picks the matter (triage). The
    answer is the spec's deferred one, a token without a service_request_id; the token is kept
    with the item and is linked to the case once a person decides (`token_of_triaged_case`).
    Its photo is held with the item (`intel.photos`) and becomes the case's attachment then."""
    from cityops.intel import service as intel

    result = report.attributes["intel"]
    token = secrets.token_hex(12)
    attributes = {k: v for k, v in report.attributes.items() if k != "intel"}
    attributes["open311"] = {**attributes["open311"], "token": token}
    out = intel.accept_text(repo, platform, report.description, report.lon, report.lat, report.source,
                            report.address, result, actor, now, reporter=report.reporter,
                            attributes=attributes, idempotency_key=report.idempotency_key, photo=photo)
    if "case" in out:  # the threshold was lowered meanwhile (or a retry of a sure request): a case
        case = out["case"]
        return [_case_answer(repo, platform, case, _o311(case.attributes, "token") or request_token(case), photo)]
    if first := _o311(out.get("attributes"), "token"):  # a retry answers with the first request's token
        token = first
    answer = {"token": token, "account_id": "",
              "service_notice": "已转人工分拣，确定类别后受理 / a person will pick the category, then it is accepted"}
    return [{**answer, "media_url": _media_url(out.get("attributes", {}))} if photo is not None else answer]


@hooks.on_case_changed
def token_of_triaged_case(repo: Any, platform: Platform, before: Case | None, after: Case, change: Any) -> None:
    """A case made from a triaged catch-all request answers to the token its reporter holds."""
    if before is not None:
        return
    token = _o311(after.attributes, "token")
    if token and repo.case_for_open311_token(token) is None:
        repo.add_open311_token(token, after.id)


def service_notice(platform: Platform, case: Case) -> str:
    entry = platform.catalogue.find("matter", case.matter_code)
    if entry is None or not entry.time_limits:
        return ""
    limit = entry.time_limit(case.area_class or "C")
    return (f"处置时限 {limit.amount:g} {_UNITS_ZH[limit.unit]} / "
            f"time limit {limit.amount:g} {limit.unit.replace('_', ' ')}")


def _agencies(platform: Platform) -> dict[str, str]:
    return {d.code: f"{d.name} / {d.name_en}" for d in platform.city.departments}


def describe(repo: Repo, platform: Platform, found: Sequence[Case], extensions: bool) -> list[dict[str, Any]]:
    """Cases as service requests; with extensions, one query fetches every case's history."""
    tz = city_tz(platform)
    agencies = _agencies(platform)
    rules = public.policy(repo)
    found = [c for c in found if rules.lists(c.source)]
    histories: Mapping[int, list[HistoryEntry]] = repo.histories([c.id for c in found]) if extensions else {}
    out = []
    for case in found:
        entry = platform.catalogue.find("matter", case.matter_code)
        name = services.service_name(entry) if entry else case.matter_code
        codes = frozenset(a.code for a in services.attributes_for(entry)) if entry else frozenset()
        out.append(mapping.request_json(
            case, name, agencies.get(case.department or "", case.department), tz,
            histories.get(case.id) if extensions else None, service_notice(platform, case),
            policy=rules, attribute_codes=codes,
        ))
    return out


def search(repo: Repo, platform: Platform, query: Mapping[str, list[str]], now: datetime) -> list[Case]:
    """GET requests: ids override everything else; otherwise codes, statuses and the date window."""
    tz = city_tz(platform)
    page = params.positive_int(params.first(query, "page"), "page", 1, MAX_PAGE)
    size = params.positive_int(params.first(query, "page_size"), "page_size", params.DEFAULT_CAP, params.DEFAULT_CAP)
    ids = params.comma_list(params.first(query, "service_request_id"))
    if ids is not None:
        bad = [i for i in ids if params.whole(i) is None]
        if bad:
            raise bad_request(f"service_request_id must be numbers: {', '.join(bad)} / 编号必须是数字")
        q = CaseQuery(ids=[int(i) for i in ids], limit=size, offset=(page - 1) * size, order="-reported_at")
        return repo.search_cases(q)[0]
    start, end = params.window(params.first(query, "start_date"), params.first(query, "end_date"), now, tz)
    statuses = _statuses(params.comma_list(params.first(query, "status")))
    codes = params.comma_list(params.first(query, "service_code"))
    q = CaseQuery(status=statuses, matter_code=codes, reported_from=start, reported_to=end,
                  limit=size, offset=(page - 1) * size, order="-reported_at")
    return repo.search_cases(q)[0]


def _statuses(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    wanted = {v.lower() for v in values}
    unknown = wanted - {"open", "closed"}
    if unknown:
        raise bad_request(f"unknown status {sorted(unknown)}; use open or closed / 状态只能是 open 或 closed")
    out: list[str] = []
    if "open" in wanted:
        out += [s.value for s in Status if s not in FINAL_STATUSES]
    if "closed" in wanted:
        out += [s.value for s in FINAL_STATUSES]
    return out


def one(repo: Repo, request_id: str) -> Case:
    number = params.whole(request_id)
    case = repo.get_case(number) if number is not None else None
    if case is None:
        raise Open311Error(404, f"no service request '{request_id}' / 服务请求 {request_id} 不存在")
    return case


def by_token(repo: Repo, token: str) -> list[dict[str, str]]:
    case_id = repo.case_for_open311_token(token)
    if case_id is None:
        raise Open311Error(404, f"unknown token '{token}' / 未知的 token")
    return [{"service_request_id": str(case_id), "token": token}]


def list_updates(repo: Repo, platform: Platform, query: Mapping[str, list[str]], now: datetime) -> list[dict[str, Any]]:
    """GET servicerequestupdates: every step after the report, in the window, oldest first."""
    tz = city_tz(platform)
    start, end = params.window(params.first(query, "start_date"), params.first(query, "end_date"), now, tz)
    cap = params.positive_int(params.first(query, "page_size"), "page_size", params.DEFAULT_CAP, params.DEFAULT_CAP)
    entries = repo.history_between(start, end, cap * 2)
    shown = [e for e in entries if e.change.action != "report" and public.shows_entry(e.change.action, e.change.actor)]
    return [mapping.update_json(e, tz) for e in shown][:cap]


def post_update(repo: Repo, platform: Platform, key: ApiKey, form: Mapping[str, list[str]], now: datetime) -> list[dict[str, str]]:
    """POST servicerequestupdates: map the status onto workflow steps, all or nothing."""
    request_id = params.require(params.first(form, "service_request_id"), "service_request_id")
    status = params.require(params.first(form, "status"), "status")
    their_id = params.first(form, "update_id")
    description = params.first(form, "description") or ""
    target = params.first(form, "duplicate_of")
    when = params.first(form, "updated_datetime")
    if when is not None:
        params.parse_when(when, "updated_datetime", city_tz(platform))  # malformed → 400
    memo = f"open311-update:{key.name}:{their_id}" if their_id else None
    if memo is not None and (seen := repo.idempotent_case(memo)) is not None:
        case = one(repo, str(seen))
        return [{"update_id": f"{case.id}_{case.history_count}"}]
    case = one(repo, request_id)
    if target is not None and params.whole(target) is None:
        raise bad_request("duplicate_of must be a service_request_id / duplicate_of 必须是请求编号")
    steps = updates.plan(status, case.status, has_target=target is not None)
    reason = description or f"Open311 {status.upper()}"
    actor_name = f"open311:{key.name}"
    try:
        for step in steps:
            actor = Actor(actor_name, step.role, case.department if step.role is Role.DEPARTMENT else None)
            cmd = Command(step.action, actor, now, reason=reason, passed=step.passed,
                          target=int(target) if target else None)
            case = cases.act(repo, platform, case.id, cmd)
    except CityopsError as exc:
        raise from_domain(exc) from exc
    if memo is not None:
        repo.remember_idempotent(memo, case.id, now)
    return [{"update_id": f"{case.id}_{case.history_count}"}]
