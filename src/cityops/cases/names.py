"""Names beside codes: what a person reads (zh-CN first, English beside) for the codes a case
carries, and the reverse: the code for a name a person types (江汉区, Jianghan, WH-WATER).

Every answer that shows a code shows its names through `case_names` / `action_names`, so the
JSON API, the CLI and exports name things the same way.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

from cityops.cases.models import ACTION_LABELS, ROLE_LABELS, STATUS_LABELS, Action, Role, Status
from cityops.errors import InvalidInput

if TYPE_CHECKING:
    from cityops.core import Platform


def _key(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


# Channels a case comes in by (cases.source). A source may carry a detail after a colon
# (drone:UAV-3, import:wuhan2023, open311:<app>): the channel is the part before it.
SOURCE_LABELS: dict[str, tuple[str, str]] = {
    "hotline_12345": ("12345热线", "12345 hotline"),
    "hotline": ("热线", "Hotline"),
    "citizen_app": ("市民APP", "Citizen app"),
    "app": ("市民APP", "Citizen app"),
    "wechat": ("微信", "WeChat"),
    "web": ("网站", "Website"),
    "open311": ("Open311 应用", "Open311 app"),
    "inspector": ("巡查上报", "Inspector"),
    "collector": ("巡查上报", "Inspector"),
    "sensor": ("物联感知", "Sensor"),
    "drone": ("无人机", "Drone"),
    "video": ("视频识别", "Video"),
    "api": ("接口", "API"),
    "import": ("历史导入", "Import"),
    "system": ("系统", "System"),
}
# Warning levels (CAP, GB/T 47678) and the map's sensor levels.
LEVEL_LABELS: dict[str, tuple[str, str]] = {
    "red": ("红色", "Red"), "orange": ("橙色", "Orange"), "yellow": ("黄色", "Yellow"), "blue": ("蓝色", "Blue"),
}
# Actors that are not logins: the platform itself.
ACTOR_LABELS: dict[str, tuple[str, str]] = {"system": ("系统", "System")}


def channel(source: str | None) -> str:
    """The channel of a source: `drone:UAV-3` → `drone`."""
    return (source or "").split(":", 1)[0]


def source_names(source: str | None) -> tuple[str, str]:
    """A source's names: its channel's, with the detail after a colon kept (无人机 UAV-3)."""
    code = channel(source)
    zh, en = SOURCE_LABELS.get(code, (code, code))
    detail = (source or "")[len(code) + 1:]
    return (f"{zh} {detail}", f"{en} {detail}") if detail else (zh, en)


def role_names(role: str) -> tuple[str, str]:
    try:
        return ROLE_LABELS[Role(role)]
    except ValueError:
        return role, role


def vocabularies() -> dict[str, dict[str, tuple[str, str]]]:
    """Every list of values the product owns, each code with its zh and en name: the one table
    the API answers (GET /api/v1/names) and the pages read, so no page shows a raw code."""
    return {
        "status": {s.value: STATUS_LABELS[s] for s in Status},
        "action": {"report": action_names("report"), **{a.value: ACTION_LABELS[a] for a in Action}},
        "role": {r.value: ROLE_LABELS[r] for r in Role},
        "source": dict(SOURCE_LABELS),
        "level": dict(LEVEL_LABELS),
        "actor": dict(ACTOR_LABELS),
    }


def status_names(status: str) -> tuple[str, str]:
    try:
        return STATUS_LABELS[Status(status)]
    except ValueError:
        return status, status


def action_names(action: str) -> tuple[str, str]:
    if action == "report":
        return "上报", "Report"
    try:
        return ACTION_LABELS[Action(action)]
    except ValueError:
        return action, action


def matter_names(platform: Platform, code: str) -> tuple[str, str]:
    entry = platform.catalogue.find("matter", code) or platform.catalogue.find("component", code)
    return (entry.name, entry.name_en) if entry else (code, code)


def district_names(platform: Platform, code: str | None) -> tuple[str, str]:
    for d in platform.city.districts:
        if d.code == code:
            return d.name, d.name_en
    return (code or "", code or "")


def department_names(platform: Platform, code: str | None) -> tuple[str, str]:
    if not code:
        return "", ""
    for d in platform.city.departments:
        if d.code == code:
            return d.name, d.name_en
    return code, code


def case_names(platform: Platform, case: Any) -> dict[str, str]:
    """The names of a case's codes, as fields to put beside them in an answer."""
    out: dict[str, str] = {}
    for field, (zh, en) in (
        ("status", status_names(str(case.status))),
        ("matter", matter_names(platform, case.matter_code)),
        ("district", district_names(platform, case.district)),
        ("department", department_names(platform, case.department)),
        ("source", source_names(case.source)),
    ):
        out[f"{field}_name"] = zh
        out[f"{field}_name_en"] = en
    return out


def _resolve(value: str, options: list[tuple[str, str, str]], what: tuple[str, str]) -> str:
    """The code for a code or a zh/en name (exact after NFKC and case folding)."""
    key = _key(value)
    for code, zh, en in options:
        if key in (_key(code), _key(zh), _key(en)):
            return code
    # A name typed without its suffix (江汉 for 江汉区) when exactly one entry starts with it.
    starts = [code for code, zh, en in options if key and (_key(zh).startswith(key) or _key(en).startswith(key))]
    if len(starts) == 1:
        return starts[0]
    known = "、".join(zh for _, zh, _ in options[:20])
    raise InvalidInput(f"unknown {what[1]} '{value}'; give its code or name, e.g. {options[0][2]}",
                       f"未知的{what[0]}「{value}」，请填写代码或名称，例如：{known}")


def district_code(platform: Platform, value: str) -> str:
    return _resolve(value, [(d.code, d.name, d.name_en) for d in platform.city.districts], ("区", "district"))


def department_code(platform: Platform, value: str) -> str:
    return _resolve(value, [(d.code, d.name, d.name_en) for d in platform.city.departments],
                    ("处置单位", "department"))


def matter_codes(platform: Platform, value: str) -> str:
    """A matter code for a code or the exact zh/en name of a matter."""
    key = _key(value)
    for entry in platform.catalogue.matters():
        if key in (_key(entry.code), _key(entry.name), _key(entry.name_en)):
            return entry.code
    raise InvalidInput(f"unknown matter '{value}'; give its 5-digit code or its name",
                       f"未知的事项「{value}」，请填写 5 位代码或名称")


def status_code(value: str) -> str:
    key = _key(value)
    for status, (zh, en) in STATUS_LABELS.items():
        if key in (status.value, _key(zh), _key(en)):
            return status.value
    raise InvalidInput(f"unknown status '{value}'; use one of: {', '.join(Status)}",
                       f"未知状态「{value}」，可选：{'、'.join(f'{s.value}（{STATUS_LABELS[s][0]}）' for s in Status)}")
