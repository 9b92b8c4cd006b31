"""Catalogue value types: components, matters and their time limits (GB/T 47678.5-2026)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["component", "matter"]
TimeUnit = Literal["working_hours", "working_days", "calendar_hours"]
AreaClass = Literal["A", "B", "C"]
AREA_CLASSES: tuple[AreaClass, ...] = ("A", "B", "C")
TIME_UNITS: tuple[TimeUnit, ...] = ("working_hours", "working_days", "calendar_hours")

# Department *types*: the catalogue routes a matter to a type; a city pack says which of its
# real departments serve each type (city-wide owners, or one area department per district).
DEPARTMENT_TYPES: dict[str, tuple[str, str]] = {
    "water_supply": ("供水", "Water supply"),
    "drainage": ("排水", "Drainage"),
    "gas": ("燃气", "Gas"),
    "power": ("电力", "Power"),
    "telecom": ("通信", "Telecommunications"),
    "heating": ("供热", "Heating"),
    "roads": ("市政道路桥梁", "Roads and bridges"),
    "lighting": ("路灯照明", "Street lighting"),
    "traffic_police": ("公安交管", "Traffic police"),
    "transport": ("交通运输", "Transport"),
    "sanitation": ("环境卫生", "Sanitation"),
    "greening": ("园林绿化", "Parks and greening"),
    "urban_management": ("城管执法", "Urban management (area)"),
    "housing": ("房屋管理", "Housing"),
    "market": ("市场监管", "Market regulation"),
    "ecology": ("生态环境", "Ecology and environment"),
    "water_affairs": ("水务", "Water affairs"),
    "construction": ("住房城乡建设", "Construction"),
    "other": ("其他", "Other"),
}


@dataclass(frozen=True)
class TimeLimit:
    """处置时限: how long a department has, in one of three units."""

    amount: float
    unit: TimeUnit

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise ValueError(f"time limit must be positive, got {self.amount}")
        if self.unit not in TIME_UNITS:
            raise ValueError(f"unknown time unit {self.unit!r}; use one of {TIME_UNITS}")


@dataclass(frozen=True)
class Entry:
    """One directory entry: a component (管理部件) or a matter (管理事项)."""

    kind: Kind
    code: str  # 5 digits: 2-digit major + 3-digit minor
    major_code: str
    major_name: str
    name: str  # zh-CN, as in the standard
    name_en: str
    department: str = "other"  # a key of DEPARTMENT_TYPES
    time_limits: Mapping[str, TimeLimit] = field(default_factory=dict)  # by area class A/B/C
    verify_on_site: bool = True
    keywords: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[Kind, str]:
        return (self.kind, self.code)

    @property
    def is_component_matter(self) -> bool:
        """Matters 01001–05009 are '<component>异常': routed owner first, then area."""
        return self.kind == "matter" and self.major_code in {"01", "02", "03", "04", "05"}

    def time_limit(self, area_class: str) -> TimeLimit:
        return self.time_limits.get(area_class) or self.time_limits["A"]
