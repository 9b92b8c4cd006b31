"""City pack and point location (cityops.geo)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import shapely
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityops.catalog.models import DEPARTMENT_TYPES
from cityops.geo import CityPack, CityPackError, load_city_pack, save_city_pack, wuhan_demo_pack
from cityops.geo.cli import city
from cityops.geo.gridgen import dense_rank, grid_codes
from cityops.geo.lattice import Lattice, cell_area_m2
from cityops.geo.patrol import allocate, components
from cityops.geo.wuhan import CENTRAL_DISTRICTS, DISTRICT_NAMES
from conftest import SHARED_DATA

SHARED = SHARED_DATA
GEOTOOL_FILE = SHARED / "geo" / "wuhan_districts_geotoolcn_wgs84.geojson"


@pytest.fixture(scope="module")
def pack() -> CityPack:
    return wuhan_demo_pack()


def _truth(pack: CityPack, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """District index by plain shapely, the reference the fast path must match."""
    out = np.full(len(lon), -1)
    for i, d in enumerate(pack.districts):
        out[shapely.contains_xy(pack.geometries[d.code], lon, lat)] = i
    return out


# --- grid codes --------------------------------------------------------------------------


def test_codes_are_15_digits_with_district_prefix(pack: CityPack) -> None:
    g = pack.grids
    assert len(g) > 90_000
    assert np.all(np.char.str_len(g.code) == 15) and np.all(np.char.isdigit(g.code))
    assert np.array_equal(g.code.astype("U6"), g.district)
    assert set(np.unique(g.district).tolist()) == set(CENTRAL_DISTRICTS)
    assert len(np.unique(g.code)) == len(g)


def _assert_reading_order(group: np.ndarray, row: np.ndarray, col: np.ndarray) -> None:
    """Inside each group (rows already sorted by code), positions go west→east, north→south."""
    same = group[1:] == group[:-1]
    later = (row[1:] > row[:-1]) | ((row[1:] == row[:-1]) & (col[1:] > col[:-1]))
    assert np.all(later[same])


def test_codes_number_west_to_east_then_north_to_south(pack: CityPack) -> None:
    g = pack.grids  # sorted by code
    street, community = g.code.astype("U9"), g.code.astype("U12")
    _assert_reading_order(community, g.row, g.col)  # sequence inside a community
    first = np.r_[True, community[1:] != community[:-1]]  # one row per community
    _assert_reading_order(street[first], g.row[first] // 5, g.col[first] // 5)
    first = np.r_[True, street[1:] != street[:-1]]  # one row per street
    _assert_reading_order(g.district[first], g.row[first] // 20, g.col[first] // 20)


@settings(max_examples=60, deadline=None)
@given(
    cells=st.sets(st.tuples(st.integers(0, 60), st.integers(0, 60)), min_size=1, max_size=300),
    split=st.integers(0, 60),
)
def test_generated_codes_always_unique_prefixed_and_ordered(
    cells: set[tuple[int, int]], split: int
) -> None:
    rc = np.array(sorted(cells), dtype=np.int64)
    row, col = rc[:, 0], rc[:, 1]
    district = (col >= split).astype(np.int64)  # two districts side by side
    codes = grid_codes(["420102", "420103"], district, row, col, 20, 5)
    assert len(set(codes.tolist())) == len(codes)
    assert all(c.startswith(("420102", "420103")[d]) for c, d in zip(codes, district, strict=True))
    order = np.argsort(codes)
    _assert_reading_order(codes[order].astype("U12"), row[order], col[order])
    numbers = codes.astype(np.int64)
    assert np.all(numbers % 1000 >= 1) and np.all(numbers // 1000 % 1000 >= 1)


@given(
    st.lists(st.integers(0, 3), min_size=1, max_size=50),
    st.lists(st.integers(0, 9), min_size=50, max_size=50),
)
def test_dense_rank_counts_distinct_keys_per_group(groups: list[int], keys: list[int]) -> None:
    g = np.array(groups, dtype=np.int64)
    k = np.array(keys[: len(groups)], dtype=np.int64)
    ranks = dense_rank(g, k)
    for value in np.unique(g):
        mine = g == value
        expect = {key: i + 1 for i, key in enumerate(sorted(set(k[mine].tolist())))}
        assert ranks[mine].tolist() == [expect[x] for x in k[mine].tolist()]


def test_every_grid_is_about_ten_thousand_square_metres(pack: CityPack) -> None:
    area = cell_area_m2(pack.grids.lattice, pack.grids.lat)
    assert np.all(np.abs(area - 10_000) < 100)  # within 1 %
    b = pack.grids.bounds  # same check from the published bounds, on a sphere
    metres = 111_195.0
    width = (b[:, 2] - b[:, 0]) * metres * np.cos(np.radians(pack.grids.lat))
    height = (b[:, 3] - b[:, 1]) * metres
    assert np.all(np.abs(width * height - 10_000) < 100)


def test_area_classes_grow_outward(pack: CityPack) -> None:
    g = pack.grids
    assert set(np.unique(g.area_class).tolist()) == {"A", "B", "C"}
    x, y = g.lattice.metres(g.lon, g.lat)
    cx, cy = g.lattice.metres(np.array([114.29]), np.array([30.58]))
    dist = np.hypot(x - cx, y - cy)
    assert dist[g.area_class == "A"].max() <= dist[g.area_class == "C"].min()


@given(st.floats(0, 495.999, allow_nan=False), st.floats(0, 406.999, allow_nan=False))
def test_lattice_cell_and_centre_agree(col_f: float, row_f: float) -> None:
    lat_ = Lattice(114.119, 30.702, 30.519, 100.0, 407, 496)
    lon = lat_.origin_lon + col_f * lat_.deg_lon
    lat = lat_.origin_lat - row_f * lat_.deg_lat
    row, col, inside = lat_.cell_of(np.array([lon]), np.array([lat]))
    assert inside[0]
    assert abs(int(row[0]) - row_f) <= 1 and abs(int(col[0]) - col_f) <= 1
    clon, clat = lat_.centre(row, col)
    assert abs(clon[0] - lon) <= lat_.deg_lon * 0.5 + 1e-9
    assert abs(clat[0] - lat) <= lat_.deg_lat * 0.5 + 1e-9


# --- location ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "lon", "lat", "district"),
    [
        ("黄鹤楼 Yellow Crane Tower", 114.302, 30.544, "420106"),
        ("汉口江滩 Hankou riverside", 114.300, 30.590, "420102"),
        ("江汉路 Jianghan Road", 114.283, 30.578, "420103"),
        ("东湖 East Lake (Hongshan side)", 114.41, 30.56, "420111"),
    ],
)
def test_locate_known_places(
    pack: CityPack, name: str, lon: float, lat: float, district: str
) -> None:
    found = pack.locate_one(lon, lat)
    assert found is not None, name
    assert found.district_code == district
    assert found.grid_code.startswith(district) and len(found.grid_code) == 15
    grid = pack.grid(found.grid_code)
    assert grid is not None and grid.district == district and grid.area_class == found.area_class
    assert grid.bounds[0] <= lon <= grid.bounds[2] and grid.bounds[1] <= lat <= grid.bounds[3]
    assert pack.patrol_grid(found.patrol_code) is not None


def test_outside_city_gives_empty_strings(pack: CityPack) -> None:
    lon = np.array([116.40, 0.0, np.nan, 114.0, 180.0])
    lat = np.array([39.90, 0.0, 30.5, np.nan, -90.0])
    found = pack.locate(lon, lat)
    assert found.grid_code.tolist() == [""] * 5
    assert found.district_code.tolist() == [""] * 5
    assert found.area_class.tolist() == [""] * 5
    assert pack.locate_one(116.40, 39.90) is None
    assert not pack.contains(116.40, 39.90) and pack.contains(114.302, 30.544)


def test_city_but_not_gridded(pack: CityPack) -> None:
    found = pack.locate_one(114.40, 30.85)  # 黄陂区, outside the central grids
    assert found is not None and found.district_code == "420116" and found.grid_code == ""


def _check_against_shapely(pack: CityPack, lon: np.ndarray, lat: np.ndarray) -> float:
    found = pack.locate(lon, lat)
    truth = _truth(pack, lon, lat)
    free = found.grid_index < 0
    # Outside grid coverage the answer is exact.
    assert np.array_equal(found.district_index[free], truth[free])
    # Inside, the grid's district rules; it may differ only in cells a boundary crosses.
    wrong = np.flatnonzero(~free & (found.district_index != truth))
    g = pack.grids
    for i in wrong[:200]:
        gi = found.grid_index[i]
        box = shapely.box(*g.bounds[gi])
        assert not shapely.contains(pack.geometries[str(g.district[gi])], box)
    return float(np.mean(found.district_index == truth))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1), zoom=st.sampled_from(["city", "grids"]))
def test_fast_lookup_agrees_with_shapely(pack: CityPack, seed: int, zoom: str) -> None:
    rng = np.random.default_rng(seed)
    if zoom == "city":
        b = shapely.total_bounds(np.asarray(list(pack.geometries.values()), dtype=object))
    else:
        b = np.asarray(pack.grids.lattice.bounds)
    lon, lat = rng.uniform(b[0], b[2], 2000), rng.uniform(b[1], b[3], 2000)
    _check_against_shapely(pack, lon, lat)


def test_agreement_rate_on_many_points(pack: CityPack) -> None:
    rng = np.random.default_rng(3)
    b = pack.grids.lattice.bounds
    rate = _check_against_shapely(
        pack, rng.uniform(b[0], b[2], 200_000), rng.uniform(b[1], b[3], 200_000)
    )
    assert rate > 0.995


def test_lookup_speed_floor(pack: CityPack) -> None:
    rng = np.random.default_rng(5)
    b = pack.grids.lattice.bounds
    lon, lat = rng.uniform(b[0], b[2], 1_000_000), rng.uniform(b[1], b[3], 1_000_000)
    pack.locate(lon[:10], lat[:10])  # build the index first
    best = min(_timed(pack, lon, lat) for _ in range(3))
    assert 1_000_000 / best > 1_000_000  # ≥ 1 M points/s even on a slow CI core


def _timed(pack: CityPack, lon: np.ndarray, lat: np.ndarray) -> float:
    start = time.perf_counter()
    pack.locate(lon, lat)
    return time.perf_counter() - start


# --- patrol grids, waterlogging points, departments, calendar -------------------------


def test_186_patrol_grids_each_in_one_district_and_contiguous(pack: CityPack) -> None:
    g = pack.grids
    assert len(pack.patrol_grids) == 186
    assert len({p.code for p in pack.patrol_grids}) == 186
    assert g.patrol.min() >= 0 and np.array_equal(np.unique(g.patrol), np.arange(186))
    owner = np.array([p.district for p in pack.patrol_grids])
    assert np.array_equal(owner[g.patrol], g.district)
    shape = (g.lattice.rows, g.lattice.cols)
    patrol_raster = np.full(shape, -1, dtype=np.int64)
    patrol_raster[g.row, g.col] = g.patrol
    district_raster = np.full(shape, -1, dtype=np.int64)
    district_raster[g.row, g.col] = np.searchsorted(np.array(CENTRAL_DISTRICTS), g.district)
    pc, dc = components(patrol_raster), components(district_raster)
    # A patrol grid is one 4-connected piece, plus at most whole detached bits of its
    # district (islands, exclaves) that touch no other patrol grid.
    for p in range(186):
        mine = patrol_raster == p
        pieces, sizes = np.unique(pc[mine], return_counts=True)
        for piece in pieces[sizes < sizes.max()]:
            cells = pc == piece
            assert len(np.unique(dc[cells])) == 1
            assert np.sum(dc == dc[cells][0]) == cells.sum()
    sizes = np.bincount(g.patrol)
    assert sizes.min() > 100 and sizes.max() < 2000


def test_448_simulated_waterlogging_points_in_grids(pack: CityPack) -> None:
    pts = pack.waterlogging_points
    assert len(pts) == 448 and all(p.simulated for p in pts)
    assert len({p.code for p in pts}) == 448
    assert pts[0].name.startswith("模拟易渍水点 #001") and "Simulated" in pts[0].name
    found = pack.locate([p.lon for p in pts], [p.lat for p in pts])
    assert found.district_code.tolist() == [p.district for p in pts]
    assert np.all(found.grid_index >= 0)


def test_departments_cover_every_type(pack: CityPack) -> None:
    codes = [d.code for d in pack.departments]
    assert len(set(codes)) == len(codes)
    for key in DEPARTMENT_TYPES:
        if key != "urban_management":
            assert pack.owner_departments(key), key
    for code in DISTRICT_NAMES:
        area = pack.area_department(code)
        assert area is not None and area.district == code and "urban_management" in area.serves
    assert pack.area_department("110101") is None
    water = pack.owner_departments("drainage")
    assert [d.code for d in water] == ["WH-WATER"]
    district = pack.district("420106")
    assert district is not None and district.name == "武昌区" and pack.district("999999") is None


def test_calendar_holds_2025_and_2026_arrangements(pack: CityPack) -> None:
    holidays, makeup = set(pack.calendar["holidays"]), set(pack.calendar["makeup_workdays"])
    assert {"2026-02-17", "2026-10-07", "2026-06-19", "2025-01-29", "2025-10-08"} <= holidays
    assert {
        "2026-01-04",
        "2026-02-14",
        "2026-02-28",
        "2026-05-09",
        "2026-09-20",
        "2026-10-10",
    } <= makeup
    assert not holidays & makeup
    # Make-up working days fall on weekends, by definition.
    assert all(np.datetime64(d).astype("datetime64[D]").item().weekday() >= 5 for d in makeup)


# --- building, loading, saving -----------------------------------------------------------


def test_build_is_fast_and_deterministic(pack: CityPack) -> None:
    start = time.perf_counter()
    again = wuhan_demo_pack()
    assert time.perf_counter() - start < 3.0
    assert np.array_equal(again.grids.code, pack.grids.code)
    assert np.array_equal(again.grids.patrol, pack.grids.patrol)
    assert again.waterlogging_points == pack.waterlogging_points


def test_save_load_round_trip(pack: CityPack, tmp_path: Path) -> None:
    save_city_pack(pack, tmp_path)
    loaded = load_city_pack(tmp_path)
    for column in ("code", "district", "area_class", "row", "col", "patrol"):
        assert np.array_equal(getattr(loaded.grids, column), getattr(pack.grids, column)), column
    assert loaded.grids.lattice == pack.grids.lattice and loaded.grids.simulated
    assert (loaded.code, loaded.name, loaded.name_en, loaded.timezone) == (
        pack.code, pack.name, pack.name_en, pack.timezone,
    )  # fmt: skip
    assert loaded.districts == pack.districts
    assert loaded.departments == pack.departments
    assert loaded.patrol_grids == pack.patrol_grids
    assert loaded.waterlogging_points == pack.waterlogging_points
    assert loaded.calendar == pack.calendar
    for d in pack.districts:  # the same vertices; rings as RFC 7946 orients them (exterior counter-clockwise)
        want = shapely.orient_polygons(pack.geometries[d.code], exterior_cw=False)
        assert shapely.equals_exact(loaded.geometries[d.code], want, 0.0)
    rng = np.random.default_rng(11)
    lon, lat = rng.uniform(114.1, 114.7, 5000), rng.uniform(30.3, 30.8, 5000)
    assert np.array_equal(loaded.locate(lon, lat).grid_code, pack.locate(lon, lat).grid_code)


def test_load_generates_grids_from_settings(tmp_path: Path, pack: CityPack) -> None:
    save_city_pack(pack, tmp_path)
    doc = yaml.safe_load((tmp_path / "city.yaml").read_text(encoding="utf-8"))
    doc["grid"] = {"gridded_districts": ["420103"], "patrol_grids": 5, "cell_m": 200}
    (tmp_path / "city.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    small = load_city_pack(tmp_path / "city.yaml")
    assert len(small.patrol_grids) == 5
    assert set(small.grids.district.tolist()) == {"420103"}
    assert 600 < len(small.grids) < 800  # 江汉区 ≈ 28.6 km² in 200 m cells


def _broken(pack: CityPack, tmp_path: Path, file: str, edit: str | None) -> Path:
    save_city_pack(pack, tmp_path)
    target = tmp_path / file
    if edit is None:
        target.unlink()
    else:
        target.write_text(edit, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("city.yaml", "code: [unclosed", "not valid YAML"),
        ("city.yaml", "name: X\ndistricts_file: districts.geojson\n", "missing key 'code'"),
        ("city.yaml", None, "file not found"),
        ("districts.geojson", "{not json", "not valid JSON"),
        ("districts.geojson", '{"type": "FeatureCollection", "features": []}', "no districts"),
        (
            "grids.csv",
            "code,district,area_class,row,col,patrol\n4201020010010,420102,A,0,0,\n",
            "15 digits",
        ),
        ("grids.csv", "code,district\n420102001001001,420102\n", "missing columns"),
        ("patrol_grids.csv", "code,name\n", "missing columns"),
        (
            "waterlogging_points.geojson",
            '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"district": "420102"}, "geometry": {"type": "LineString", "coordinates": []}}]}',
            "expected a Point",
        ),
    ],
)
def test_broken_files_raise_city_pack_error(
    pack: CityPack, tmp_path: Path, file: str, content: str | None, message: str
) -> None:
    folder = _broken(pack, tmp_path, file, content)
    with pytest.raises(CityPackError) as info:
        load_city_pack(folder)
    assert file in str(info.value) and message in str(info.value)
    assert info.value.file.endswith(file)


def test_bad_department_type_is_reported(pack: CityPack, tmp_path: Path) -> None:
    save_city_pack(pack, tmp_path)
    text = (
        (tmp_path / "city.yaml").read_text(encoding="utf-8").replace("- drainage", "- plumbing", 1)
    )
    (tmp_path / "city.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(CityPackError, match="plumbing"):
        load_city_pack(tmp_path)


@given(st.lists(st.integers(1, 10_000), min_size=1, max_size=20), st.integers(0, 200))
def test_allocate_sums_to_total_with_one_each(sizes: list[int], extra: int) -> None:
    total = len(sizes) + extra
    out = allocate(np.array(sizes, dtype=np.int64), total)
    assert out.sum() == total and out.min() >= 1


# --- real boundary data -----------------------------------------------------------------


def test_geotool_polygons_match_the_shared_export(pack: CityPack) -> None:
    if not GEOTOOL_FILE.exists():
        pytest.skip(f"{GEOTOOL_FILE} (…/shared/data/geo/) not present")
    doc = json.loads(GEOTOOL_FILE.read_text(encoding="utf-8"))
    seen = set()
    for feature in doc["features"]:
        code = feature["properties"]["adcode"]
        seen.add(code)
        ours = pack.geometries[code]
        theirs = shapely.geometry.shape(feature["geometry"])
        assert shapely.symmetric_difference(ours, theirs).area / theirs.area < 1e-4, code
        assert pack.district(code) is not None
        assert pack.district(code).name == feature["properties"]["name"]  # type: ignore[union-attr]
    assert seen == set(DISTRICT_NAMES)


def test_demo_pack_from_a_districts_file() -> None:
    if not GEOTOOL_FILE.exists():
        pytest.skip(f"{GEOTOOL_FILE} (…/shared/data/geo/) not present")
    from_file = wuhan_demo_pack(GEOTOOL_FILE)
    assert len(from_file.patrol_grids) == 186 and len(from_file.waterlogging_points) == 448
    found = from_file.locate_one(114.302, 30.544)
    assert found is not None and found.district_code == "420106"


# --- CLI ----------------------------------------------------------------------------------


def test_cli_info_locate_export(tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(city, ["info"])
    assert out.exit_code == 0, out.output
    assert "97" in out.output and "186" in out.output and "448" in out.output
    out = runner.invoke(city, ["locate", "114.302", "30.544"])
    assert out.exit_code == 0 and "420106" in out.output and "武昌区" in out.output
    out = runner.invoke(city, ["locate", "116.4", "39.9"])
    assert out.exit_code == 1 and "outside" in out.output
    out = runner.invoke(city, ["export", str(tmp_path / "wh")])
    assert out.exit_code == 0 and (tmp_path / "wh" / "city.yaml").exists()
    out = runner.invoke(city, ["locate", "114.30", "30.59", "--pack", str(tmp_path / "wh")])
    assert out.exit_code == 0 and "420102" in out.output


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lon=st.floats(113.6, 115.2), lat=st.floats(29.9, 31.4))
def test_locate_one_agrees_with_the_vectorised_lookup(pack: CityPack, lon: float, lat: float) -> None:
    many = pack.locate(np.array([lon]), np.array([lat]))
    one = pack.locate_one(lon, lat)
    if many.district_code[0] == "":
        assert one is None
    else:
        assert one is not None
        assert (one.district_code, one.grid_code, one.area_class) == (
            many.district_code[0], many.grid_code[0], many.area_class[0])


def test_a_built_pack_is_cached_on_disk_and_read_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      demo_city: CityPack) -> None:
    from cityops.geo import cache

    builds: list[int] = []

    def build() -> CityPack:
        builds.append(1)
        return demo_city

    monkeypatch.setenv("CITYOPS_CACHE_DIR", str(tmp_path / "cache"))
    first = cache.cached_pack("demo", build)
    again = cache.cached_pack("demo", build)
    assert len(builds) == 1 and again is not first  # the second came from the file
    assert list(again.grids.code) == list(first.grids.code) and again.name == first.name
    [stored] = (tmp_path / "cache").glob("demo-*.pickle")
    assert stored.stat().st_mode & 0o777 == 0o600 and (tmp_path / "cache").stat().st_mode & 0o777 == 0o700
    stored.chmod(0o666)  # a file others may write is never unpickled: built again
    cache.cached_pack("demo", build)
    assert len(builds) == 2
    monkeypatch.setattr(cache, "fingerprint", lambda: "other-code")  # the code changed: built again, old file gone
    cache.cached_pack("demo", build)
    assert len(builds) == 3 and [p.name for p in (tmp_path / "cache").glob("demo-*")] == ["demo-other-code.pickle"]
    monkeypatch.setenv("CITYOPS_CACHE_DIR", "off")
    cache.cached_pack("demo", build)
    assert len(builds) == 4
