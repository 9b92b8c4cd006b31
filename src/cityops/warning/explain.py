"""The figures a duty officer needs beside a warning (pure: values in, text and parameters out).

Which model or rule fired, the rain that drove it (the last 15, 30, 60 minutes and, with a
nowcast, the next hour), the expected time to the threshold, and the point's back-test skill
(hits, misses, false alarms, median lead). They go into the warning's CAP parameters and a
sentence of its description, zh-CN first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cityops.warning.model import F64, trailing_sum
from cityops.warning.score import Skill

MODEL_ZH = {"arx": "水位预报模型", "fitted": "本点雨强阈值", "pooled": "同类点位联合雨强阈值",
            "response": "本点雨量—涨水关系", "city": "全市默认雨强阈值"}


@dataclass(frozen=True)
class Why:
    model: str  # arx, fitted, pooled, response, city
    rule: str  # the rule or model in words (English)
    rain_mm: tuple[float, float, float]  # the last 15, 30, 60 minutes
    minutes_to_threshold: float | None
    skill: Skill | None = None
    nowcast_mm: float | None = None  # the next hour's forecast rain

    def params(self) -> tuple[tuple[str, str], ...]:
        out = [("model", self.model), ("rule", self.rule),
               ("rain_15min_mm", f"{self.rain_mm[0]:.1f}"), ("rain_30min_mm", f"{self.rain_mm[1]:.1f}"),
               ("rain_60min_mm", f"{self.rain_mm[2]:.1f}")]
        if self.nowcast_mm is not None:
            out.append(("nowcast_next_60min_mm", f"{self.nowcast_mm:.1f}"))
        if self.minutes_to_threshold is not None:
            out.append(("minutes_to_threshold", f"{self.minutes_to_threshold:.0f}"))
        if self.skill is not None:
            s = self.skill
            out += [("skill_hits", str(s.warned)), ("skill_misses", str(s.events - s.warned)),
                    ("skill_false_alarms", str(s.false_alarms)),
                    ("skill_median_lead_min", f"{s.median_lead_min:.0f}")]
        return tuple(out)

    def sentence_zh(self) -> str:
        r = self.rain_mm
        text = (f"触发：{MODEL_ZH.get(self.model, self.model)}；近 15/30/60 分钟雨量 "
                f"{r[0]:.1f}/{r[1]:.1f}/{r[2]:.1f} 毫米")
        if self.nowcast_mm is not None:
            text += f"，未来 1 小时预报 {self.nowcast_mm:.1f} 毫米"
        if self.minutes_to_threshold is not None:
            text += f"；预计约 {self.minutes_to_threshold:.0f} 分钟后超过阈值"
        if self.skill is not None:
            s = self.skill
            text += (f"；本点回测：命中 {s.warned}、漏报 {s.events - s.warned}、空报 {s.false_alarms}，"
                     f"提前量中位数 {s.median_lead_min:.0f} 分钟")
        return text + "。"

    def sentence_en(self) -> str:
        r = self.rain_mm
        text = f"Fired: {self.rule}; rain in the last 15/30/60 min {r[0]:.1f}/{r[1]:.1f}/{r[2]:.1f} mm"
        if self.nowcast_mm is not None:
            text += f", next hour forecast {self.nowcast_mm:.1f} mm"
        if self.minutes_to_threshold is not None:
            text += f"; threshold expected in about {self.minutes_to_threshold:.0f} min"
        if self.skill is not None:
            s = self.skill
            text += (f"; this point's back-test: {s.warned} hits, {s.events - s.warned} misses, "
                     f"{s.false_alarms} false alarms, median lead {s.median_lead_min:.0f} min")
        return text + "."


def recent_rain(rain: F64, step: int) -> tuple[float, float, float]:
    """The rain of the last 15, 30 and 60 minutes at the last step (mm)."""
    sums = [trailing_sum(np.nan_to_num(rain), max(1, round(d * 60 / step)))[-1] for d in (15, 30, 60)]
    return (float(sums[0]), float(sums[1]), float(sums[2]))


def minutes_to_cross(forecast: F64, threshold: float, minutes: Sequence[float]) -> float | None:
    """The lead (minutes, one per forecast column) of the first forecast at or over the threshold."""
    over = np.flatnonzero(forecast >= threshold)
    return float(minutes[int(over[0])]) if len(over) else None
