"""Duplicate merging on stored cases: find links among open reports, merge the sure ones.

Every merge goes through the case service's MERGE action, so it is recorded in both cases'
history with its evidence (distance, minutes apart, text similarity, score) as the reason, and
an operator can see why; the links below the auto-merge score are only listed as candidates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from cityops.cases.models import Action, Actor
from cityops.cases.service import act
from cityops.cases.workflow import Command
from cityops.intel import merge
from cityops.store.base import CaseQuery

if TYPE_CHECKING:
    from cityops.core import Platform
    from cityops.store.sqlite import SqliteRepo

MAX_CASES = 100_000
DEFAULT = merge.Params()


@dataclass(frozen=True)
class Link:
    case: int
    into: int
    score: float
    metres: float
    minutes: float
    merged: bool


def dedupe(repo: SqliteRepo, platform: Platform, since: datetime, auto_score: float, apply: bool,
           actor: Actor, now: datetime, params: merge.Params = DEFAULT) -> list[Link]:
    """Write op: links among cases reported since `since` still open to merging (reported or
    registered); with `apply`, those scoring at least `auto_score` are merged into their root."""
    found, _ = repo.search_cases(CaseQuery(status=("reported", "registered"), reported_from=since,
                                           limit=MAX_CASES, order="reported_at"))
    cases = [c for c in found if c.lon is not None and c.lat is not None]
    if len(cases) < 2:
        return []
    lon = np.array([c.lon for c in cases], np.float64)
    lat = np.array([c.lat for c in cases], np.float64)
    t = np.array([c.reported_at.timestamp() for c in cases], np.float64)
    plan = merge.plan(lon, lat, t, merge.matter_groups([c.matter_code for c in cases]),
                      merge.signatures([c.description for c in cases]), params)
    score = {(int(a), int(b)): float(s) for (a, b), s in zip(plan.pairs, plan.score, strict=True)}
    x, y = merge.project(lon, lat)
    links = []
    for k in np.flatnonzero(plan.target != np.arange(len(cases))).tolist():
        root = int(plan.target[k])
        s = score[(min(k, root), max(k, root))]
        metres = float(np.hypot(x[k] - x[root], y[k] - y[root]))
        minutes = abs(t[k] - t[root]) / 60
        sure = apply and s >= auto_score
        if sure:
            reason = (f"自动合并 / auto-merged: {metres:.0f} m, {minutes:.0f} min apart, same matter, "
                      f"score {s:.2f}")
            act(repo, platform, cases[k].id, Command(Action.MERGE, actor, now, reason=reason, target=cases[root].id))
        links.append(Link(cases[k].id, cases[root].id, round(s, 3), round(metres, 1), round(minutes, 1), sure))
    return links


def since_hours(now: datetime, hours: float) -> datetime:
    return now - timedelta(hours=hours)
