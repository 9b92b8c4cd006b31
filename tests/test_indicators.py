"""综合评价 indicators: hand-computed fixture, the 天门 2016-12 report, properties, rendering."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from cityops.evaluate.indicators import (
    CASE_SCHEMA,
    COUNT_COLUMNS,
    HOUR_COLUMNS,
    INDICATOR_COLUMNS,
    LABELS,
    RATE_COLUMNS,
    TOTAL_KEY,
    compute_indicators,
)
from cityops.evaluate.report import header, to_csv, to_records, to_table

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "indicators_hand.yaml"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    times = [c for c, t in CASE_SCHEMA.items() if isinstance(t, pl.Datetime)]
    parsed = [{k: (_ts(v) if k in times else v) for k, v in row.items()} for row in rows]
    return pl.DataFrame(parsed, schema=CASE_SCHEMA)


@pytest.fixture(scope="module")
def hand() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
    data["frame"] = _frame(data["cases"])
    return data


def _assert_rows(actual: pl.DataFrame, expected: list[dict[str, Any]]) -> None:
    assert actual.height == len(expected)
    for got, want in zip(actual.to_dicts(), expected, strict=True):
        assert set(got) == set(want)
        for column, value in want.items():
            if column in RATE_COLUMNS or column in HOUR_COLUMNS:
                if value is None:
                    assert got[column] is None, column
                else:
                    assert got[column] == pytest.approx(float(Fraction(value)), abs=1e-12), column
            else:
                assert got[column] == value, (want, column)


# --- hand-computed fixture ------------------------------------------------------------


@pytest.mark.parametrize("by", ["district", "department", "city"])
def test_hand_fixture(hand: dict[str, Any], by: str) -> None:
    period = hand["period"]
    out = compute_indicators(
        hand["frame"],
        by,  # type: ignore[arg-type]
        as_of=_ts(hand["as_of"]),  # type: ignore[arg-type]
        start=_ts(period["start"]),
        end=_ts(period["end"]),
    )
    _assert_rows(out, hand["expected"][by])


def test_hand_fixture_all_time(hand: dict[str, Any]) -> None:
    out = compute_indicators(hand["frame"], "city", as_of=_ts(hand["as_of"]))  # type: ignore[arg-type]
    _assert_rows(out, hand["expected_all_time_city"])


def test_total_row_follows_groups(hand: dict[str, Any]) -> None:
    period = hand["period"]
    out = compute_indicators(
        hand["frame"],
        "department",
        as_of=_ts(hand["as_of"]),  # type: ignore[arg-type]
        start=_ts(period["start"]),
        end=_ts(period["end"]),
        total=True,
    )
    city = [{**hand["expected"]["city"][0]}]
    city[0]["department"] = city[0].pop("city")
    _assert_rows(out, hand["expected"]["department"] + city)
    assert out["department"].to_list()[-1] == TOTAL_KEY


def test_aware_non_utc_bounds_are_converted(hand: dict[str, Any]) -> None:
    cst = timezone(timedelta(hours=8))
    out = compute_indicators(
        hand["frame"],
        "city",
        as_of=datetime(2024, 3, 10, 8, tzinfo=cst),  # == 2024-03-10T00:00Z
        start=datetime(2024, 3, 1, 8, tzinfo=cst),
        end=datetime(2024, 4, 1, 8, tzinfo=cst),
    )
    _assert_rows(out, hand["expected"]["city"])


# --- the 天门 2016-12 monthly report (DESIGN.md §4) ------------------------------------


def _tianmen() -> pl.DataFrame:
    """受理 1054, 立案 996, 应结案 972, 结案 911 (737 on time), 24 registered and not yet due."""
    accepted, registered, closed, on_time, due_open, not_due = 1054, 996, 911, 737, 61, 24
    assert closed + due_open + not_due == registered
    as_of = datetime(2017, 1, 1, tzinfo=UTC)
    reported = datetime(2016, 12, 10, tzinfo=UTC)
    n = pl.int_range(0, accepted, eager=True)
    is_reg = n < registered
    is_closed = n < closed
    frame = pl.DataFrame({"case_id": n.cast(pl.Int64)}).with_columns(
        district=pl.lit("429006"),
        grid=pl.lit("429006001001001"),
        department=pl.when(is_reg).then(pl.lit("城管局")),
        status=pl.when(is_closed)
        .then(pl.lit("closed"))
        .when(is_reg)
        .then(pl.lit("dispatched"))
        .otherwise(pl.lit("rejected")),
        reported_at=pl.lit(reported),
        registered_at=pl.when(is_reg).then(pl.lit(reported + timedelta(hours=1))),
        dispatched_at=pl.when(is_reg).then(pl.lit(reported + timedelta(hours=2))),
        # the last `not_due` registered cases fall due after the month's as_of
        due_at=pl.when(n < registered - not_due)
        .then(pl.lit(reported + timedelta(hours=6)))
        .when(is_reg)
        .then(pl.lit(as_of + timedelta(days=2))),
        disposed_at=pl.when(is_closed).then(pl.lit(reported + timedelta(hours=5))),
        closed_at=pl.when(is_closed).then(pl.lit(reported + timedelta(hours=7))),
        rework_count=pl.lit(0, dtype=pl.Int64),
        accepted_at=pl.lit(None, dtype=pl.Datetime("us", "UTC")),
        overdue_disposed=pl.when(is_closed).then(n >= on_time),
    )
    return frame.cast(CASE_SCHEMA)  # type: ignore[arg-type]


def test_tianmen_2016_12() -> None:
    out = compute_indicators(
        _tianmen(),
        "city",
        as_of=datetime(2017, 1, 1, tzinfo=UTC),
        start=datetime(2016, 12, 1, tzinfo=UTC),
        end=datetime(2017, 1, 1, tzinfo=UTC),
    ).row(0, named=True)
    assert (out["accepted"], out["registered"], out["due_to_close"]) == (1054, 996, 972)
    assert (out["closed"], out["closed_on_time"]) == (911, 737)
    assert round(out["close_rate"] * 100, 2) == 93.72
    assert round(out["on_time_close_rate"] * 100, 2) == 75.82
    assert "93.72 %" in _render(to_table(pl.DataFrame([out])))


# --- contract and edge cases ------------------------------------------------------------


def test_empty_frame() -> None:
    empty = pl.DataFrame(schema=CASE_SCHEMA)
    city = compute_indicators(empty, "city", as_of=T0)
    assert city.height == 1
    row = city.row(0, named=True)
    assert all(row[c] == 0 for c in COUNT_COLUMNS)
    assert all(row[c] is None for c in RATE_COLUMNS + HOUR_COLUMNS)
    district = compute_indicators(empty, "district", as_of=T0)
    assert district.height == 0
    assert district.columns == ["district", *INDICATOR_COLUMNS]


def test_rejects_bad_input(hand: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_indicators(hand["frame"], "city", as_of=datetime(2024, 3, 10))
    with pytest.raises(ValueError, match="lacks columns"):
        compute_indicators(hand["frame"].drop("due_at"), "city", as_of=T0)
    with pytest.raises(ValueError, match="unknown grouping"):
        compute_indicators(hand["frame"], "street", as_of=T0)  # type: ignore[arg-type]


def test_labels_cover_every_column() -> None:
    keys = ("district", "department", "grid", "city")
    assert set(LABELS) == {*keys, *INDICATOR_COLUMNS}
    assert LABELS["close_rate"] == ("结案率", "close rate")


# --- rendering ---------------------------------------------------------------------------


def _render(table: Any) -> str:
    console = Console(width=400, record=True, file=io.StringIO())
    console.print(table)
    return console.export_text()


def test_csv_headers_and_decimals(hand: dict[str, Any]) -> None:
    out = compute_indicators(hand["frame"], "city", as_of=_ts(hand["as_of"]))  # type: ignore[arg-type]
    buf = io.StringIO()
    to_csv(out, buf)
    head, row = buf.getvalue().splitlines()
    assert head.split(",")[:2] == ["全市 city", "受理数 accepted"]
    assert "结案率 close_rate" in head.split(",")
    cells = dict(zip(head.split(","), row.split(","), strict=True))
    assert cells["结案率 close_rate"] == "0.6364"  # 7/11
    assert cells["按期处置率 on_time_dispose_rate"] == "0.4167"  # 5/12
    assert cells["平均处置用时(小时) avg_handle_hours"] == "10.0000"
    en = io.StringIO()
    to_csv(out, en, lang="en")
    assert en.getvalue().startswith("city,accepted,registered,")
    assert header("close_rate", "zh") == "结案率"


def test_csv_writes_nulls_empty(hand: dict[str, Any]) -> None:
    out = compute_indicators(hand["frame"], "department", as_of=_ts(hand["as_of"]))  # type: ignore[arg-type]
    buf = io.StringIO()
    to_csv(out, buf, lang="en")
    last = buf.getvalue().splitlines()[-1].split(",")
    assert last[0] == "" and last[out.columns.index("dispose_rate")] == ""


def test_table_percentages(hand: dict[str, Any]) -> None:
    out = compute_indicators(
        hand["frame"],
        "district",
        as_of=_ts(hand["as_of"]),  # type: ignore[arg-type]
        start=_ts(hand["period"]["start"]),
        total=True,
    )
    text = _render(to_table(out, title="综合评价"))
    assert "83.33 %" in text  # 420102 close rate 5/6
    assert "全市 city" in text and "结案率" in text and "close rate" in text


def test_records_are_json_ready(hand: dict[str, Any]) -> None:
    out = compute_indicators(hand["frame"], "department", as_of=_ts(hand["as_of"]))  # type: ignore[arg-type]
    records = to_records(out)
    assert records[-1]["department"] is None and records[-1]["dispose_rate"] is None
    assert json.loads(json.dumps(records)) == records


# --- properties ----------------------------------------------------------------------------

_hours = st.none() | st.integers(min_value=0, max_value=24 * 60)
_case = st.fixed_dictionaries(
    {
        "district": st.sampled_from(["420102", "420103", "420104"]),
        "grid": st.sampled_from(["420102001001001", "420103001001001", "420104001001001"]),
        "department": st.none() | st.sampled_from(["roads", "sanitation", "water"]),
        "status": st.sampled_from(
            [
                "reported",
                "rejected",
                "registered",
                "dispatched",
                "disposing",
                "suspended",
                "reported_back",
                "closed",
                "merged",
            ]
        ),
        "reported_at": st.integers(min_value=0, max_value=24 * 60),
        "registered_at": _hours,
        "dispatched_at": _hours,
        "due_at": _hours,
        "disposed_at": _hours,
        "closed_at": _hours,
        "rework_count": st.integers(min_value=0, max_value=3),
        "accepted_at": _hours,
        "overdue_disposed": st.none() | st.booleans(),
    }
)


def _synthetic(rows: list[dict[str, Any]]) -> pl.DataFrame:
    def at(h: int | None) -> datetime | None:
        return None if h is None else T0 + timedelta(hours=h)

    times = [c for c, t in CASE_SCHEMA.items() if isinstance(t, pl.Datetime)]
    data = [
        {"case_id": i, **{k: (at(v) if k in times else v) for k, v in row.items()}}
        for i, row in enumerate(rows)
    ]
    return pl.DataFrame(data, schema=CASE_SCHEMA)


_frames = st.lists(_case, max_size=40).map(_synthetic)
_as_of = st.integers(min_value=0, max_value=24 * 60).map(lambda h: T0 + timedelta(hours=h))


@settings(max_examples=80, deadline=None)
@given(_frames, _as_of, st.sampled_from(["district", "department", "grid", "city"]))
def test_rates_and_orderings(frame: pl.DataFrame, as_of: datetime, by: str) -> None:
    out = compute_indicators(frame, by, as_of=as_of)  # type: ignore[arg-type]
    for rate in RATE_COLUMNS:
        values = out[rate].drop_nulls()
        assert ((values >= 0) & (values <= 1)).all()
    for row in out.iter_rows(named=True):
        assert row["closed_on_time"] <= row["closed"] <= row["due_to_close"] <= row["registered"]
        assert row["disposed_on_time"] <= row["disposed"] <= row["to_dispose"]
        # A failed verification puts a disposed case back with its department, where it can be
        # overdue again (the case API's overdue): disposed + overdue_pending may exceed to_dispose.
        assert row["overdue_pending"] <= row["to_dispose"]
        assert row["reworked"] <= row["due_to_close"]
        assert row["dispatched"] <= row["accepted"] and row["registered"] <= row["accepted"]
        for rate, den in (("close_rate", "due_to_close"), ("dispose_rate", "to_dispose")):
            assert (row[rate] is None) == (row[den] == 0)


@settings(max_examples=80, deadline=None)
@given(_frames, _as_of, st.sampled_from(["district", "department", "grid"]))
def test_groups_sum_to_city(frame: pl.DataFrame, as_of: datetime, by: str) -> None:
    groups = compute_indicators(frame, by, as_of=as_of)  # type: ignore[arg-type]
    city = compute_indicators(frame, "city", as_of=as_of)
    assert groups.select(COUNT_COLUMNS).sum().row(0) == city.select(COUNT_COLUMNS).row(0)
    with_total = compute_indicators(frame, by, as_of=as_of, total=True)  # type: ignore[arg-type]
    assert with_total.tail(1).select(INDICATOR_COLUMNS).equals(city.select(INDICATOR_COLUMNS))


@settings(max_examples=80, deadline=None)
@given(
    _frames,
    _as_of,
    st.lists(st.integers(min_value=0, max_value=24 * 60), min_size=3, max_size=3).map(sorted),
)
def test_periods_partition(frame: pl.DataFrame, as_of: datetime, cuts: list[int]) -> None:
    a, b, c = (T0 + timedelta(hours=h) for h in cuts)

    def counts(start: datetime | None, end: datetime | None) -> tuple[int, ...]:
        out = compute_indicators(frame, "city", as_of=as_of, start=start, end=end)
        return tuple(out.select(COUNT_COLUMNS).row(0))

    def add(x: tuple[int, ...], y: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(p + q for p, q in zip(x, y, strict=True))

    assert add(counts(a, b), counts(b, c)) == counts(a, c)
    assert add(counts(None, b), counts(b, None)) == counts(None, None)
