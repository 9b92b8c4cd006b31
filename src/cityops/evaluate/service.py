"""Indicators over the store, scoped to what the caller may see."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

import polars as pl

from cityops.cases.models import Actor, Role
from cityops.evaluate.indicators import compute_indicators
from cityops.store.base import Repo

if TYPE_CHECKING:
    from cityops.core import Platform

GroupBy = Literal["district", "department", "grid", "city"]


def indicators(
    repo: Repo, by: GroupBy, as_of: datetime, start: datetime | None = None,
    end: datetime | None = None, actor: Actor | None = None, total: bool = False,
) -> pl.DataFrame:
    frame = repo.case_frame()
    if actor is not None and actor.role is Role.DEPARTMENT:
        # A department sees its own figures only, never another's.
        frame = frame.filter(pl.col("department") == (actor.department or ""))
    return compute_indicators(frame, by=by, as_of=as_of, start=start, end=end, total=total)


def code_names(platform: Platform) -> dict[str, tuple[str, str]]:
    """(Chinese, English) names of district and department codes, for CSV name columns."""
    names = {d.code: (d.name, d.name_en) for d in platform.city.districts}
    names.update({d.code: (d.name, d.name_en) for d in platform.city.departments})
    return names


def group_names(platform: Platform) -> dict[str, str]:
    """Display names for district and department codes: "江岸区 420102"."""
    names = {d.code: f"{d.name} {d.code}" for d in platform.city.districts}
    names.update({d.code: f"{d.name} {d.code}" for d in platform.city.departments})
    return names
