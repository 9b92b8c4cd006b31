"""Names beside codes: what a person reads (zh-CN first, English beside) for the codes a case
carries, and the reverse: the code for a name a person types (江汉区, Jianghan, WH-WATER).

Every answer that shows a code shows its names through `case_names` / `action_names`, so the
JSON API, the CLI and exports name things the same way.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

from cityops.cases.models import ACTION_LABELS, STATUS_LABELS, Action, Status
from cityops.errors import InvalidInput

if TYPE_CHECKING:
    from cityops.core import Platform


def _key(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


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
