"""`cityops city …`: export the demo pack, locate a point, show a pack's contents."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from cityops.geo.errors import CityPackError
from cityops.geo.io import load_city_pack, save_city_pack
from cityops.geo.models import CityPack
from cityops.geo.wuhan import wuhan_demo_pack

_PACK = click.option(
    "--pack",
    "pack_path",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="城市包目录 / city pack folder (default: the Wuhan demo)",
)


def _load(pack_path: Path | None) -> CityPack:
    from cityops.core import DEMO_CITY, load_city

    try:
        return load_city_pack(pack_path) if pack_path else load_city(DEMO_CITY)
    except CityPackError as exc:
        raise click.ClickException(f"城市包有误 / bad city pack: {exc}") from exc


@click.group("city")
def city() -> None:
    """城市包 / city pack: districts, unit grids, patrol grids, waterlogging points."""


@city.command("export")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--districts-file", type=click.Path(exists=True, path_type=Path), default=None,
              help="WGS-84 district GeoJSON to use instead of geotool-cn's boundaries")  # fmt: skip
def export(path: Path, districts_file: Path | None) -> None:
    """导出武汉示范城市包 / write the Wuhan demo pack to PATH (a folder)."""
    try:
        pack = wuhan_demo_pack(districts_file)
    except CityPackError as exc:
        raise click.ClickException(str(exc)) from exc
    yaml_path = save_city_pack(pack, path)
    click.echo(f"已导出 / exported: {yaml_path} ({len(pack.grids)} grids)")


@city.command("locate")
@click.argument("lon", type=float)
@click.argument("lat", type=float)
@_PACK
def locate(lon: float, lat: float, pack_path: Path | None) -> None:
    """定位 / which grid and district hold WGS-84 point LON LAT."""
    pack = _load(pack_path)
    found = pack.locate_one(lon, lat)
    if found is None:
        click.echo(f"不在{pack.name}范围内 / outside {pack.name_en}")
        raise SystemExit(1)
    district = pack.district(found.district_code)
    name_en = district.name_en if district else ""
    click.echo(f"区 / district: {found.district_code} {found.district_name} ({name_en})")
    if found.grid_code:
        click.echo(f"单元网格 / grid: {found.grid_code} (类别 / area class {found.area_class})")
        click.echo(f"巡查网格 / patrol grid: {found.patrol_code}")
    else:
        click.echo("单元网格 / grid: 无 / none (outside grid coverage)")
    area = pack.area_department(found.district_code)
    if area:
        click.echo(f"属地部门 / area department: {area.code} {area.name} ({area.name_en})")


@city.command("info")
@_PACK
def info(pack_path: Path | None) -> None:
    """城市包概况 / counts of what a city pack holds."""
    pack = _load(pack_path)
    grids_per_district = Counter(pack.grids.district.tolist())
    click.echo(f"{pack.code} {pack.name} / {pack.name_en} ({pack.timezone})")
    click.echo(f"区 / districts: {len(pack.districts)}")
    for d in pack.districts:
        click.echo(f"  {d.code} {d.name} ({d.name_en}): {grids_per_district.get(d.code, 0)} grids")
    simulated = " (模拟编码 / simulated streets & communities)" if pack.grids.simulated else ""
    click.echo(f"单元网格 / unit grids: {len(pack.grids)}{simulated}")
    classes = Counter(pack.grids.area_class.tolist())
    click.echo("  类别 / area classes: " + ", ".join(f"{k} {classes[k]}" for k in sorted(classes)))
    click.echo(f"巡查网格 / patrol grids: {len(pack.patrol_grids)}")
    n_sim = sum(p.simulated for p in pack.waterlogging_points)
    click.echo(
        f"易渍水点 / waterlogging points: {len(pack.waterlogging_points)} ({n_sim} simulated)"
    )
    click.echo(f"部门 / departments: {len(pack.departments)}")
    for key in ("holidays", "makeup_workdays"):
        click.echo(f"日历 / calendar {key}: {len(pack.calendar.get(key, []))}")
