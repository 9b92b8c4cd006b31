"""The rainstorm day of the demo (`cityops demo --storm`): warnings go out ahead of the water.

Each storm point's model learns from a month of its own (simulated) history, then the day is
replayed ten minutes at a time, each step seeing only what had arrived by then:

1. the models forecast each point's depth from rain so far; a forecast over the yellow line
   drafts a CAP warning, which the duty supervisor approves and issues, and the point's
   district acknowledges (预警下派与签收);
2. the gauges' readings go in through the sensing intake, whose waterlogging detector opens
   a case when the water crosses a threshold (or joins the point's open case);
3. once the water at a point has receded, its case goes round the usual loop: register,
   dispatch, accept, report back, verify on site with a photo, close.

The storm day ends now, as the water recedes: the served demo shows the warnings that went
out, the cases already closed beside those still open where water stands. The warnings stay in
force through the recession (`WARNING_HOURS` from their onset, as a met office keeps a
rainstorm warning up until the event is over), so the played day ends inside the validity of
its warnings and `/cap/alerts.atom` and `.geojson` list them when the demo is served.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from cityops.cases import service
from cityops.cases.models import Action, Actor
from cityops.cases.workflow import Command
from cityops.detect.columns import Columns
from cityops.sensing.ingest import ingest
from cityops.sensing.registry import rain_spec, register_point_gauges, register_specs_op
from cityops.sensing.store import datastreams_of_kind
from cityops.sim.storm import rainstorm_day, storm_series
from cityops.warning import service as warnings
from cityops.warning.glue import YELLOW_CM, draft_op, fit_point, warn_points

if TYPE_CHECKING:
    from cityops.core import Platform

STEP_S = 300  # gauges report every 5 minutes
CHUNK = 2  # steps replayed per round: ten minutes
HOURS = 22.0  # from the start of the storm day to now
CLEARED_CM = 10.0  # water below this: the site can be cleaned up and verified
WARNING_HOURS = 12  # a storm warning's validity: the rain, and the hours the water stands after it


def storm_points(platform: Platform, count: int) -> list[str]:
    """Waterlogging points spread over the city: every k-th point in code order."""
    codes = sorted(p.code for p in platform.city.waterlogging_points)
    return codes[:: max(1, len(codes) // count)][:count]


def play_storm(platform: Platform, actors: dict[str, Actor], now: datetime, points: int = 16, seed: int = 2026,
               say: Callable[[str], None] | None = None) -> dict[str, Any]:
    say = say or (lambda _: None)
    codes = storm_points(platform, points)
    say(f"暴雨日 storm day: fitting the early-warning models of {len(codes)} waterlogging points …")
    history = storm_series(seed, points=len(codes), days=30, step_s=STEP_S)
    models = {c: fit_point(history.t, history.depth[i], history.point_rain[i]) for i, c in enumerate(codes)}
    day = rainstorm_day(seed, len(codes), STEP_S, truth=history.truth)
    steps = int(HOURS * 3600 / STEP_S)
    end = int(now.timestamp()) // STEP_S * STEP_S
    t = (end - (steps - 1 - np.arange(steps)) * STEP_S).astype(np.float64)
    rain, depth = day.point_rain[:, :steps], np.round(day.depth[:, :steps], 1)

    register_point_gauges(platform)
    with platform.store.read() as repo:
        gauge_of = {point: ds for ds, point in datastreams_of_kind(repo.conn, "water_depth")}
    gauges = np.array([gauge_of[c] for c in codes], dtype=np.int64)
    centre = platform.city.waterlogging_points[0]
    rain_ds = platform.store.write(lambda repo: register_specs_op(
        repo, platform, [rain_spec("RAIN-CITY", centre.lon, centre.lat, centre.district)]))[0]
    warned: dict[str, float] = {}
    case_of: dict[str, int] = {}
    closed = 0
    say(f"暴雨日 storm day: replaying {HOURS:g} hours of rain and water, ten minutes at a time …")
    for k in range(CHUNK, steps + 1, CHUNK):
        at = datetime.fromtimestamp(float(t[k - 1]), UTC)
        drafts = [d for d in warn_points(platform, codes, t[:k], rain[:, :k], depth[:, :k], models,
                                         timedelta(hours=WARNING_HOURS)) if d.point not in warned]
        window = slice(k - CHUNK, k)
        cols = Columns.of(np.concatenate([np.repeat(gauges, CHUNK), [rain_ds] * CHUNK]),
                          np.concatenate([np.tile(t[window], len(codes)), t[window]]) * 1000,
                          np.concatenate([depth[:, window].reshape(-1), day.rain[window]]))
        receded = [case_of.pop(c) for i, c in enumerate(codes) if c in case_of and depth[i, k - 1] < CLEARED_CM]
        opened = platform.store.write(partial(_round, platform=platform, actors=actors, at=at, drafts=drafts,
                                              cols=cols, receded=receded, clock=now))
        warned.update((str(d.point), float(t[k - 1])) for d in drafts)
        closed += len(receded)
        for case_id in opened:
            point = _point_of(platform, case_id)
            if point:
                case_of[point] = case_id
    return {"storm_points": len(codes), **_lead_times(codes, t, depth, warned), "storm_cases_opened":
            closed + len(case_of), "storm_cases_closed": closed}


def _round(repo: Any, platform: Platform, actors: dict[str, Actor], at: datetime, drafts: list[warnings.Draft],
           cols: Columns, receded: list[int], clock: datetime) -> list[int]:
    """Ten minutes of the storm in one transaction; returns the cases the water opened. What
    people do after `at` (approve, sign, handle) is dated at most `clock`: the played day ends
    now, and nothing is written ahead of it."""
    def after(minutes: int) -> datetime:
        return min(at + timedelta(minutes=minutes), clock)

    for d in drafts:
        _warn(repo, platform, d, actors, at, after)
    for case_id in receded:
        _close_loop(repo, platform, case_id, actors, after)
    return ingest(repo, platform, cols, None, at).cases_opened


def _warn(repo: Any, platform: Platform, d: warnings.Draft, actors: dict[str, Actor], at: datetime,
          after: Callable[[int], datetime]) -> None:
    """The model drafts; the duty supervisor approves and issues; the district signs for it."""
    warning_id = draft_op(repo, platform, d, at)
    supervisor = actors["supervisor"]
    warnings.approve_warning(repo, platform, warning_id, supervisor, after(1))
    warnings.issue_warning(repo, platform, warning_id, supervisor, after(2))
    for district in d.districts:
        dept = next((x for x in platform.city.departments if x.district == district), None)
        who = actors.get(f"dept-{dept.code.lower()}") if dept else None
        warnings.acknowledge(repo, platform, warning_id, district, who or supervisor, after(8))


def _point_of(platform: Platform, case_id: int) -> str | None:
    with platform.store.read() as repo:
        case = repo.get_case(case_id)
    detection = (case.attributes or {}).get("detection", {}) if case else {}
    key = str(detection.get("key", ""))
    return key.split(":", 1)[-1] if detection.get("kind") == "waterlogging" else None


def _close_loop(repo: Any, platform: Platform, case_id: int, actors: dict[str, Actor],
                after: Callable[[int], datetime]) -> None:
    """The water has gone: the case is registered, dispatched, handled, verified and closed."""
    from cityops.field.attachments import attach_demo_photo

    def step(action: Action, who: Actor, minutes: int, **extra: Any) -> None:
        service.act(repo, platform, case_id, Command(action, who, after(minutes), **extra))

    step(Action.REGISTER, actors["acceptor"], 1)
    case = repo.get_case(case_id)
    department = service.suggest_departments(platform, case)[0]
    step(Action.DISPATCH, actors["dispatcher"], 3, department=department)
    crew = actors[f"dept-{department.lower()}"]
    step(Action.ACCEPT, crew, 8)
    step(Action.REPORT_BACK, crew, 40)
    attach_demo_photo(repo, platform, case_id, actors["verifier"], after(55))
    step(Action.VERIFY, actors["verifier"], 56, passed=True)


def _lead_times(codes: list[str], t: Any, depth: Any, warned: dict[str, float]) -> dict[str, Any]:
    """How early each flooded point was warned, against the replayed water (its truth)."""
    leads, flooded = [], 0
    for i, code in enumerate(codes):
        over = np.flatnonzero(depth[i] >= YELLOW_CM)
        if not len(over):
            continue
        flooded += 1
        if code in warned and warned[code] <= t[over[0]]:
            leads.append((t[over[0]] - warned[code]) / 60)
    false_alarms = sum(1 for i, c in enumerate(codes) if c in warned and not (depth[i] >= YELLOW_CM).any())
    return {"storm_points_flooded": flooded, "storm_warnings": len(warned), "storm_warned_ahead": len(leads),
            "storm_false_alarms": false_alarms,
            "storm_median_lead_min": round(float(np.median(leads)), 1) if leads else 0.0}
