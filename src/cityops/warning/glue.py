"""Glue for the storm demo and live use: fit each point, decide which warnings to draft.

    models = {code: fit_point(t, depth[i], rain[i]) for i, code in enumerate(codes)}
    drafts = warn_points(platform, codes, t[:k], rain[:, :k], depth[:, :k], models)
    for d in drafts:
        platform.store.write(lambda repo: draft_op(repo, platform, d, now))
    # or, from HTTP: await platform.awrite(draft_op, d, now)

Only what arrived up to now goes in (columns up to the current step); a point already above
its yellow threshold gets no warning (that is a detection, the sensing feature's job).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from cityops.cases.models import SYSTEM_ACTOR
from cityops.warning import backtest as bt
from cityops.warning import model as m
from cityops.warning import rainrule as rr
from cityops.warning.explain import Why, minutes_to_cross, recent_rain
from cityops.warning.score import Skill
from cityops.warning.service import Draft, draft_warning

YELLOW_CM = 20.0  # Wuhan road waterlogging gauges: yellow above 20 cm, red above 27 cm
RED_CM = 27.0


@dataclass(frozen=True)
class PointModel:
    model: m.Model
    margin: float
    step_s: int
    yellow: float = YELLOW_CM
    red: float = RED_CM
    rule: rr.Rule | None = None  # a rain rule, where the back-test chose one over the forecast
    skill: Skill | None = None  # the point's back-test figures, shown beside each warning


def fit_point(t: m.F64, level: m.F64, rain: m.F64, yellow: float = YELLOW_CM, red: float = RED_CM,
              horizon_min: int = 120, skill: Skill | None = None, model: str | None = "arx") -> PointModel:
    """Fit one point's model on its history (regular step) and calibrate its margin. `model`
    None lets the inner validation (choose.py) pick, as the back-test does: for a point with
    a short record, where a rain rule may be picked and the point then warns by that rule."""
    step = int(round(float(np.median(np.diff(t))))) if len(t) > 1 else 300
    g = bt.Grid(t, step, level, {"rain": rain}, {})
    r = bt.run(g, bt.Options(threshold=yellow, horizon_min=horizon_min, gap_min=360, train_fraction=0.95), "none",
               model=model)
    horizon = max(1, round(horizon_min * 60 / step))
    x = m.features(level, {"rain": rain}, {}, horizon, False, g.scale)
    fitted = m.fit(x, level, horizon, False, g.scale, weight=bt.train_weights(level, horizon, yellow))
    return PointModel(fitted, r.margin, step, yellow, red, r.rule if r.chosen != "arx" else None,
                      skill or r.model)


def forecast_peaks(models: dict[str, PointModel], codes: Sequence[str], rain: m.F64, level: m.F64) -> m.F64:
    """The forecast peak over each point's horizon at the last step (one value per point)."""
    out = np.full(len(codes), np.nan)
    for i, code in enumerate(codes):  # one small matrix product per point
        pm = models[code]
        scale = 600.0 / pm.step_s
        x = m.features(level[i], {"rain": rain[i]}, {}, pm.model.horizon, False, scale)
        out[i] = pm.model.peak(level[i][-1:], x[-1:])[0]
    return out


def warn_points(platform: Any, codes: Sequence[str], t: m.F64, rain: m.F64, level: m.F64,
                models: dict[str, PointModel], valid_for: timedelta | None = None) -> list[Draft]:
    """Drafts for the points whose forecast crosses their yellow threshold (less the margin).

    A draft expires at the end of the model's forecast window, or after `valid_for` when that
    is longer: a waterlogging warning kept in force through the recession, the hours the
    water stands after the rain (a met office lifts a rainstorm warning when it is over, not
    when its forecast window ends)."""
    peaks = forecast_peaks(models, codes, rain, level)
    now = datetime.fromtimestamp(float(t[-1]), UTC)
    points = {p.code: p for p in platform.city.waterlogging_points}
    drafts = []
    for i, code in enumerate(codes):
        pm = models[code]
        current = level[i][-1]
        why = _why(pm, rain[i], level[i])
        if pm.rule is not None:  # the rule decides; the forecast still sizes the headline
            fired = pm.rule.alert(rr.index(rain[i], pm.step_s), level[i], pm.yellow, pm.step_s)[-1] > 0
            if current >= pm.yellow or not fired:
                continue
            peaks[i] = max(pm.yellow, peaks[i]) if np.isfinite(peaks[i]) else pm.yellow
        elif not np.isfinite(peaks[i]) or current >= pm.yellow or peaks[i] < pm.yellow - pm.margin:
            continue
        lvl = "red" if peaks[i] >= pm.red else "orange" if peaks[i] >= (pm.yellow + pm.red) / 2 else "yellow"
        p = points.get(code)
        district = p.district if p else platform.city.districts[0].code
        name = p.name if p else code
        drafts.append(Draft(
            level=lvl, districts=(district,), point=code,
            headline_zh=f"{name} 预计积水 {peaks[i]:.0f} 厘米",
            headline_en=f"{code}: water expected to reach {peaks[i]:.0f} cm",
            description_zh=f"模型预报未来 {pm.model.horizon * pm.step_s // 60} 分钟内积水深度将达 {peaks[i]:.0f} 厘米"
                           f"（黄色阈值 {pm.yellow:g}，红色阈值 {pm.red:g} 厘米），当前 {current:.0f} 厘米。"
                           + why.sentence_zh(),
            description_en=f"Forecast depth {peaks[i]:.0f} cm within {pm.model.horizon * pm.step_s // 60} min "
                           f"(yellow {pm.yellow:g} cm, red {pm.red:g} cm); now {current:.0f} cm. " + why.sentence_en(),
            onset=now, expires=now + max(timedelta(seconds=pm.model.horizon * pm.step_s), valid_for or timedelta()),
            params=(("forecast_peak_cm", f"{peaks[i]:.1f}"), ("current_cm", f"{current:.1f}"), *why.params()),
        ))
    return drafts


def _why(pm: PointModel, rain: m.F64, level: m.F64) -> Why:
    """Which model fired, on what rain, how soon the water is expected, and the point's skill."""
    recent = recent_rain(rain, pm.step_s)
    if pm.rule is not None:
        return Why(pm.rule.kind, pm.rule.describe(), recent, pm.rule.delay_min, pm.skill)
    x = m.features(level, {"rain": rain}, {}, pm.model.horizon, False, 600.0 / pm.step_s)
    ahead = level[-1] + pm.model.predict_delta(x[-1:])[0]
    minutes = minutes_to_cross(ahead, pm.yellow, [h * pm.step_s / 60 for h in m.horizon_steps(pm.model.horizon)])
    return Why("arx", f"ARX forecast of the level (margin {pm.margin:.3g})", recent, minutes, pm.skill)


def draft_op(repo: Any, platform: Any, draft: Draft, now: datetime) -> int:
    """Module-level write op (for platform.awrite): the system drafts a warning for approval."""
    return draft_warning(repo, platform, draft, SYSTEM_ACTOR, now)
