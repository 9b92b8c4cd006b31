"""Import of legacy service-request records, and routing learned from them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityops.cases.models import Status
from cityops.cases.service import verify_all
from cityops.catalog.service import load_catalogue
from cityops.intake.importer import StrictImportError, department_for, import_file
from cityops.intake.mapping import MappingError, load_mapping, parse_mapping
from cityops.intake.prepare import REASONS, parse_times, prepare
from cityops.intake.routing_report import defaults_frame, override_yaml, routing_report
from cityops.intake.sources import ROW, read_records
from cityops.store.base import CaseQuery
from cityops.store.sqlite import SqliteStore
from conftest import shared_file
from stores import new_db

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "mappings"
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
MATTERS = {e.code for e in load_catalogue().matters()}


# A tiny city for tests that need no city pack: two districts split at lon -74.0 over NYC.
@dataclass(frozen=True)
class _Dept:
    code: str
    name: str
    serves: tuple[str, ...]
    district: str | None


@dataclass(frozen=True)
class _Located:
    district_code: np.ndarray[Any, Any]
    grid_code: np.ndarray[Any, Any]
    area_class: np.ndarray[Any, Any]


class _City:
    name, name_en = "测试市", "Test City"
    departments = (_Dept("roads-1", "市政", ("roads",), None), _Dept("w-um", "西区城管", ("urban_management",), "W"))

    def locate(self, lon: Any, lat: Any) -> _Located:
        lon, lat = np.asarray(lon), np.asarray(lat)
        inside = (lat > 40.0) & (lat < 41.0) & (lon > -75.0) & (lon < -73.0)
        district = np.where(inside, np.where(lon < -74.0, "W", "E"), "")
        grid = np.where(inside, np.char.add(district.astype(str), "-001"), "")
        return _Located(district, grid, np.where(inside, "A", ""))


@dataclass
class _Platform:
    store: SqliteStore
    catalogue: Any
    city: Any


@pytest.fixture
def small(tmp_path: Path) -> Iterator[_Platform]:
    p = _Platform(SqliteStore(new_db(tmp_path, "small.db")), load_catalogue(), _City())
    yield p
    p.store.close()


MAPPING: dict[str, Any] = {
    "source": "demo311", "format": "csv", "timezone": "America/New_York", "date_format": "%Y-%m-%d %H:%M",
    "columns": {"external_id": "id", "created": "opened", "closed": "closed", "status": "state",
                "category": "type", "agency": "agency", "description": ["type", "note"],
                "lat": "lat", "lon": "lon", "district": "area"},
    "categories": {"Pothole": "06013", "Noise": "06028", "Tax": "skip"},
    "default_matter": "skip",
    "agencies": {"DOT": "roads", "NYPD": "traffic_police"},
    "statuses": {"Closed": "closed", "Open": "disposing", "Pending": "registered"},
}
CSV = """id,opened,closed,state,type,agency,note,lat,lon,area
1,2024-03-01 10:00,2024-03-02 12:30,Closed,Pothole,DOT,deep hole,40.5,-74.5,QN
2,2024-03-01 11:00,,Open,Noise,NYPD,,40.5,-73.5,BK
3,2024-03-01 12:00,2024-02-01 12:00,Closed,Pothole,DOT,,,,QN
4,not a date,,Open,Pothole,DOT,,,,QN
5,2024-03-01 13:00,,Closed,Pothole,DOT,,,,QN
6,2024-03-01 14:00,,Weird,Pothole,DOT,,,,QN
7,2024-03-01 15:00,,Open,Parade,DOT,,,,QN
8,2024-03-01 16:00,,Open,Tax,DOF,,,,QN
1,2024-03-01 17:00,,Open,Pothole,DOT,,,,QN
,2024-03-01 18:00,,Open,Pothole,DOT,,,,QN
11,2024-03-01 19:00,,Pending,Pothole,ZZZ,,91,-74,QN
12,2024-03-01 20:00,,Pending,Pothole,ZZZ,,52.1,1.1,LON
"""


def _write(tmp_path: Path, text: str = CSV, name: str = "demo.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _counts(frame: pl.DataFrame) -> dict[str, int]:
    return dict(frame.group_by("reason").len().iter_rows())


def _rows(store: SqliteStore) -> int:
    with store.read() as repo:
        return int(repo.conn.execute("SELECT count(*) FROM cases").fetchone()[0])


# --- pure parts ---------------------------------------------------------------------------
def test_prepare_gives_each_bad_row_one_reason(tmp_path: Path) -> None:
    mapping = parse_mapping(MAPPING, "t", MATTERS)
    prepared = prepare(read_records(_write(tmp_path), "csv"), mapping)
    assert prepared.total == 12
    assert prepared.rows.height + prepared.skipped.height == 12
    assert dict(prepared.skipped.select(ROW, "reason").iter_rows()) == {
        3: "closed_before_created", 4: "bad_created", 5: "bad_closed", 6: "unknown_status",
        7: "unknown_category", 8: "category_skipped", 9: "duplicate_id", 10: "missing_id", 11: "bad_location",
    }
    good = {r["external_id"]: r for r in prepared.rows.iter_rows(named=True)}
    assert set(good) == {"1", "2", "12"}
    # 10:00 in New York in March 2024 (EST, before the DST change on 10 March) is 15:00 UTC.
    assert good["1"]["created"] == datetime(2024, 3, 1, 15, 0, tzinfo=UTC)
    assert good["1"]["closed"] == datetime(2024, 3, 2, 17, 30, tzinfo=UTC)
    assert good["1"]["description"] == "Pothole — deep hole"
    assert good["2"]["closed"] is None and good["2"]["status"] == "disposing"
    assert good["12"]["department_type"] is None  # ZZZ is not mapped, no default


def test_iso_times_with_and_without_offsets() -> None:
    frame = pl.DataFrame({"t": ["2014-05-09T19:02:21-05:00", "2014-05-09T19:02:21Z", "2014-05-09T19:02:21",
                                "2014-05-09 19:02:21.5", "garbage", None]})
    out = frame.select(parse_times(pl.col("t"), "iso", "America/Chicago").alias("t"))["t"].to_list()
    assert out[0] == out[2] == datetime(2014, 5, 10, 0, 2, 21, tzinfo=UTC)
    assert out[1] == datetime(2014, 5, 9, 19, 2, 21, tzinfo=UTC)
    assert out[3] == datetime(2014, 5, 10, 0, 2, 21, 500000, tzinfo=UTC)
    assert out[4] is None and out[5] is None


@pytest.mark.parametrize(("change", "key"), [
    ({"format": "xml"}, "format"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"categories": {"Pothole": "99999"}}, "categories.Pothole"),
    ({"agencies": {"DOT": "roadz"}}, "agencies.DOT"),
    ({"statuses": {"Closed": "done"}}, "statuses.Closed"),
    ({"columns": {"created": "opened"}}, "columns.external_id"),
    ({"source": "NYC 311!"}, "source"),
    ({"colour": "red"}, "colour"),
])
def test_mapping_errors_name_the_key(change: dict[str, Any], key: str) -> None:
    with pytest.raises(MappingError) as err:
        parse_mapping(MAPPING | change, "m.yaml", MATTERS)
    assert f"'{key}'" in err.value.message_en and err.value.message_zh


def test_department_for_prefers_city_wide_then_synthetic() -> None:
    depts = (_Dept("w-roads", "", ("roads",), "W"), _Dept("roads-1", "", ("roads",), None))
    assert department_for("roads", "DOT", depts) == "roads-1"
    assert department_for("sanitation", "DSNY", depts) == "import:DSNY"
    assert department_for(None, None, depts) is None


_cell = st.sampled_from(["", "x", "2024-03-01 10:00", "2024-13-45 99:99", "Closed", "Open", "Pothole", "Tax",
                         "DOT", "40.5", "-74.5", "nan", "1e400", "Ünïcode"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(*([_cell] * 10)), max_size=30))
def test_every_row_is_imported_or_skipped_once(cells: list[tuple[str, ...]]) -> None:
    cols = ["id", "opened", "closed", "state", "type", "agency", "note", "lat", "lon", "area"]
    frame = pl.DataFrame([list(c) for c in cells], schema=dict.fromkeys(cols, pl.Utf8), orient="row")
    frame = frame.with_columns(pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c) for c in cols)
    frame = frame.with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.Int64))
    prepared = prepare(frame, parse_mapping(MAPPING, "t", MATTERS))
    rows = sorted(prepared.rows[ROW].to_list() + prepared.skipped[ROW].to_list())
    assert rows == list(range(1, len(cells) + 1))
    assert set(prepared.skipped["reason"].to_list()) <= set(REASONS)
    assert prepared.rows["external_id"].is_unique().all()
    ended = prepared.rows.filter(pl.col("status") == "closed")
    assert (ended["closed"] >= ended["created"]).all()


def test_routing_report_learns_the_majority() -> None:
    imported = pl.DataFrame({
        "matter_code": ["06028"] * 6 + ["06013"] * 4 + ["09009"],
        "actual_type": ["traffic_police"] * 5 + ["ecology"] + ["roads"] * 4 + [None],
    })
    report = routing_report(imported, defaults_frame(load_catalogue().matters()), min_support=5)
    assert (report.cases, report.agreeing, report.unknown) == (10, 5, 1)
    assert report.agreement == 0.5
    assert report.suggestions["matter_code"].to_list() == ["06028"]
    assert report.confusion.row(0, named=True)["actual_type"] == "traffic_police"


# --- the importer over a store ----------------------------------------------------------
def test_import_synthetic_file_then_reimport(small: _Platform, tmp_path: Path) -> None:
    mapping = parse_mapping(MAPPING, "t", MATTERS)
    path = _write(tmp_path)
    result = import_file(small, path, mapping, NOW)  # type: ignore[arg-type]
    assert (result.read, result.imported, result.skipped.height) == (12, 3, 9)
    with small.store.read() as repo:
        cases = {c.attributes["import"]["external_id"]: c for c in repo.search_cases(
            __import__("cityops.store.base", fromlist=["CaseQuery"]).CaseQuery(limit=100))[0]}
        assert not verify_all(repo)
        history = repo.history(cases["1"].id)
    first = cases["1"]
    assert first.status is Status.CLOSED and first.department == "roads-1"
    assert (first.district, first.grid, first.area_class) == ("W", "W-001", "A")
    assert first.closed_at == first.disposed_at == datetime(2024, 3, 2, 17, 30, tzinfo=UTC)
    assert first.reported_at == first.registered_at == first.dispatched_at
    assert cases["2"].department == "import:NYPD" and cases["2"].closed_at is None
    assert (cases["12"].district, cases["12"].grid) == ("LON", "")  # outside the city: mapped district
    assert cases["12"].department is None  # registered: not yet with a department
    assert [h.change.action for h in history] == ["import"]
    assert history[0].change.data["external_id"] == "1"
    again = import_file(small, path, mapping, NOW)  # type: ignore[arg-type]
    assert again.imported == 0 and _counts(again.skipped)["already_imported"] == 3
    assert _rows(small.store) == 3


def test_dry_run_writes_nothing(small: _Platform, tmp_path: Path) -> None:
    result = import_file(small, _write(tmp_path), parse_mapping(MAPPING, "t", MATTERS), NOW,  # type: ignore[arg-type]
                         dry_run=True)
    assert result.imported == 3 and _rows(small.store) == 0


def test_strict_refuses_a_file_with_bad_rows(small: _Platform, tmp_path: Path) -> None:
    with pytest.raises(StrictImportError):
        import_file(small, _write(tmp_path), parse_mapping(MAPPING, "t", MATTERS), NOW,  # type: ignore[arg-type]
                    strict=True)
    assert _rows(small.store) == 0


def test_failure_mid_insert_leaves_nothing(small: _Platform, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="injected"):
        import_file(small, _write(tmp_path), parse_mapping(MAPPING, "t", MATTERS), NOW,  # type: ignore[arg-type]
                    fail_after=2)
    assert _rows(small.store) == 0
    with small.store.read() as repo:
        assert repo.idempotent_cases(["import:demo311:1"]) == {}


def test_mapping_naming_a_missing_column_refuses_the_file(small: _Platform, tmp_path: Path) -> None:
    bad = MAPPING | {"columns": MAPPING["columns"] | {"category": "Complaint Type"}}
    with pytest.raises(MappingError, match="Complaint Type"):
        import_file(small, _write(tmp_path), parse_mapping(bad, "t", MATTERS), NOW)  # type: ignore[arg-type]
    assert _rows(small.store) == 0


# --- the two real exports ------------------------------------------------------------------
def _nyc(platform: Any) -> Any:
    path = shared_file("311/nyc311_2011_subset_2000.csv")
    return path, load_mapping(EXAMPLES / "nyc311.yaml", MATTERS)


def test_nyc_mapping_covers_every_complaint_type_and_agency() -> None:
    path = shared_file("311/nyc311_2011_subset_2000.csv")
    mapping = load_mapping(EXAMPLES / "nyc311.yaml", MATTERS)
    frame = read_records(path, "csv")
    assert set(frame["Complaint Type"].unique()) == set(mapping.categories)
    assert set(frame["Agency"].unique()) == set(mapping.agencies)
    assert len(mapping.categories) == 90 and len(mapping.agencies) == 13


def test_nyc_import(small: _Platform) -> None:
    path, mapping = _nyc(small)
    result = import_file(small, path, mapping, NOW)  # type: ignore[arg-type]
    assert (result.read, result.imported) == (2000, 1254)
    assert _counts(result.skipped) == {"category_skipped": 746}
    assert result.imported + result.skipped.height == result.read
    with small.store.read() as repo:
        assert not verify_all(repo)
        frame = repo.case_frame()
    closed = frame.filter(pl.col("status") == "closed")
    hours = (closed["closed_at"] - closed["reported_at"]).dt.total_hours()
    assert closed.height == 1223 and (hours >= 0).all() and hours.median() > 1  # real handling times
    again = import_file(small, path, mapping, NOW)  # type: ignore[arg-type]
    assert again.imported == 0 and _counts(again.skipped) == {"category_skipped": 746, "already_imported": 1254}


def test_nyc_routing_report_and_override(small: _Platform, tmp_path: Path) -> None:
    path, mapping = _nyc(small)
    import_file(small, path, mapping, NOW)  # type: ignore[arg-type]
    with small.store.read() as repo:
        imported = repo.imported_frame("nyc311")
    report = routing_report(imported, defaults_frame(small.catalogue.matters()))
    assert report.cases == 1254 and report.unknown == 0
    assert report.agreement is not None and 0.0 < report.agreement < 1.0
    assert round(report.agreement, 4) == round(report.agreeing / 1254, 4)
    noise = report.per_matter.filter(pl.col("matter_code") == "06028").row(0, named=True)
    assert (noise["default_type"], noise["learned_type"]) == ("ecology", "traffic_police")
    target = tmp_path / "override.yaml"
    target.write_text(override_yaml(report, "nyc311"), encoding="utf-8")
    catalogue = load_catalogue(target)
    assert catalogue.matter("06028").department == "traffic_police"
    for r in report.suggestions.iter_rows(named=True):
        assert catalogue.matter(r["matter_code"]).department == r["learned_type"]


def test_chicago_import(small: _Platform) -> None:
    path = shared_file("311/chicago_open311_georeport_v2_2014_50.json")
    mapping = load_mapping(EXAMPLES / "chicago-georeport.yaml", MATTERS)
    result = import_file(small, path, mapping, NOW)  # type: ignore[arg-type]
    assert (result.read, result.imported, result.skipped.height) == (50, 50, 0)
    with small.store.read() as repo:
        assert not verify_all(repo)
        frame = repo.case_frame()
        imported = repo.imported_frame("chicago311")
    assert frame.filter(pl.col("status") == "closed").height == 49
    assert frame.filter(pl.col("status") == "disposing").height == 1
    assert imported["matter_code"].value_counts().sort("count")["count"].to_list()[-1] == 35
    assert import_file(small, path, mapping, NOW).imported == 0  # type: ignore[arg-type]


def test_records_without_a_location_keep_no_location(small: _Platform) -> None:
    """A record with no coordinates is stored without a point, never at 0,0 ("null island")."""
    path, mapping = _nyc(small)
    import_file(small, path, mapping, NOW)  # type: ignore[arg-type]
    with small.store.read() as repo:
        cases, _ = repo.search_cases(CaseQuery(limit=5000))
    unlocated = [c for c in cases if not c.attributes["located"]]
    assert unlocated and all(c.lon is None and c.lat is None for c in unlocated)
    assert all(c.lon != 0 for c in cases if c.lon is not None)
