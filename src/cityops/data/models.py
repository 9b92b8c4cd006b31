"""A data resource: the core items of the government data-resource catalogue (政务数据资源目录).

Items follow GB/T 21063 (政务信息资源目录体系) as the national catalogue's core metadata:
resource name and code, provider, classification, information items with their types, sharing
type with its condition, openness with its condition, update cycle, format, publication date.
docs/data.md maps each to DCAT-AP 3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from cityops.errors import InvalidInput

SHARING: Final = ("无条件共享", "有条件共享", "不予共享")
OPENNESS: Final = ("开放", "有条件开放", "不开放")
CYCLES: Final = ("实时", "每小时", "每日", "每周", "每月", "每季度", "每半年", "每年", "不定期")
# Information-item data types of the catalogue (GB/T 21063.3: 字符型 C, 数值型 N, …).
ITEM_TYPES: Final = {"C": "字符型", "N": "数值型", "Y": "货币型", "D": "日期型", "T": "日期时间型",
                     "L": "逻辑型", "M": "备注型", "B": "二进制型", "G": "空间型"}
# The catalogue's columns, with the Chinese headers an exported catalogue sheet uses.
COLUMNS: Final = {
    "code": "资源代码", "name": "资源名称", "description": "资源摘要", "provider": "提供方",
    "provider_code": "提供方代码", "classification": "资源分类", "theme": "主题", "items": "信息项",
    "sharing": "共享类型", "sharing_condition": "共享条件", "openness": "开放属性",
    "openness_condition": "开放条件", "update_cycle": "更新周期", "format": "资源格式",
    "keywords": "关键字", "published": "发布日期",
}
REQUIRED: Final = ("code", "name", "provider", "sharing", "openness", "published")


@dataclass(frozen=True)
class Item:
    """One information item (信息项): a column of the resource."""

    name: str
    type: str = "C"
    description: str = ""


@dataclass(frozen=True)
class Resource:
    code: str
    name: str
    provider: str
    sharing: str
    openness: str
    published: str  # ISO date
    description: str = ""
    provider_code: str = ""
    classification: str = ""
    theme: str = ""
    items: tuple[Item, ...] = ()
    sharing_condition: str = ""
    openness_condition: str = ""
    update_cycle: str = "不定期"
    format: str = "CSV"
    keywords: str = ""
    modified: int = 0  # µs since the epoch
    source: str = "registered"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def parse_items(text: str) -> tuple[Item, ...]:
    """Items written in a sheet cell: "名称:C;数量:N" (type optional, C by default)."""
    out = []
    for part in text.replace("；", ";").split(";"):
        name, _, kind = part.strip().partition(":")
        if name.strip():
            out.append(Item(name.strip(), (kind.strip() or "C").upper()))
    return tuple(out)


def check(r: Resource, row: int | None = None) -> Resource:
    """`r` if its controlled items hold allowed values; else an error naming the row and value."""
    where = f"row {row}: " if row is not None else ""
    where_zh = f"第 {row} 行：" if row is not None else ""
    for name in REQUIRED:
        if not str(getattr(r, name)).strip():
            raise InvalidInput(f"{where}{name} is required", f"{where_zh}缺少{COLUMNS[name]}")
    for value, allowed, label in ((r.sharing, SHARING, "sharing"), (r.openness, OPENNESS, "openness"),
                                  (r.update_cycle, CYCLES, "update_cycle")):
        if value not in allowed:
            raise InvalidInput(f"{where}{label} '{value}' is not one of {', '.join(allowed)}",
                               f"{where_zh}{COLUMNS[label]}“{value}”应为：{'、'.join(allowed)}")
    bad = [i.type for i in r.items if i.type not in ITEM_TYPES]
    if bad:
        raise InvalidInput(f"{where}item type '{bad[0]}' is not one of {', '.join(ITEM_TYPES)}",
                           f"{where_zh}信息项类型“{bad[0]}”应为：{'、'.join(ITEM_TYPES)}")
    if r.sharing == "有条件共享" and not r.sharing_condition.strip():
        raise InvalidInput(f"{where}有条件共享 needs a sharing_condition", f"{where_zh}有条件共享须写明共享条件")
    if not _is_date(r.published):
        raise InvalidInput(f"{where}published '{r.published}' is not a date YYYY-MM-DD",
                           f"{where_zh}发布日期“{r.published}”应为 YYYY-MM-DD")
    return r


def _is_date(text: str) -> bool:
    from datetime import date

    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True
