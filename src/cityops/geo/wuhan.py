"""The Wuhan demo city pack (武汉市, adcode 420100).

District polygons come from the PyPI package geotool-cn (DataV.GeoAtlas boundaries, shipped
converted to WGS-84; the data is "仅供学习交流使用", learning and exchange only) or from a
WGS-84 GeoJSON file the user names. Everything else here is the demo's own invention and is
marked so: unit grids with SIMULATED streets/communities over the seven central districts,
186 patrol grids, 448 waterlogging points at SIMULATED positions. The department names are
Wuhan's real bodies; their codes are ours.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import shapely

from cityops.cases.calendar import (
    CHINA_2025_2026_HOLIDAYS,
    CHINA_2025_2026_MAKEUP_WORKDAYS,
    CHINA_2025_2026_SOURCES,
)
from cityops.geo.build import build_grids
from cityops.geo.errors import CityPackError
from cityops.geo.gridgen import GridSettings, settings_dict
from cityops.geo.io import read_districts_geojson
from cityops.geo.models import CityPack, Department, District, GridTable, WaterloggingPoint

CITY_CODE = "420100"
# adcode → (zh, en). 13 administrative districts (GB/T 2260); functional areas such as
# 东湖高新区 are not districts in law and are left to a user-supplied file.
DISTRICT_NAMES: dict[str, tuple[str, str]] = {
    "420102": ("江岸区", "Jiang'an"),
    "420103": ("江汉区", "Jianghan"),
    "420104": ("硚口区", "Qiaokou"),
    "420105": ("汉阳区", "Hanyang"),
    "420106": ("武昌区", "Wuchang"),
    "420107": ("青山区", "Qingshan"),
    "420111": ("洪山区", "Hongshan"),
    "420112": ("东西湖区", "Dongxihu"),
    "420113": ("汉南区", "Hannan"),
    "420114": ("蔡甸区", "Caidian"),
    "420115": ("江夏区", "Jiangxia"),
    "420116": ("黄陂区", "Huangpi"),
    "420117": ("新洲区", "Xinzhou"),
}
CENTRAL_DISTRICTS = ("420102", "420103", "420104", "420105", "420106", "420107", "420111")
# Area class centre: the Hankou riverfront by 江汉关, where the three towns meet.
GRID_SETTINGS = GridSettings(area_centre=(114.29, 30.58), a_radius_m=6000.0, b_radius_m=12000.0)
WATERLOGGING_POINTS = 448
_SEED = 20251115  # the Changjiang Daily report date; any fixed value keeps builds identical

# (code, zh, en, serves): city-wide owners (权属单位), one or more department types each.
_OWNERS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("WH-WATER", "武汉市水务局", "Wuhan Water Affairs Bureau", ("water_affairs", "drainage")),
    (
        "WH-CG",
        "武汉市城市管理执法委员会",
        "Wuhan Urban Management and Law Enforcement Commission",
        ("sanitation",),
    ),
    ("WH-GREEN", "武汉市园林和林业局", "Wuhan Landscape and Forestry Bureau", ("greening",)),
    (
        "WH-TRAFFIC",
        "武汉市公安局交通管理局",
        "Wuhan Public Security Traffic Management Bureau",
        ("traffic_police",),
    ),
    ("WH-WSUPPLY", "武汉市水务集团有限公司", "Wuhan Water Group", ("water_supply",)),
    ("WH-POWER", "国网武汉供电公司", "State Grid Wuhan Power Supply Company", ("power",)),
    ("WH-GAS", "武汉市燃气集团有限公司", "Wuhan Gas Group", ("gas",)),
    (
        "WH-TELECOM",
        "通信运营商（电信、移动、联通）",
        "Telecom operators (China Telecom, Mobile, Unicom)",
        ("telecom",),
    ),
    # Wuhan has no municipal heating network; the construction bureau takes the rare case.
    (
        "WH-CJ",
        "武汉市城乡建设局",
        "Wuhan Urban and Rural Construction Bureau",
        ("roads", "construction", "heating"),
    ),
    ("WH-LIGHT", "武汉市路灯管理处", "Wuhan Street Lighting Administration", ("lighting",)),
    ("WH-TRANSPORT", "武汉市交通运输局", "Wuhan Transport Bureau", ("transport",)),
    (
        "WH-HOUSING",
        "武汉市住房保障和房屋管理局",
        "Wuhan Housing Security and Administration Bureau",
        ("housing",),
    ),
    ("WH-MARKET", "武汉市市场监督管理局", "Wuhan Market Supervision Administration", ("market",)),
    ("WH-ECOLOGY", "武汉市生态环境局", "Wuhan Ecology and Environment Bureau", ("ecology",)),
    ("WH-OTHER", "武汉市城市运行管理中心", "Wuhan City Operations Centre", ("other",)),
)


def _calendar() -> dict[str, Any]:
    """Public holidays (放假) and make-up working days (调休上班), as ISO dates a city can edit."""
    return {
        "holidays": sorted(d.isoformat() for d in CHINA_2025_2026_HOLIDAYS),
        "makeup_workdays": sorted(d.isoformat() for d in CHINA_2025_2026_MAKEUP_WORKDAYS),
        "sources": list(CHINA_2025_2026_SOURCES),
    }


def departments() -> list[Department]:
    """City-wide owners plus one area department (城管执法局) per district."""
    owners = [Department(code, zh, en, serves) for code, zh, en, serves in _OWNERS]
    areas = [
        Department(
            f"{code}-CG",
            f"{zh}城市管理执法局",
            f"{en} District Urban Management and Law Enforcement Bureau",
            ("urban_management",),
            code,
        )
        for code, (zh, en) in DISTRICT_NAMES.items()
    ]
    return owners + areas


def geotool_districts() -> dict[str, shapely.Geometry]:
    """Wuhan's 13 district polygons (WGS-84) from geotool-cn's bundled data file."""
    try:
        from GeoToolCN import GeoTool
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise CityPackError(
            "geotool-cn", "package not installed; pass a districts GeoJSON file"
        ) from exc
    # geotool-cn has no public polygon accessor; its reader (_gtc.GTCData) decodes one
    # region's rings as integer coordinates scaled by 10**precision.
    data = GeoTool()._data
    out: dict[str, shapely.Geometry] = {}
    for code in DISTRICT_NAMES:
        index = data.index_of(code, "district")
        decoded = data.geometry(index) if index is not None else None
        if decoded is None:
            raise CityPackError("geotool-cn", f"no boundary for district {code}")
        polygons = [
            shapely.Polygon(
                np.column_stack([np.asarray(rings[0][0]), np.asarray(rings[0][1])]) / data.scale,
                [
                    np.column_stack([np.asarray(xs), np.asarray(ys)]) / data.scale
                    for xs, ys in rings[1:]
                ],
            )
            for rings in decoded[1]
        ]
        out[code] = shapely.make_valid(shapely.MultiPolygon(polygons))
    return out


def _waterlogging_points(grids: GridTable) -> list[WaterloggingPoint]:
    """SIMULATED 易渍水点: random unit grids (fixed seed), a random spot inside each."""
    rng = np.random.default_rng(_SEED)
    pick = np.sort(rng.choice(len(grids), size=WATERLOGGING_POINTS, replace=False))
    # Keep clear of cell edges so rounding to 1e-6° never moves a point to another cell.
    fx, fy = rng.uniform(0.1, 0.9, size=(2, WATERLOGGING_POINTS))
    lat_ = grids.lattice
    lon = np.round(lat_.origin_lon + (grids.col[pick] + fx) * lat_.deg_lon, 6)
    lat = np.round(lat_.origin_lat - (grids.row[pick] + fy) * lat_.deg_lat, 6)
    return [
        WaterloggingPoint(
            f"{CITY_CODE}-WL-{n:03d}",
            f"模拟易渍水点 #{n:03d} / Simulated waterlogging point {n:03d}",
            float(x),
            float(y),
            str(d),
            simulated=True,
        )
        for n, (x, y, d) in enumerate(zip(lon, lat, grids.district[pick], strict=True), start=1)
    ]


def wuhan_demo_pack(districts_file: Path | None = None) -> CityPack:
    """Build the demo pack (deterministic: the same codes every run; well under 3 s).

    districts_file: a WGS-84 GeoJSON of Wuhan's districts (properties adcode, name) to use
    instead of geotool-cn's boundaries; it must hold the seven central districts.
    """
    if districts_file is None:
        geometries = geotool_districts()
        districts = [District(c, zh, en) for c, (zh, en) in DISTRICT_NAMES.items()]
    else:
        districts, geometries = read_districts_geojson(districts_file, DISTRICT_NAMES)
    known = {d.code for d in districts}
    missing = [c for c in CENTRAL_DISTRICTS if c not in known]
    if missing:
        raise CityPackError(str(districts_file), f"central districts missing: {missing}")
    grids, patrols = build_grids(districts, geometries, CENTRAL_DISTRICTS, GRID_SETTINGS)
    depts = [d for d in departments() if d.district is None or d.district in known]
    return CityPack(
        code=CITY_CODE,
        name="武汉市",
        name_en="Wuhan",
        timezone="Asia/Shanghai",
        districts=districts,
        geometries=geometries,
        departments=depts,
        calendar=_calendar(),
        grids=grids,
        patrol_grids=patrols,
        waterlogging_points=_waterlogging_points(grids),
        grid_settings={
            "gridded_districts": list(CENTRAL_DISTRICTS),
            **settings_dict(GRID_SETTINGS),
        },
    )
