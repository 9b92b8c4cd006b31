"""Read and write a city pack folder.

Layout (all names but city.yaml are set in city.yaml):

    city.yaml                    code, names, timezone, departments, calendar, grid settings
    districts.geojson            district polygons, WGS-84; properties adcode, name, name_en
    grids.csv                    optional: code,district,area_class,row,col,patrol per unit grid
    patrol_grids.csv             with grids.csv: code,name,name_en,district
    waterlogging_points.geojson  optional: Point features; code, name, district, simulated

Without a grids file the loader generates grids (simulated streets/communities) from the
`grid:` settings. Every problem raises CityPackError naming the file.
"""

from __future__ import annotations

import json
import re
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import shapely
import shapely.geometry
import yaml

from cityops.geo.build import build_grids
from cityops.geo.errors import CityPackError
from cityops.geo.gridgen import settings_from_dict
from cityops.geo.lattice import Lattice
from cityops.geo.models import (
    CityPack,
    Department,
    District,
    GridTable,
    PatrolGrid,
    WaterloggingPoint,
)

FORMAT = "cityops-city-pack/1"
_ADCODE = re.compile(r"^\d{6}$")
_LATTICE_KEYS = ("origin_lon", "origin_lat", "ref_lat", "rows", "cols")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))  # DataV files carry a BOM
    except FileNotFoundError as exc:
        raise CityPackError(str(path), "file not found") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CityPackError(str(path), f"not valid JSON: {exc}") from exc


def _features(path: Path) -> list[dict[str, Any]]:
    doc = _read_json(path)
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise CityPackError(str(path), "expected a GeoJSON FeatureCollection")
    features = doc.get("features")
    if not isinstance(features, list):
        raise CityPackError(str(path), "FeatureCollection has no features list")
    return features


