"""Mixed streams with known truth for merge evaluation and benchmarks: citizens' reports,
inspectors' findings and sensor events about the same incidents, plus unrelated ones nearby.
Vectorised generation; the texts are short authored phrases with per-report variation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

PHRASES = {
    "06010": ("垃圾堆在路边没人清理", "路边暴露垃圾很臭", "exposed rubbish on the pavement"),
    "01004": ("路面积水很深车过不去", "下雨后这里积水严重", "雨水箅子堵了积水"),
    "09009": ("机动车乱停放堵住路口", "乱停车占了人行道", "cars parked on the pavement"),
    "08001": ("夜间施工噪音太大", "工地半夜还在施工扰民", "construction noise at night"),
    "06013": ("路面破损有个大坑", "道路塌陷很危险", "pothole in the road"),
    "01037": ("路灯不亮了", "这一排路灯坏了晚上很黑", "street light broken"),
}
SENSOR_CODE = {"01004": "01004"}  # waterlogging gauges report this matter, with no text
OPENERS = ("", "市民反映：", "你好，", "巡查发现", "投诉：")
PLACES = ("中山大道", "小区门口", "学校旁", "公交站", "解放大道", "菜场边")


@dataclass(frozen=True)
class Stream:
    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    t: npt.NDArray[np.float64]
    codes: list[str]
    texts: list[str]
    truth: npt.NDArray[np.int64]  # incident id per item


def mixed(n: int, seed: int = 0, centre: tuple[float, float] = (114.30, 30.59), span_deg: float = 0.25,
          days: float = 1.0, sensor_share: float = 0.1) -> Stream:
    """About n items: incidents with 1–6 reports each within 60 m and 2 h of the incident."""
    rng = np.random.default_rng(seed)
    codes_all = np.array(list(PHRASES))
    m = max(1, n)
    sizes = np.minimum(rng.geometric(0.4, m), 6)
    sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), n)) + 1]
    m = len(sizes)
    inc_lon = centre[0] + rng.uniform(-span_deg, span_deg, m)
    inc_lat = centre[1] + rng.uniform(-span_deg, span_deg, m)
    inc_t = rng.uniform(0, days * 86400, m)
    inc_code = rng.integers(0, len(codes_all), m)
    truth = np.repeat(np.arange(m), sizes)[:n]
    k = len(truth)
    r = rng.uniform(0, 60, k)
    a = rng.uniform(0, 2 * np.pi, k)
    lon = inc_lon[truth] + r * np.cos(a) / (111_320 * np.cos(np.deg2rad(centre[1])))
    lat = inc_lat[truth] + r * np.sin(a) / 111_320
    t = inc_t[truth] + rng.uniform(0, 7200, k)
    code_idx = inc_code[truth]
    codes = codes_all[code_idx].tolist()
    phrase = rng.integers(0, 3, k)
    opener = rng.integers(0, len(OPENERS), k)
    place = rng.integers(0, len(PLACES), k)
    sensor = (codes_all[code_idx] == "01004") & (rng.random(k) < sensor_share * 6)
    texts = [
        "" if s else f"{OPENERS[o]}{PLACES[p]}{PHRASES[c][ph]}"
        for s, o, p, c, ph in zip(sensor.tolist(), opener.tolist(), place.tolist(), codes, phrase.tolist(), strict=True)
    ]
    return Stream(lon, lat, t, codes, texts, truth.astype(np.int64))
