"""Catalogue (GB/T 47678.5-2026): counts, defaults, overrides, legacy map, export, CLI."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from cityops.catalog import (
    AREA_CLASSES,
    DEPARTMENT_TYPES,
    TIME_UNITS,
    Catalogue,
    CatalogueError,
    TimeLimit,
    UnknownCode,
    export_csv,
    export_json,
    format_time_limit,
    legacy_table,
    load_catalogue,
    load_legacy,
    map_legacy,
    parse_time_limit,
)
from cityops.catalog.cli import catalogue as catalogue_cli
from cityops.catalog.timelimits import TimeLimitSyntaxError
from conftest import SHARED_DATA

SHARED = SHARED_DATA
FACT_TABLE = SHARED / "gbt47678_5_2026_components_matters.csv"
HOURS = {"working_hours": 1.0, "working_days": 8.0, "calendar_hours": 1.0}


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return load_catalogue()


def _hours(limit: TimeLimit) -> float:
    return limit.amount * HOURS[limit.unit]


# --- the packaged directory -------------------------------------------------------------------


def test_congestion_has_a_matter_of_its_own(cat: Catalogue) -> None:
    """GB/T 47678.5 has no congestion matter: cityops's extension adds one in the local range,
    named in both languages, for the traffic police, in calendar hours."""
    m = cat.matter("10950")
    assert (m.name, m.name_en, m.department, m.verify_on_site) == ("道路交通拥堵", "Road traffic congestion",
                                                                  "traffic_police", False)
    assert m.time_limits["A"] == TimeLimit(1, "calendar_hours")
    assert cat.search("堵车")[0].code == "10950"


def test_counts(cat: Catalogue) -> None:
    # The standard's 403 entries and cityops's extension (one matter: 10950 道路交通拥堵).
    assert len(cat.entries) == 404
    assert (len(cat.components()), len(cat.matters())) == (153, 251)
    standard = [e for e in cat.entries if e.major_name != "本地扩展事项类"]
    assert len(standard) == 403
    majors = Counter(e.major_code for e in cat.matters() if not e.is_component_matter)
    assert majors == {"06": 51, "07": 7, "08": 16, "09": 21, "10": 3}
    assert sum(e.is_component_matter for e in cat.matters()) == 153


def test_every_matter_has_limits_and_department(cat: Catalogue) -> None:
    for entry in cat.entries:
        assert entry.department in DEPARTMENT_TYPES, entry.code
        assert entry.name_en and entry.keywords, entry.code
    for matter in cat.matters():
        assert set(matter.time_limits) == set(AREA_CLASSES), matter.code
        a, b, c = (matter.time_limits[k] for k in AREA_CLASSES)
        assert _hours(a) <= _hours(b) <= _hours(c), f"class A must be strictest: {matter.code}"
    assert all(not e.time_limits for e in cat.components())


def test_component_matters_link_to_their_component(cat: Catalogue) -> None:
    for matter in cat.matters():
        component = cat.component_of(matter.code)
        if matter.is_component_matter:
            assert component is not None and component.code == matter.code
            assert matter.name.startswith(component.name.replace("SOS", ""))
            assert matter.department == component.department
            assert cat.matter_for_component(component.code) == matter
        else:
            assert component is None


def test_real_examples(cat: Catalogue) -> None:
    assert cat.matter("06010").time_limit("A") == TimeLimit(4, "working_hours")  # 暴露垃圾
    assert cat.matter("06012").time_limit("A") == TimeLimit(2, "working_hours")  # 道路保洁
    assert cat.matter("01004").time_limit("A") == TimeLimit(4, "working_hours")  # 路面积水
    assert cat.matter("06011").time_limit("A") == TimeLimit(2, "working_days")  # 渣土堆
    assert cat.matter("06001").time_limit("A") == TimeLimit(20, "working_days")  # 私搭乱建
    assert cat.matter("01011").time_limit("A").unit == "calendar_hours"  # 燃气井盖: a hazard


def test_departments(cat: Catalogue) -> None:
    expect = {
        "01001": "water_supply",
        "01002": "drainage",
        "01003": "drainage",
        "01011": "gas",
        "01005": "power",
        "01007": "telecom",
        "01037": "lighting",
        "02009": "roads",
        "02014": "traffic_police",
        "02004": "transport",
        "03001": "sanitation",
        "06010": "sanitation",
        "06012": "sanitation",
        "04002": "greening",
        "06001": "urban_management",
        "09006": "urban_management",
        "07003": "urban_management",
        "08004": "construction",
        "06046": "water_affairs",
    }
    assert {code: cat.matter(code).department for code in expect} == expect
    assert cat.department_name("sanitation") == ("环境卫生", "Sanitation")
    with pytest.raises(UnknownCode):
        cat.department_name("nope")


def test_lookup_and_unknown_code(cat: Catalogue) -> None:
    assert cat.get("component", "01001").name == "供水井盖"
    assert cat.get("matter", "01001").name == "供水井盖异常"
    assert cat.component("05009").name == "文物古迹"
    with pytest.raises(UnknownCode) as info:
        cat.matter("99999")
    assert isinstance(info.value, KeyError)
    assert str(info.value) == "未知的管理事项代码 '99999' / unknown matter code '99999'"
    with pytest.raises(KeyError, match="component code '06001'"):
        cat.component("06001")  # matters 06+ have no component


def test_search(cat: Catalogue) -> None:
    assert cat.search("暴露垃圾")[0].code == "06010"
    assert cat.search("小区门口路灯不亮了")[0].code == "01037"
    assert cat.search("积水")[0].code == "01004"
    assert {e.code for e in cat.search("井盖", kind="matter", limit=50)} >= {"01001", "01011"}
    assert all(e.kind == "component" for e in cat.search("井盖", kind="component"))
    assert cat.search("   ") == ()


def test_default_is_cached_and_immutable(cat: Catalogue) -> None:
    assert load_catalogue() is cat
    with pytest.raises(AttributeError):
        cat.entries = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        cat.matter("06010").time_limits["A"] = TimeLimit(1, "working_hours")  # type: ignore[index]


def test_matches_shared_fact_table(cat: Catalogue) -> None:
    if not FACT_TABLE.exists():
        pytest.skip(f"{FACT_TABLE} not present (../shared/data/ is not shipped with the repo)")
    with FACT_TABLE.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    kinds = {"管理部件": "component", "管理事项": "matter"}
    expected = {
        (kinds[r["kind"]], r["code"]): (r["major_code"], r["major_name"], r["name"]) for r in rows
    }
    got = {e.key: (e.major_code, e.major_name, e.name) for e in cat.entries if e.major_name != "本地扩展事项类"}
    assert got == expected  # the standard's entries, exactly; the extension is cityops's own


# --- city overrides ---------------------------------------------------------------------------


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "city.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_override_merges(tmp_path: Path, cat: Catalogue) -> None:
    path = _write(
        tmp_path,
        """
