"""Working calendar and deadline clock: examples on real 2025–2026 holidays, plus properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityops.cases.calendar import (
    CHINA_2025_2026_HOLIDAYS,
    CHINA_2025_2026_MAKEUP_WORKDAYS,
    CalendarError,
    WorkingCalendar,
    china_calendar,
)
from cityops.cases.deadline import (
    classify,
    due_at,
    extend,
    overdue_mask,
    remaining,
    remaining_hours,
    shift_for_suspension,
    state,
    warning_mask,
)
from cityops.catalog.models import TimeLimit

SH = ZoneInfo("Asia/Shanghai")
CN = china_calendar()
KOLKATA = WorkingCalendar(tz="Asia/Kolkata")  # no DST, a +05:30 offset
OPS = WorkingCalendar.round_the_clock()
CALENDARS = [
    CN,
    WorkingCalendar(),
    KOLKATA,
    OPS,
    WorkingCalendar(work_periods=(("08:30", "12:00"), ("14:00", "18:00"), ("19:00", "21:00"))),
]


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SH)


def utc64(dt: datetime) -> np.datetime64:
    return np.datetime64(dt.astimezone(UTC).replace(tzinfo=None), "us")


# -- strategies ---------------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2026, 12, 31),
    timezones=st.sampled_from([SH, UTC, ZoneInfo("Asia/Kolkata")]),
)
# Whole seconds keep float hours exact in µs, so sums can be compared with ==.
hours = st.integers(0, 3600 * 120).map(lambda s: s / 3600)
positive_hours = st.integers(1, 3600 * 120).map(lambda s: s / 3600)
days = st.integers(0, 4 * 40).map(lambda q: q / 4)
calendars = st.sampled_from(CALENDARS)
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def at_period_end(cal: WorkingCalendar, dt: datetime) -> bool:
    local = dt.astimezone(cal.zone)
    ends = {e for _, e in cal.work_periods}
    if "24:00" in ends and local.time() == datetime.min.time():
        return cal.is_working_day(local.date() - timedelta(days=1))
    return cal.is_working_day(local.date()) and local.strftime("%H:%M:%S.%f") in {
        f"{e}:00.000000" for e in ends
    }


# -- examples -------------------------------------------------------------------------------------


def test_friday_afternoon_plus_four_hours_is_monday_1130() -> None:
    assert WorkingCalendar().add_working_hours(sh(2026, 3, 6, 16, 0), 4) == sh(2026, 3, 9, 11, 30)


def test_lunch_break_and_period_end() -> None:
    cal = WorkingCalendar()
    assert cal.add_working_hours(sh(2026, 3, 4, 11, 0), 2) == sh(2026, 3, 4, 14, 30)
    assert cal.add_working_hours(sh(2026, 3, 4, 11, 0), 1) == sh(2026, 3, 4, 12, 0)
    assert cal.day_hours == 7.0
    assert cal.next_working_start(sh(2026, 3, 4, 12, 0)) == sh(2026, 3, 4, 13, 30)
    assert not cal.is_working_time(sh(2026, 3, 4, 12, 0))
    assert cal.is_working_time(sh(2026, 3, 4, 9, 0))


def test_national_day_2026() -> None:
    # 10-01..10-07 off; 09-20 (Sun) and 10-10 (Sat) are worked.
    assert CN.add_working_hours(sh(2026, 9, 30, 16, 0), 4) == sh(2026, 10, 8, 11, 30)
    assert CN.add_working_days(sh(2026, 9, 30, 10, 0), 3) == sh(2026, 10, 10, 10, 0)
    assert CN.is_working_day(date(2026, 9, 20)) and CN.is_working_day(date(2026, 10, 10))
    assert not any(CN.is_working_day(date(2026, 10, d)) for d in range(1, 8))
    assert CN.working_hours_between(sh(2026, 9, 30, 17, 30), sh(2026, 10, 8, 9, 0)) == 0.0


def test_spring_festival_2026_with_makeup_saturdays() -> None:
    # 02-15..02-23 off; Saturdays 02-14 and 02-28 are worked.
    assert CN.add_working_hours(sh(2026, 2, 13, 16, 0), 4) == sh(2026, 2, 14, 11, 30)
    assert CN.add_working_hours(sh(2026, 2, 14, 16, 0), 4) == sh(2026, 2, 24, 11, 30)
    assert CN.add_working_days(sh(2026, 2, 13, 10, 0), 2) == sh(2026, 2, 24, 10, 0)
    assert CN.add_working_days(sh(2026, 2, 27, 10, 0), 1) == sh(2026, 2, 28, 10, 0)
    assert CN.add_working_days(sh(2026, 2, 28, 10, 0), 1) == sh(2026, 3, 2, 10, 0)
    assert WorkingCalendar().add_working_days(sh(2026, 2, 13, 10, 0), 2) == sh(2026, 2, 17, 10, 0)


def test_spring_festival_2025_makeup_sunday() -> None:
    assert CN.is_working_day(date(2025, 1, 26))  # a Sunday, worked
    assert CN.add_working_hours(sh(2025, 1, 24, 16, 0), 4) == sh(2025, 1, 26, 11, 30)
    assert CN.add_working_hours(sh(2025, 1, 27, 16, 0), 4) == sh(2025, 2, 5, 11, 30)


def test_china_data_is_consistent() -> None:
    assert len(CHINA_2025_2026_HOLIDAYS) == 28 + 33
    assert all(d.weekday() >= 5 for d in CHINA_2025_2026_MAKEUP_WORKDAYS)
    assert not CHINA_2025_2026_HOLIDAYS & CHINA_2025_2026_MAKEUP_WORKDAYS


def test_working_days_fractions_and_off_hours_start() -> None:
    cal = WorkingCalendar()
    assert cal.add_working_days(sh(2026, 3, 6, 16, 0), 0.5) == sh(2026, 3, 9, 11, 0)
    assert cal.add_working_days(sh(2026, 3, 6, 18, 0), 1) == sh(2026, 3, 10, 9, 0)
    assert cal.add_working_days(sh(2026, 3, 7, 10, 0), 2) == sh(2026, 3, 11, 9, 0)  # Saturday


def test_naive_datetime_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CN.add_working_hours(datetime(2026, 3, 6, 16, 0), 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        due_at(datetime(2026, 3, 6), TimeLimit(1, "calendar_hours"), CN)
    with pytest.raises(ValueError, match="timezone-aware"):
        overdue_mask(np.array([utc64(sh(2026, 1, 5))]), datetime(2026, 1, 5))


def test_other_dst_free_zone_and_results_in_calendar_zone() -> None:
    ist = ZoneInfo("Asia/Kolkata")
    got = KOLKATA.add_working_hours(datetime(2026, 3, 6, 16, 0, tzinfo=ist), 4)
    assert got == datetime(2026, 3, 9, 11, 30, tzinfo=ist)
    assert got.tzinfo == ist
    # A Shanghai instant (13:30 = 11:00 IST) goes through Kolkata working time.
    assert KOLKATA.add_working_hours(sh(2026, 3, 6, 13, 30), 1) == datetime(
        2026, 3, 6, 12, 0, tzinfo=ist
    )
    assert CN.add_working_hours(datetime(2026, 3, 6, 8, 0, tzinfo=UTC), 1).utcoffset() == timedelta(
        hours=8
    )


def test_zone_with_dst_counts_elapsed_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    ops = WorkingCalendar.round_the_clock("Europe/Berlin")
    start = datetime(2026, 3, 28, 12, 0, tzinfo=berlin)  # clocks jump 02:00→03:00 on 03-29
    assert ops.add_working_hours(start, 24) == datetime(2026, 3, 29, 13, 0, tzinfo=berlin)
    assert ops.add_working_days(start, 1) == datetime(2026, 3, 29, 12, 0, tzinfo=berlin)
    office = WorkingCalendar(tz="Europe/Berlin")
    assert office.add_working_hours(datetime(2026, 3, 27, 16, 0, tzinfo=berlin), 4) == datetime(
        2026, 3, 30, 11, 30, tzinfo=berlin
    )
    autumn = datetime(2026, 10, 24, 12, 0, tzinfo=berlin)  # 03:00→02:00 on 10-25
    assert ops.working_hours_between(autumn, autumn + timedelta(days=1)) == 25.0


def test_due_at_units() -> None:
    s = sh(2026, 3, 6, 16, 0)
    assert due_at(s, TimeLimit(4, "working_hours"), CN) == sh(2026, 3, 9, 11, 30)
    assert due_at(s, TimeLimit(2, "working_days"), CN) == sh(2026, 3, 10, 16, 0)
    assert due_at(s, TimeLimit(4, "calendar_hours"), CN) == sh(2026, 3, 6, 20, 0)


def test_extend_and_suspend() -> None:
    due = sh(2026, 3, 9, 11, 30)
    assert extend(due, 2, "working_hours", CN) == sh(2026, 3, 9, 15, 0)
    assert extend(due, 1, "working_days", CN) == sh(2026, 3, 10, 11, 30)
    with pytest.raises(ValueError):
        extend(due, 0, "working_hours", CN)
    # Suspended Mon 10:00, resumed Tue 10:00: 7 working hours come back.
    assert shift_for_suspension(due, sh(2026, 3, 9, 10), sh(2026, 3, 10, 10), CN) == sh(
        2026, 3, 10, 11, 30
    )
    # Suspended over a weekend only: nothing changes.
    assert shift_for_suspension(due, sh(2026, 3, 7, 10), sh(2026, 3, 8, 10), CN) == due
    with pytest.raises(ValueError, match="before"):
        shift_for_suspension(due, sh(2026, 3, 10), sh(2026, 3, 9), CN)


def test_vectorised_examples() -> None:
    now = sh(2026, 3, 6, 16, 0)
    due = np.array(
        [
            utc64(sh(2026, 3, 6, 15)),
            utc64(sh(2026, 3, 9, 9, 30)),
            utc64(sh(2026, 3, 12, 9)),
            np.datetime64("NaT"),
        ],
        dtype="datetime64[us]",
    )
    assert overdue_mask(due, now).tolist() == [True, False, False, False]
    assert warning_mask(due, now, 2, CN).tolist() == [False, True, False, False]
    assert classify(due, now, 2, CN).tolist() == ["overdue", "due_soon", "on_time", "on_time"]
    left = remaining_hours(due, now, CN)
    assert left[:3].tolist() == [-1.0, 2.0, 22.5] and np.isnan(left[3])


def test_due_at_period_end_counts_as_due_soon_until_next_start() -> None:
    now = sh(2026, 3, 6, 16, 0)  # 1.5 working hours to Friday 17:30, then the weekend
    due = np.array(
        [utc64(sh(2026, 3, 7, 12)), utc64(sh(2026, 3, 9, 9)), utc64(sh(2026, 3, 9, 9, 1))],
        dtype="datetime64[us]",
    )
    assert warning_mask(due, now, 1.5, CN).tolist() == [True, True, False]


# -- configuration ----------------------------------------------------------------------------------


def test_from_config() -> None:
    cal = WorkingCalendar.from_config(
        {
            "timezone": "Asia/Shanghai",
            "work_periods": [["08:30", "12:00"], ["14:00", "17:30"]],
            "weekend": [6],
            "holidays": ["2026-04-20"],
            "makeup_workdays": [],
        }
    )
    assert cal.day_hours == 7.0
    assert cal.is_working_day(date(2026, 3, 7))  # Saturday works in this city
    assert not cal.is_working_day(date(2026, 4, 20))
    national = WorkingCalendar.from_config({"national_holidays": True, "holidays": ["2026-03-02"]})
    assert national.holidays == CN.holidays | {date(2026, 3, 2)}
    assert national.makeup_workdays == CN.makeup_workdays
    assert WorkingCalendar.from_config({}) == WorkingCalendar()
    assert WorkingCalendar.from_config({"work_periods": [["00:00", "24:00"]], "weekend": []}) == OPS


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"timezone": 8}, "timezone must be a string"),
        ({"work_periods": [["09:00", "25:00"]]}, "HH:MM"),
        ({"work_periods": [["9:00", "12:00"]]}, "HH:MM"),
        ({"work_periods": [["24:30", "24:40"]]}, "HH:MM"),
        ({"work_periods": [["12:00", "09:00"]]}, "start must precede"),
        ({"work_periods": [["09:00", "12:00"], ["11:00", "13:00"]]}, "sorted and disjoint"),
        ({"work_periods": []}, "at least one"),
        ({"work_periods": "09:00-17:00"}, "pairs"),
        ({"weekend": [7]}, "0–6"),
        ({"weekend": "6"}, "list of ints"),
        ({"holidays": ["2026-13-01"]}, "invalid date"),
        ({"holidays": "2026-01-01"}, "list of dates"),
        ({"holidays": ["2026-03-07"], "makeup_workdays": ["2026-03-07"]}, "both holiday"),
        ({"makeup_workdays": ["2026-03-09"]}, "must fall on a weekend"),
        ({"national_holidays": "yes"}, "true or false"),
        ({"holiday": []}, "unknown calendar keys"),
    ],
)
def test_invalid_config(config: dict[str, object], message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        WorkingCalendar.from_config(config)


def test_calendar_without_working_time() -> None:
    never = WorkingCalendar(weekend=frozenset(range(7)))
    with pytest.raises(CalendarError, match="not enough working time"):
        never.add_working_hours(sh(2026, 1, 5), 1)
    assert never.add_working_hours(sh(2026, 1, 5), 0) == sh(2026, 1, 5)


# -- properties ---------------------------------------------------------------------------------


@PROPS
@given(cal=calendars, start=instants, h=hours, d=days)
def test_due_not_before_start(cal: WorkingCalendar, start: datetime, h: float, d: float) -> None:
    assert cal.add_working_hours(start, h) >= start
    assert cal.add_working_days(start, d) >= start
    for unit, amount in (("working_hours", h), ("working_days", d), ("calendar_hours", h)):
        if amount > 0:
            assert due_at(start, TimeLimit(amount, unit), cal) >= start  # type: ignore[arg-type]


@PROPS
@given(cal=calendars, start=instants, h1=hours, h2=hours)
def test_additive(cal: WorkingCalendar, start: datetime, h1: float, h2: float) -> None:
    assert cal.add_working_hours(cal.add_working_hours(start, h1), h2) == cal.add_working_hours(
        start, h1 + h2
    )


@PROPS
@given(cal=calendars, start=instants, h=st.floats(0, 500, allow_nan=False))
def test_between_inverts_add(cal: WorkingCalendar, start: datetime, h: float) -> None:
    assert abs(cal.working_hours_between(start, cal.add_working_hours(start, h)) - h) < 1 / 3600


@PROPS
@given(cal=calendars, a=instants, b=instants)
def test_between_is_signed(cal: WorkingCalendar, a: datetime, b: datetime) -> None:
    ab = cal.working_hours_between(a, b)
    assert ab == -cal.working_hours_between(b, a)
    assert (ab >= 0) == (b >= a) or ab == 0


@PROPS
@given(cal=calendars, start=instants, h=positive_hours)
def test_lands_in_working_time_or_period_end(
    cal: WorkingCalendar, start: datetime, h: float
) -> None:
    got = cal.add_working_hours(start, h)
    assert cal.is_working_time(got) or at_period_end(cal, got)
    assert got.tzinfo == cal.zone


@PROPS
@given(cal=calendars, s1=instants, s2=instants, h1=hours, h2=hours, d1=days, d2=days)
def test_monotonic(
    cal: WorkingCalendar, s1: datetime, s2: datetime, h1: float, h2: float, d1: float, d2: float
) -> None:
    s1, s2 = sorted((s1, s2))
    h1, h2 = sorted((h1, h2))
    d1, d2 = sorted((d1, d2))
    assert cal.add_working_hours(s1, h1) <= cal.add_working_hours(s2, h1)
    assert cal.add_working_hours(s1, h1) <= cal.add_working_hours(s1, h2)
    assert cal.add_working_days(s1, d1) <= cal.add_working_days(s2, d1)
    assert cal.add_working_days(s1, d1) <= cal.add_working_days(s1, d2)


@PROPS
@given(cal=calendars, start=instants, d=days)
def test_working_day_is_day_hours(cal: WorkingCalendar, start: datetime, d: float) -> None:
    got = cal.add_working_days(start, d)
    assert cal.working_hours_between(start, got) == pytest.approx(d * cal.day_hours, abs=1e-9)
    if d == int(d) and d > 0:
        assert got.astimezone(cal.zone).time() == cal.next_working_start(start).time()


@PROPS
@given(cal=calendars, start=instants, h=positive_hours)
def test_calendar_hours_are_plain_timedelta(
    cal: WorkingCalendar, start: datetime, h: float
) -> None:
    due = due_at(start, TimeLimit(h, "calendar_hours"), cal)
    assert due.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=h)


@PROPS
@given(cal=calendars, start=instants, h=positive_hours, pause=instants, length=hours)
def test_suspension_stops_the_clock(
    cal: WorkingCalendar, start: datetime, h: float, pause: datetime, length: float
) -> None:
    due = cal.add_working_hours(start, h)
    resumed = pause + timedelta(hours=length)
    shifted = shift_for_suspension(due, pause, resumed, cal)
    assert shifted >= due
    assert remaining(shifted, resumed, cal) == pytest.approx(remaining(due, pause, cal), abs=1e-9)


@PROPS
@given(
    cal=calendars,
    now=instants,
    offsets=st.lists(st.integers(-3600 * 24 * 20, 3600 * 24 * 20), min_size=1, max_size=30),
    within=st.integers(0, 3600 * 40).map(lambda s: s / 3600),
)
def test_vectorised_agrees_with_scalar(
    cal: WorkingCalendar, now: datetime, offsets: list[int], within: float
) -> None:
    dues = [now + timedelta(seconds=o) for o in offsets]
    # Also probe the exact edges of the warning window.
    reach = cal.add_working_hours(now, within)
    dues += [now, reach, cal.next_working_start(reach)]
    arr = np.array([utc64(d) for d in dues], dtype="datetime64[us]")
    got = classify(arr, now, within, cal).tolist()
    assert got == [state(d, now, within, cal) for d in dues]
    assert remaining_hours(arr, now, cal).tolist() == pytest.approx(
        [remaining(d, now, cal) for d in dues], abs=1e-9
    )
    assert overdue_mask(arr, now).tolist() == [s == "overdue" for s in got]


def test_lists_are_coerced_so_calendars_hash() -> None:
    cal = WorkingCalendar(
        work_periods=[["09:00", "12:00"]],  # type: ignore[arg-type]
        weekend={5, 6},  # type: ignore[arg-type]
        holidays=[date(2026, 3, 9)],  # type: ignore[arg-type]
    )
    assert hash(cal) == hash(
        WorkingCalendar(work_periods=(("09:00", "12:00"),), holidays=frozenset({date(2026, 3, 9)}))
    )
    assert cal.add_working_hours(sh(2026, 3, 6, 11), 2) == sh(2026, 3, 10, 10)


def test_years_without_public_holidays_are_named() -> None:
    assert CN.years_without_holidays([2025, 2026, 2027]) == [2027]
    assert WorkingCalendar.round_the_clock().years_without_holidays([2027]) == []


def test_the_server_warns_when_next_years_holidays_are_missing(platform: Any) -> None:
    from cityops.core import calendar_warning

    assert calendar_warning(platform, datetime(2025, 6, 1, tzinfo=UTC)) is None
    warning = calendar_warning(platform, datetime(2026, 11, 27, tzinfo=UTC))
    assert warning is not None and "2027" in warning and "法定节假日" in warning
