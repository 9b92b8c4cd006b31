"""Where a report is: place names in its text, resolved against the city pack.

The gazetteer is the city pack itself (district names and their short forms, English names,
waterlogging points, patrol grids), so a city that supplies its own pack is read the same way.
Road names and intersections are pulled out by pattern (…路/街/大道/巷, "A路与B路交叉口").
A report's own coordinates are kept; when its text names another district the answer says so
(`conflict`), for the acceptor to check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cityops.geo.models import CityPack

_SUFFIXES = ("新区", "区", "县", "市")
_ROAD = re.compile(r"([\u4e00-\u9fff]{1,8}?(?:大道|大街|路|街|巷|桥|隧道))(?![灯牙沿])")
_BREAK = re.compile(r"[与在的从到往于、，。,;；：:！!？?\s]")
_CROSS = re.compile(r"([\u4e00-\u9fff]{1,8}?(?:大道|路|街))(?:与|和|、|/)([\u4e00-\u9fff]{1,8}?(?:大道|路|街))(?:交叉口|交汇处|路口|口)?")
_NOT_ROAD = ("马路", "道路", "公路", "铁路", "一路", "路上", "路边", "街道", "走道", "通道", "车道", "人行道",
             "盲道", "渠道", "频道", "知道", "报道", "大街上")


@dataclass(frozen=True)
class Place:
    kind: str  # district | waterlogging_point | patrol_grid
    code: str
    name: str
    district: str
    lon: float | None = None
    lat: float | None = None


class Gazetteer:
    """Names of the city pack, longest first, so "东西湖区" wins over "西湖"."""

    def __init__(self, city: CityPack) -> None:
        self.city = city
        names: dict[str, Place] = {}
        for p in city.patrol_grids:
            names.setdefault(p.name, Place("patrol_grid", p.code, p.name, p.district))
        for w in city.waterlogging_points:
            names.setdefault(w.name, Place("waterlogging_point", w.code, w.name, w.district, w.lon, w.lat))
        for d in city.districts:
            place = Place("district", d.code, d.name, d.code)
            names[d.name] = place
            if d.name_en:
                names[d.name_en.lower()] = place
            for suffix in _SUFFIXES:
                short = d.name.removesuffix(suffix)
                if short != d.name and len(short) >= 2:
                    names.setdefault(short, place)
                    break
        self.names = dict(sorted(names.items(), key=lambda kv: -len(kv[0])))
        self._pattern = re.compile("|".join(re.escape(n) for n in self.names)) if names else None

    def find(self, text: str) -> list[Place]:
        if self._pattern is None:
            return []
        found = [self.names[m.group(0)] for m in self._pattern.finditer(text.lower() if text.isascii() else text)]
        return list(dict.fromkeys(found))


@lru_cache(maxsize=8)
def gazetteer(city: CityPack) -> Gazetteer:
    return Gazetteer(city)


def roads(text: str, places: Gazetteer | None = None) -> tuple[list[str], list[list[str]]]:
    """Named roads, and intersections as pairs of road names."""
    if places is not None and places._pattern is not None:
        text = places._pattern.sub("|", text)  # "江岸区中山大道" is 中山大道 in 江岸区
    crossings = [[a, b] for a, b in _CROSS.findall(text)]
    names = [r for part in _BREAK.split(text) for r in _ROAD.findall(part) if r not in _NOT_ROAD and not r.endswith(_NOT_ROAD)]
    return list(dict.fromkeys(names)), crossings


def locate(city: CityPack, text: str, lon: float | None = None, lat: float | None = None) -> dict[str, Any]:
    """The report's place: district (name and adcode), point, roads, confidence and evidence."""
    places = gazetteer(city)
    found = places.find(text)
    road_names, crossings = roads(text, places)
    named = next((p for p in found if p.kind != "district"), None)
    district_code = named.district if named else next((p.code for p in found if p.kind == "district"), None)
    out: dict[str, Any] = {
        "district": None, "lon": None, "lat": None, "source": None, "confidence": 0.0,
        "roads": road_names, "intersections": crossings, "places": [p.name for p in found],
        "conflict": False,
    }
    if lon is not None and lat is not None:
        point = city.locate_one(lon, lat)
        out.update(lon=lon, lat=lat, source="coordinates", confidence=1.0 if point else 0.0)
        if point is not None:
            out["district"] = {"code": point.district_code, "name": point.district_name}
            if district_code and district_code != point.district_code:
                out["conflict"] = True
                out["text_district"] = _district(city, district_code)
        return out
    if named is not None and named.lon is not None:
        out.update(lon=named.lon, lat=named.lat, source="text", confidence=0.8)
    elif district_code is not None:
        c = city.geometries[district_code].representative_point()
        out.update(lon=round(float(c.x), 6), lat=round(float(c.y), 6), source="text", confidence=0.4)
    if district_code is not None:
        out["district"] = _district(city, district_code)
    return out


def _district(city: CityPack, code: str) -> dict[str, str] | None:
    d = city.district(code)
    return None if d is None else {"code": d.code, "name": d.name}
