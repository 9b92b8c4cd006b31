"""Sensors of the city pack: a gauge at every waterlogging point, traffic detectors on roads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cityops.detect.waterlogging import RED_CM, YELLOW_CM
from cityops.sensing.store import DatastreamSpec, datastreams_of_kind, register

if TYPE_CHECKING:
    from cityops.core import Platform

GAUGE_SENSOR = ("超声波积水监测仪 / ultrasonic water-depth gauge", "Ultrasonic road water-depth gauge, 5-minute readings")
DEPTH = ("积水深度 / water depth", "http://vocab.nerc.ac.uk/collection/P07/current/CFSN0721/")
CM = {"name": "centimetre", "symbol": "cm", "definition": "http://www.qudt.org/qudt/owl/1.0.0/unit/Instances.html#Centimeter"}
DETECTOR_SENSOR = ("线圈车辆检测器 / loop vehicle detector", "Inductive loop detector, 5-minute mean speed")
SPEED = ("车速 / mean speed", "http://dbpedia.org/page/Speed")
KMH = {"name": "kilometre per hour", "symbol": "km/h", "definition": "http://qudt.org/vocab/unit/KiloM-PER-HR"}
RAIN_SENSOR = ("翻斗式雨量计 / tipping-bucket rain gauge", "Rain per 5-minute interval")
RAIN = ("降雨量 / rainfall", "http://vocab.nerc.ac.uk/collection/P07/current/CFSN0675/")
MM = {"name": "millimetre", "symbol": "mm", "definition": "http://qudt.org/vocab/unit/MilliM"}


def gauge_specs(platform: Platform) -> list[DatastreamSpec]:
    """One water-depth gauge per waterlogging point; thresholds from the point when the city
    pack gives them (attributes yellow_cm / red_cm), else Wuhan's 20 / 27 cm."""
    out = []
    for p in platform.city.waterlogging_points:
        where = platform.city.locate_one(p.lon, p.lat)
        out.append(DatastreamSpec(
            name=f"积水监测 {p.code} / water depth at {p.code}", description=p.name, kind="water_depth",
            lon=p.lon, lat=p.lat, sensor=GAUGE_SENSOR, observed_property=DEPTH, unit=CM, point=p.code,
            grid=where.grid_code if where else None, district=p.district,
            yellow=YELLOW_CM if p.yellow_cm is None else p.yellow_cm, red=RED_CM if p.red_cm is None else p.red_cm,
            properties={"point": p.code, "simulated": p.simulated},
        ))
    return out


def register_gauges_op(repo: Any, platform: Platform) -> list[int]:
    """Write op: register the gauges not registered yet; returns every gauge datastream id."""
    have = {point: ds for ds, point in datastreams_of_kind(repo.conn, "water_depth")}
    for spec in gauge_specs(platform):
        if spec.point not in have:
            have[str(spec.point)] = register(repo.conn, spec)
    return sorted(have.values())


def register_point_gauges(platform: Platform) -> list[int]:
    """Register a gauge at each of the city pack's waterlogging points (idempotent)."""
    return platform.store.write(lambda repo: register_gauges_op(repo, platform))


def register_specs_op(repo: Any, platform: Platform, specs: list[DatastreamSpec]) -> list[int]:
    """Write op: register these datastreams, skipping names already registered."""
    have = {str(r[1]): int(r[0]) for r in repo.conn.execute("SELECT id, name FROM sta_datastream")}
    return [have[s.name] if s.name in have else register(repo.conn, s) for s in specs]


def detector_spec(name: str, segment: str, lon: float, lat: float, district: str | None,
                  properties: dict[str, Any] | None = None) -> DatastreamSpec:
    return DatastreamSpec(name=name, description=f"车速检测 {segment} / speed on {segment}", kind="speed",
                          lon=lon, lat=lat, sensor=DETECTOR_SENSOR, observed_property=SPEED, unit=KMH,
                          point=segment, district=district, properties=properties)


def rain_spec(name: str, lon: float, lat: float, district: str | None) -> DatastreamSpec:
    return DatastreamSpec(name=name, description=f"雨量站 {name} / rain gauge {name}", kind="rain",
                          lon=lon, lat=lat, sensor=RAIN_SENSOR, observed_property=RAIN, unit=MM,
                          point=name, district=district)