matters:
  "06001": {department: sanitation, time_limits: {A: "2 working_hours", B: "4 工作时", C: "1 working_days"}, verify_on_site: false}
  "06010": {time_limits: {A: "3 工作时"}}
components:
  "01046": {department: greening}
add:
  - {code: "11001", name: 共享充电宝乱象, department: market, time_limits: {A: "2 工作日"}, keywords: [充电宝]}
""",
    )
    city = load_catalogue(path)
    assert len(city.entries) == 405 and len(cat.entries) == 404
    m = city.matter("06001")
    assert (m.department, m.verify_on_site) == ("sanitation", False)
    assert m.time_limits["B"] == TimeLimit(4, "working_hours")
    assert m.time_limits["C"] == TimeLimit(1, "working_days")
    partial = city.matter("06010").time_limits
    assert partial["A"] == TimeLimit(3, "working_hours")
    assert partial["B"] == cat.matter("06010").time_limits["B"]  # untouched classes kept
    assert city.component("01046").department == "greening"
    local = city.matter("11001")
    assert (local.major_code, local.time_limit("C")) == ("11", TimeLimit(2, "working_days"))
    assert city.search("充电宝")[0].code == "11001"
    assert cat.matter("06001").department == "urban_management"  # defaults untouched
    assert city.sources[-1] == str(path)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ('matters: {"99999": {department: sanitation}}', ["99999", "unknown matter code", "未知"]),
        (
            'matters: {"06001": {department: police}}',
            ["06001", "department", "unknown department key 'police'"],
        ),
        (
            'matters: {"06001": {time_limits: {A: "4 fortnights"}}}',
            ["time_limits.A", "unknown unit"],
        ),
        ('matters: {"06001": {time_limits: {A: "0 working_days"}}}', ["time_limits.A", "positive"]),
        (
            'matters: {"06001": {time_limits: {A: "-2 working_days"}}}',
            ["time_limits.A", "positive"],
        ),
        (
            'matters: {"06001": {time_limits: {D: "2 working_days"}}}',
            ["time_limits.D", "A, B or C"],
        ),
        ('matters: {"06001": {time_limits: {A: 4}}}', ["time_limits.A", "expected text"]),
        ('matters: {"06001": {colour: red}}', ["colour", "unknown field"]),
        ('matters: {"06001": {verify_on_site: maybe}}', ["verify_on_site", "true or false"]),
        ('matters: {"6001": {department: sanitation}}', ["5 digits"]),
        ('components: {"06001": {department: roads}}', ["unknown component code"]),
        (
            'add: [{code: "06010", name: x, department: sanitation, time_limits: {A: "1 working_days"}}]',
            ["06010", "already exists"],
        ),
        ('add: [{code: "11001", name: x, department: sanitation}]', ["11001", "needs time limits"]),
        (
            'add: [{code: "11001", department: sanitation, time_limits: {A: "1 working_days"}}]',
            ["'name'", "missing"],
        ),
        (
            'add: [{code: "11001", name: x, department: nope, time_limits: {A: "1 working_days"}}]',
            ["nope"],
        ),
        ("rules: []", ["unknown section"]),
        ("- just a list", ["top level must be a mapping"]),
        ("matters: {a: [", ["not valid YAML"]),
    ],
)
def test_override_errors(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
    assert info.value.message_zh and info.value.message_en


def test_override_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="cannot read"):
        load_catalogue(tmp_path / "absent.yaml")


def test_empty_override_changes_nothing(tmp_path: Path, cat: Catalogue) -> None:
    assert load_catalogue(_write(tmp_path, "")).entries == cat.entries


# --- time-limit text --------------------------------------------------------------------------


@given(
    amount=st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False)
    | st.integers(min_value=1, max_value=10_000).map(float),
    unit=st.sampled_from(TIME_UNITS),
)
def test_time_limit_text_round_trip(amount: float, unit: str) -> None:
    limit = TimeLimit(amount, unit)  # type: ignore[arg-type]
    text = format_time_limit(limit)
    assert parse_time_limit(text) == limit
    assert format_time_limit(parse_time_limit(text)) == text


@given(
    amount=st.integers(min_value=1, max_value=999),
    unit=st.sampled_from(["工作时", "工作日", "小时"]),
    space=st.sampled_from(["", " ", "  "]),
)
def test_time_limit_zh_units(amount: int, unit: str, space: str) -> None:
    expected = {"工作时": "working_hours", "工作日": "working_days", "小时": "calendar_hours"}[unit]
    assert parse_time_limit(f"{amount}{space}{unit}") == TimeLimit(amount, expected)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    ["", "4", "working_hours", "0 小时", "-1 工作日", "4 weeks", "nan 小时", "4 working hours"],
)
def test_time_limit_rejects(text: str) -> None:
    with pytest.raises(TimeLimitSyntaxError):
        parse_time_limit(text)


# --- legacy codes -----------------------------------------------------------------------------


def test_legacy_mapping(cat: Catalogue) -> None:
    assert map_legacy("道路积水") == "01004"
    assert map_legacy("路面塌陷") == "06013"
    assert map_legacy("路面塌陷（区管）") == "06013"  # city qualifiers in parentheses
    assert map_legacy("道路塌陷") == "06013"
    assert map_legacy("积雪结冰") == map_legacy("积雪、结冰") == "10001"
    assert map_legacy("上水井盖") == "01001"
    assert map_legacy("火灾") is None
    table = legacy_table()
    assert len(table) >= 100
    assert ("事件/突发事件", "道路积水", "01004") in table
    for _group, _name, code in table:
        cat.matter(code)  # every target exists


def test_city_legacy_file_with_codes(tmp_path: Path) -> None:
    path = tmp_path / "legacy.yaml"
    path.write_text(
        'rows:\n  - {group: 事件/突发事件, name: 道路积水, codes: ["0406"], matter: "01004"}\n',
        encoding="utf-8",
    )
    table = load_legacy(path)
    assert table.map("0406") == table.map("道路积水") == "01004"
    path.write_text("rows:\n  - {name: 道路积水, matter: 1004}\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match="matter"):
        load_legacy(path)


# --- export and CLI ---------------------------------------------------------------------------


def test_export_csv_round_trip(cat: Catalogue) -> None:
    out = io.StringIO()
    assert export_csv(cat, out) == 404
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == 404
    assert Counter(r["kind"] for r in rows) == {"component": 153, "matter": 251}
    garbage = next(r for r in rows if r["kind"] == "matter" and r["code"] == "06010")
    assert garbage["time_limit_A"] == "4 working_hours"
    assert garbage["department_name"] == "环境卫生"
    assert garbage["verify_on_site"] == "true"
    for row in rows:
        if row["kind"] == "matter":
            assert parse_time_limit(row["time_limit_C"]) == cat.matter(row["code"]).time_limit("C")


def test_export_json(cat: Catalogue) -> None:
    out = io.StringIO()
    export_json(cat, out)
    data = json.loads(out.getvalue())
    assert len(data["entries"]) == 404


def test_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(catalogue_cli, ["export", "--format", "csv"])
    assert result.exit_code == 0
    assert len(list(csv.DictReader(io.StringIO(result.output)))) == 404
    override = _write(tmp_path, 'matters: {"06010": {time_limits: {A: "1 工作时"}}}')
    result = runner.invoke(
        catalogue_cli, ["export", "--format", "json", "--override", str(override)]
    )
    assert result.exit_code == 0
    limits = {
        e["code"]: e["time_limits"]
        for e in json.loads(result.output)["entries"]
        if e["kind"] == "matter"
    }
    assert limits["06010"]["A"] == "1 working_hours"
    result = runner.invoke(catalogue_cli, ["show", "06010"])
    assert (
        result.exit_code == 0 and "暴露垃圾" in result.output and "4 working_hours" in result.output
    )
    result = runner.invoke(catalogue_cli, ["show", "01037", "--kind", "component"])
    assert "路灯" in result.output and "异常" not in result.output
    result = runner.invoke(catalogue_cli, ["show", "99999"])
    assert result.exit_code != 0 and "unknown code" in result.output
    bad = _write(tmp_path, 'matters: {"06010": {department: x}}')
    result = runner.invoke(catalogue_cli, ["export", "--override", str(bad)])
    assert result.exit_code != 0 and "unknown department key" in result.output
    result = runner.invoke(catalogue_cli, ["search", "井盖丢失"])
    assert result.exit_code == 0 and "井盖" in result.output
    assert runner.invoke(catalogue_cli, ["export", "--format", "table"]).exit_code == 0