def read_districts_geojson(
    path: Path, names: Mapping[str, tuple[str, str]] | None = None
) -> tuple[list[District], dict[str, shapely.Geometry]]:
    """Districts and their polygons; names maps adcode → (zh, en) where properties lack them."""
    names = names or {}
    districts: list[District] = []
    geoms: dict[str, shapely.Geometry] = {}
    for n, feature in enumerate(_features(path)):
        props = feature.get("properties") or {}
        code = str(props.get("adcode", props.get("code", "")))
        if not _ADCODE.match(code):
            raise CityPackError(str(path), f"feature {n}: adcode {code!r} is not 6 digits")
        if code in geoms:
            raise CityPackError(str(path), f"feature {n}: district {code} appears twice")
        try:
            geom = shapely.geometry.shape(feature["geometry"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CityPackError(str(path), f"feature {n} ({code}): bad geometry: {exc}") from exc
        if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty:
            raise CityPackError(str(path), f"feature {n} ({code}): expected a (Multi)Polygon")
        zh, en = names.get(code, ("", ""))
        name = str(props.get("name") or zh or code)
        districts.append(District(code, name, str(props.get("name_en") or en or name)))
        geoms[code] = geom if geom.is_valid else shapely.make_valid(geom)
    if not districts:
        raise CityPackError(str(path), "no districts")
    return districts, geoms


def _waterlogging(path: Path, known: set[str]) -> list[WaterloggingPoint]:
    out: list[WaterloggingPoint] = []
    for n, feature in enumerate(_features(path)):
        props = feature.get("properties") or {}
        geom = feature.get("geometry") or {}
        coords = geom.get("coordinates") if geom.get("type") == "Point" else None
        if not isinstance(coords, list) or len(coords) < 2:
            raise CityPackError(str(path), f"feature {n}: expected a Point")
        district = str(props.get("district", ""))
        if district not in known:
            raise CityPackError(str(path), f"feature {n}: unknown district {district!r}")
        out.append(
            WaterloggingPoint(
                str(props.get("code", f"WL-{n + 1:03d}")),
                str(props.get("name", "")),
                float(coords[0]),
                float(coords[1]),
                district,
                bool(props.get("simulated", False)),
                _cm(props.get("yellow_cm"), path, n),
                _cm(props.get("red_cm"), path, n),
            )
        )
    return out


def _cm(value: Any, path: Path, n: int) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise CityPackError(str(path), f"feature {n}: yellow_cm / red_cm must be non-negative numbers")
    return float(value)


def _departments(raw: Any, file: str, known: set[str]) -> list[Department]:
    if not isinstance(raw, list):
        raise CityPackError(file, "departments must be a list")
    out: list[Department] = []
    for n, item in enumerate(raw):
        if not isinstance(item, dict) or "code" not in item or "name" not in item:
            raise CityPackError(file, f"departments[{n}] needs at least code and name")
        district = item.get("district")
        if district is not None and str(district) not in known:
            raise CityPackError(
                file, f"departments[{n}] ({item['code']}): unknown district {district}"
            )
        try:
            out.append(
                Department(
                    str(item["code"]),
                    str(item["name"]),
                    str(item.get("name_en", item["name"])),
                    tuple(str(s) for s in item.get("serves", ())),
                    None if district is None else str(district),
                )
            )
        except ValueError as exc:
            raise CityPackError(file, f"departments[{n}]: {exc}") from exc
    return out


def _read_csv(path: Path, columns: dict[str, type[pl.DataType]]) -> pl.DataFrame:
    try:
        frame = pl.read_csv(path, schema_overrides=columns, empty_string_is_null=False)
    except FileNotFoundError as exc:
        raise CityPackError(str(path), "file not found") from exc
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise CityPackError(str(path), f"unreadable CSV: {exc}") from exc
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise CityPackError(str(path), f"missing columns {missing}")
    if frame.select(pl.any_horizontal(pl.all().is_null()).any()).item():
        raise CityPackError(str(path), "empty cells")
    return frame


def _grid_file(
    folder: Path, grid: Mapping[str, Any], file: str, known: set[str]
) -> tuple[GridTable, list[PatrolGrid]]:
    try:
        lattice = Lattice(
            float(grid["origin_lon"]),
            float(grid["origin_lat"]),
            float(grid["ref_lat"]),
            float(grid.get("cell_m", 100.0)),
            int(grid["rows"]),
            int(grid["cols"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CityPackError(file, f"grid: with a grids file, give {_LATTICE_KEYS} ({exc})") from exc
    patrol_path = folder / str(grid.get("patrol_file", "patrol_grids.csv"))
    pf = _read_csv(
        patrol_path, {"code": pl.Utf8, "name": pl.Utf8, "name_en": pl.Utf8, "district": pl.Utf8}
    )
    patrols = [
        PatrolGrid(*row) for row in pf.select("code", "name", "name_en", "district").iter_rows()
    ]
    if bad := [p.code for p in patrols if p.district not in known]:
        raise CityPackError(str(patrol_path), f"patrol grids in unknown districts: {bad[:5]}")
    path = folder / str(grid["file"])
    cols = {
        "code": pl.Utf8,
        "district": pl.Utf8,
        "area_class": pl.Utf8,
        "row": pl.Int64,
        "col": pl.Int64,
        "patrol": pl.Utf8,
    }
    frame = _read_csv(path, cols).sort("code")
    code = frame["code"].to_numpy().astype("U15")
    district = frame["district"].to_numpy().astype("U6")
    row, col = frame["row"].to_numpy(), frame["col"].to_numpy()
    patrol_codes = {p.code: i for i, p in enumerate(patrols)} | {"": -1}
    checks = {
        "codes must be 15 digits": ~np.char.isdigit(code) | (np.char.str_len(code) != 15),
        "code must start with its district adcode": np.char.ljust(code, 6).astype("U6") != district,
        "unknown district": ~np.isin(district, np.array(sorted(known))),
        "area_class must be A, B or C": ~np.isin(frame["area_class"].to_numpy(), ["A", "B", "C"]),
        "row/col outside the lattice": (row < 0)
        | (row >= lattice.rows)
        | (col < 0)
        | (col >= lattice.cols),
        "unknown patrol grid": ~frame["patrol"].is_in(list(patrol_codes)).to_numpy(),
    }
    for problem, bad_rows in checks.items():
        if bad_rows.any():
            first = int(np.flatnonzero(bad_rows)[0])
            raise CityPackError(str(path), f"{problem} (code {code[first]!r})")
    if len(np.unique(code)) != len(code) or len(np.unique(row * lattice.cols + col)) != len(code):
        raise CityPackError(str(path), "duplicate grid codes or cells")
    patrol_index = frame["patrol"].replace_strict(patrol_codes, return_dtype=pl.Int64).to_numpy()
    table = GridTable(
        lattice,
        code,
        district,
        frame["area_class"].to_numpy().astype("U1"),
        row,
        col,
        patrol_index,
        simulated=bool(grid.get("simulated", False)),
    )
    return table, patrols


def load_city_pack(path: Path) -> CityPack:
    """Read a city pack folder (see the module docstring)."""
    path = Path(path)
    yaml_path = path / "city.yaml" if path.is_dir() or not path.suffix else path
    folder, file = yaml_path.parent, str(yaml_path)
    try:
        meta = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CityPackError(file, "file not found") from exc
    except yaml.YAMLError as exc:
        raise CityPackError(file, f"not valid YAML: {exc}") from exc
    if not isinstance(meta, dict):
        raise CityPackError(file, "expected a mapping at the top level")
    for key in ("code", "name", "districts_file"):
        if key not in meta:
            raise CityPackError(file, f"missing key {key!r}")
    code = str(meta["code"])
    if not _ADCODE.match(code):
        raise CityPackError(file, f"code {code!r} is not a 6-digit adcode")
    timezone = str(meta.get("timezone", "Asia/Shanghai"))
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise CityPackError(file, f"unknown timezone {timezone!r}") from exc
    calendar = meta.get("calendar") or {}
    if not isinstance(calendar, dict):
        raise CityPackError(file, "calendar must be a mapping")
    districts, geoms = read_districts_geojson(folder / str(meta["districts_file"]))
    known = {d.code for d in districts}
    grid = meta.get("grid") or {}
    if not isinstance(grid, dict):
        raise CityPackError(file, "grid must be a mapping")
    if "file" in grid:
        table, patrols = _grid_file(folder, grid, file, known)
    else:
        gridded = [str(c) for c in grid.get("gridded_districts", sorted(known))]
        if bad := [c for c in gridded if c not in known]:
            raise CityPackError(file, f"grid.gridded_districts names unknown districts {bad}")
        try:
            table, patrols = build_grids(districts, geoms, gridded, settings_from_dict(grid))
        except (TypeError, ValueError) as exc:
            raise CityPackError(file, f"grid settings: {exc}") from exc
    wl_name = meta.get("waterlogging_file")
    points = _waterlogging(folder / str(wl_name), known) if wl_name else []
    try:
        return CityPack(
            code=code,
            name=str(meta["name"]),
            name_en=str(meta.get("name_en", meta["name"])),
            timezone=timezone,
            districts=districts,
            geometries=geoms,
            departments=_departments(meta.get("departments", []), file, known),
            calendar=calendar,
            grids=table,
            patrol_grids=patrols,
            waterlogging_points=points,
            grid_settings={
                k: v for k, v in grid.items() if k not in ("file", "patrol_file", *_LATTICE_KEYS)
            },
        )
    except ValueError as exc:
        raise CityPackError(file, str(exc)) from exc


def save_city_pack(pack: CityPack, path: Path) -> Path:
    """Write pack as a folder that load_city_pack reads back unchanged; returns city.yaml."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    features = [
        {
            "type": "Feature",
            "properties": {"adcode": d.code, "name": d.name, "name_en": d.name_en},
            "geometry": shapely.geometry.mapping(pack.geometries[d.code]),
        }
        for d in pack.districts
    ]
    _write_json(path / "districts.geojson", {"type": "FeatureCollection", "features": features})
    points = [
        {
            "type": "Feature",
            "properties": {
                "code": p.code,
                "name": p.name,
                "district": p.district,
                "simulated": p.simulated,
                **{k: v for k, v in (("yellow_cm", p.yellow_cm), ("red_cm", p.red_cm)) if v is not None},
            },
            "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]},
        }
        for p in pack.waterlogging_points
    ]
    _write_json(
        path / "waterlogging_points.geojson", {"type": "FeatureCollection", "features": points}
    )
    g = pack.grids
    patrol_codes = np.array([p.code for p in pack.patrol_grids] + [""], dtype=object)
    pl.DataFrame(
        {
            "code": g.code.tolist(),
            "district": g.district.tolist(),
            "area_class": g.area_class.tolist(),
            "row": g.row,
            "col": g.col,
            "patrol": patrol_codes[g.patrol].tolist(),
        }
    ).write_csv(path / "grids.csv")
    pl.DataFrame(
        [(p.code, p.name, p.name_en, p.district) for p in pack.patrol_grids],
        schema=["code", "name", "name_en", "district"],
        orient="row",
    ).write_csv(path / "patrol_grids.csv")
    lat = g.lattice
    grid: dict[str, Any] = {
        **pack.grid_settings,
        "file": "grids.csv",
        "patrol_file": "patrol_grids.csv",
        "simulated": g.simulated,
        "cell_m": lat.cell_m,
        "origin_lon": lat.origin_lon,
        "origin_lat": lat.origin_lat,
        "ref_lat": lat.ref_lat,
        "rows": lat.rows,
        "cols": lat.cols,
    }
    meta = {
        "format": FORMAT,
        "code": pack.code,
        "name": pack.name,
        "name_en": pack.name_en,
        "timezone": pack.timezone,
        "note": (
            "Streets/communities inside grid codes, patrol grids and points marked simulated "
            "are invented (模拟数据), not official records."
            if g.simulated
            else ""
        ),
        "districts_file": "districts.geojson",
        "waterlogging_file": "waterlogging_points.geojson",
        "grid": grid,
        "departments": [
            {
                "code": d.code,
                "name": d.name,
                "name_en": d.name_en,
                "serves": list(d.serves),
                "district": d.district,
            }
            for d in pack.departments
        ],
        "calendar": pack.calendar,
    }
    yaml_path = path / "city.yaml"
    yaml_path.write_text(
        yaml.safe_dump(meta, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return yaml_path


def _write_json(path: Path, doc: Any) -> None:
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
