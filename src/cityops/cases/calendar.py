"""工作日历 WorkingCalendar: which instants are working time, and the working-time clock.

Working time is a set of intervals (work periods on working days). Periods are written in
local wall time and turned into absolute instants at their edges, so a zone with DST gets the
real elapsed time of each period. Every query runs on an int64 grid of interval edges (UTC
microseconds), built once per calendar year and cached, then searched with `np.searchsorted`:
the same grid serves the scalar methods here and the vectorised ones in `deadline.py`.

Conventions: a period is half-open [start, end); adding working time returns the *earliest*
instant that reaches the target, so a result may sit exactly at a period end (12:00, 17:30).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]

US_PER_HOUR = 3_600_000_000
US_PER_MIN = 60_000_000
US_PER_DAY = 86_400_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_YEARS = 200  # give up looking for working time after this many years
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
_CONFIG_KEYS = {
    "timezone",
    "work_periods",
    "weekend",
    "holidays",
    "makeup_workdays",
    "national_holidays",
    "sources",  # where the holiday dates come from; documentation only
}


class CalendarError(ValueError):
    """工作日历配置无效 / invalid working-calendar configuration."""


def _dates(*spans: tuple[str, str]) -> frozenset[date]:
    out: set[date] = set()
    for first, last in spans:
        d, end = date.fromisoformat(first), date.fromisoformat(last)
        while d <= end:
            out.add(d)
            d += timedelta(days=1)
    return frozenset(out)


# Public holidays and make-up working days (调休上班) of mainland China, from the State Council
# General Office notices: 国务院办公厅关于2025年部分节假日安排的通知 (国办发明电〔2024〕12号,
# 2024-11-12) and 国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04).
CHINA_2025_2026_HOLIDAYS: frozenset[date] = _dates(
    ("2025-01-01", "2025-01-01"),  # 元旦
    ("2025-01-28", "2025-02-04"),  # 春节
    ("2025-04-04", "2025-04-06"),  # 清明节
    ("2025-05-01", "2025-05-05"),  # 劳动节
    ("2025-05-31", "2025-06-02"),  # 端午节
    ("2025-10-01", "2025-10-08"),  # 国庆节、中秋节
    ("2026-01-01", "2026-01-03"),  # 元旦
    ("2026-02-15", "2026-02-23"),  # 春节
    ("2026-04-04", "2026-04-06"),  # 清明节
    ("2026-05-01", "2026-05-05"),  # 劳动节
    ("2026-06-19", "2026-06-21"),  # 端午节
    ("2026-09-25", "2026-09-27"),  # 中秋节
    ("2026-10-01", "2026-10-07"),  # 国庆节
)
CHINA_2025_2026_MAKEUP_WORKDAYS: frozenset[date] = frozenset(
    date.fromisoformat(d)
    for d in (
        "2025-01-26",
        "2025-02-08",
        "2025-04-27",
        "2025-09-28",
        "2025-10-11",
        "2026-01-04",
        "2026-02-14",
        "2026-02-28",
        "2026-05-09",
        "2026-09-20",
        "2026-10-10",
    )
)
CHINA_2025_2026_SOURCES: tuple[str, ...] = (
    "国务院办公厅关于2025年部分节假日安排的通知 (国办发明电〔2024〕12号, 2024-11-12)",
    "国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04)",
)
CHINA_2025_2026: tuple[frozenset[date], frozenset[date]] = (
    CHINA_2025_2026_HOLIDAYS,
    CHINA_2025_2026_MAKEUP_WORKDAYS,
)

DEFAULT_PERIODS: tuple[tuple[str, str], ...] = (("09:00", "12:00"), ("13:30", "17:30"))
ROUND_THE_CLOCK: tuple[tuple[str, str], ...] = (("00:00", "24:00"),)


def _minutes(hhmm: str) -> int:
    m = _HHMM.match(hhmm) if isinstance(hhmm, str) else None
    if m is None or (m.group(1) == "24" and m.group(2) != "00"):
        raise CalendarError(
            f"时间格式应为 HH:MM / time must be 'HH:MM' (00:00–24:00), got {hhmm!r}"
        )
    return int(m.group(1)) * 60 + int(m.group(2))


def require_aware(dt: datetime, name: str = "datetime") -> None:
    """Naive datetimes are ambiguous across zones: refuse them."""
    if not isinstance(dt, datetime) or dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} 必须带时区 / must be timezone-aware, got {dt!r}")


def to_us(dt: datetime) -> int:
    """Aware datetime → UTC microseconds since the epoch."""
    require_aware(dt)
    return (dt - _EPOCH) // timedelta(microseconds=1)


def check_amount(amount: float) -> None:
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"时长必须为非负有限数 / amount must be finite and ≥ 0, got {amount}")


def hours_to_us(hours: float) -> int:
    check_amount(hours)
    return round(hours * US_PER_HOUR)


@dataclass(frozen=True)
class WorkingCalendar:
    """A city's working calendar: zone, daily work periods, weekend, holidays, make-up days."""

    tz: str = "Asia/Shanghai"
    work_periods: tuple[tuple[str, str], ...] = DEFAULT_PERIODS
    weekend: frozenset[int] = frozenset({5, 6})  # date.weekday(): Monday = 0
    holidays: frozenset[date] = frozenset()
    makeup_workdays: frozenset[date] = frozenset()  # 调休上班: weekend dates that are worked
    _spans: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Coerce lists and sets so the calendar stays hashable (it keys the grid caches).
        object.__setattr__(self, "work_periods", tuple(tuple(p) for p in self.work_periods))
        for name in ("weekend", "holidays", "makeup_workdays"):
            object.__setattr__(self, name, frozenset(getattr(self, name)))
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise CalendarError(f"未知时区 / unknown time zone {self.tz!r}") from exc
        spans = tuple((_minutes(a), _minutes(b)) for a, b in self.work_periods)
        if not spans:
            raise CalendarError("至少需要一个工作时段 / at least one work period is needed")
        for (_, e0), (s1, _) in zip(spans, spans[1:], strict=False):
            if s1 < e0:
                raise CalendarError(
                    f"工作时段须按时间排序且不重叠 / work periods must be sorted and disjoint: "
                    f"{self.work_periods}"
                )
        if any(s >= e for s, e in spans):
            raise CalendarError(
                f"时段开始须早于结束 / period start must precede its end: {self.work_periods}"
            )
        if not self.weekend <= set(range(7)):
            raise CalendarError(f"周末须为 0–6 (周一=0) / weekend days are 0–6, got {self.weekend}")
        clash = self.holidays & self.makeup_workdays
        if clash:
            raise CalendarError(
                f"日期不能既是假日又是调休上班日 / dates both holiday and make-up "
                f"workday: {sorted(clash)}"
            )
        odd = [d for d in self.makeup_workdays if d.weekday() not in self.weekend]
        if odd:
            raise CalendarError(
                f"调休上班日应为周末 / make-up workdays must fall on a weekend: {sorted(odd)}"
            )
        object.__setattr__(self, "_spans", spans)

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_config(cls, d: Mapping[str, object]) -> WorkingCalendar:
        """Build from a city pack mapping; any mistake raises `CalendarError`."""
        unknown = set(d) - _CONFIG_KEYS
        if unknown:
            raise CalendarError(f"未知配置项 / unknown calendar keys: {sorted(unknown)}")
        tz = d.get("timezone", "Asia/Shanghai")
        if not isinstance(tz, str):
            raise CalendarError(f"timezone 须为字符串 / timezone must be a string, got {tz!r}")
        periods = _pairs(d.get("work_periods", DEFAULT_PERIODS))
        weekend = d.get("weekend", [5, 6])
        if not isinstance(weekend, list | tuple) or not all(
            isinstance(w, int) and not isinstance(w, bool) for w in weekend
        ):
            raise CalendarError(
                f"weekend 须为整数列表 / weekend must be a list of ints, got {weekend!r}"
            )
        holidays = _date_set(d.get("holidays", []), "holidays")
        makeup = _date_set(d.get("makeup_workdays", []), "makeup_workdays")
        national = d.get("national_holidays", False)
        if not isinstance(national, bool):
            raise CalendarError(
                f"national_holidays 须为布尔值 / must be true or false, got {national!r}"
            )
        if national:
            holidays |= CHINA_2025_2026_HOLIDAYS - makeup
            makeup |= CHINA_2025_2026_MAKEUP_WORKDAYS - holidays
        return cls(tz, periods, frozenset(weekend), frozenset(holidays), frozenset(makeup))

    @classmethod
    def round_the_clock(cls, tz: str = "Asia/Shanghai") -> WorkingCalendar:
        """24 小时运行日历: every instant of every day is working time (operations centres)."""
        return cls(tz, ROUND_THE_CLOCK, frozenset(), frozenset(), frozenset())

    # -- plain facts ---------------------------------------------------------------------------

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def day_hours(self) -> float:
        """Nominal working hours of one working day (7.0 for the default periods)."""
        return sum(e - s for s, e in self._spans) / 60

    def years_without_holidays(self, years: Iterable[int]) -> list[int]:
        """Those of `years` for which no public holiday is configured. A calendar that lists
        holidays for some years only would count every weekday of the others as working."""
        if not self.holidays:
            return []  # a calendar without holidays (round the clock) is meant that way
        covered = {d.year for d in self.holidays}
        return [y for y in years if y not in covered]

    def is_working_day(self, d: date) -> bool:
        if d in self.holidays:
            return False
        return d.weekday() not in self.weekend or d in self.makeup_workdays

    def is_working_time(self, dt: datetime) -> bool:
        """True inside a work period [start, end) of a working day."""
        t = to_us(dt)
        g = self._grid_around(t)
        i = int(np.searchsorted(g.starts, t, side="right")) - 1
        return i >= 0 and t < int(g.ends[i])

    # -- the working-time clock ----------------------------------------------------------------

    def next_working_start(self, dt: datetime) -> datetime:
        """`dt` itself when it is working time, else the start of the next work period."""
        t = to_us(dt)
        y = self.local(dt).year
        for span in _spans_ahead():
            g = _grid(self, y - 1, y + span)
            i = int(np.searchsorted(g.ends, t, side="right"))
            if i < len(g.ends):
                return self.from_us(max(t, int(g.starts[i])))
        raise self._no_working_time(dt)

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The earliest instant at which `hours` of working time have passed since `start`."""
        t, need = to_us(start), hours_to_us(hours)
        y = self.local(start).year
        for span in _spans_ahead():
            g = _grid(self, y - 1, y + span)
            target = int(g.clock(np.array([t], dtype=np.int64))[0]) + need
            if target <= int(g.cum_end[-1]):
                return self.from_us(max(t, int(g.instant(np.array([target]))[0])))
        raise self._no_working_time(start)

    def add_working_days(self, start: datetime, days: float) -> datetime:
        """Whole days keep the clock time on the n-th next working day; a fraction is that share
        of `day_hours`, added as working hours. Starting outside working time counts from the
        next working start."""
        check_amount(days)
        whole = math.floor(days)
        frac_hours = (days - whole) * self.day_hours
        s = self.local(self.next_working_start(start))
        for span in _spans_ahead():
            wd = _workdays(self, s.year, s.year + span)
            i = int(np.searchsorted(wd, np.datetime64(s.date(), "D"))) + whole
            if i < len(wd):
                d = date.fromisoformat(str(wd[i]))
                wall = datetime.combine(d, s.time().replace(tzinfo=None))
                landed = self.from_us(to_us(wall.replace(tzinfo=self.zone)))
                return self.add_working_hours(landed, frac_hours) if frac_hours > 0 else landed
        raise self._no_working_time(start)

    def working_hours_between(self, a: datetime, b: datetime) -> float:
        """Working hours from `a` to `b`; signed, so negative when `b` is before `a`."""
        ta, tb = to_us(a), to_us(b)
        lo, hi = sorted((self.local(a).year, self.local(b).year))
        g = _grid(self, lo - 1, hi + 1)
        wa, wb = g.clock(np.array([ta, tb], dtype=np.int64))
        return float(wb - wa) / US_PER_HOUR

    # -- helpers shared with deadline.py ---------------------------------------------------------

    def local(self, dt: datetime) -> datetime:
        require_aware(dt)
        return dt.astimezone(self.zone)

    def from_us(self, t: int) -> datetime:
        return (_EPOCH + timedelta(microseconds=t)).astimezone(self.zone)

    def grid(self, first_year: int, last_year: int) -> Grid:
        """The working-time grid for local calendar years first_year..last_year (cached)."""
        return _grid(self, first_year, last_year)

    def _grid_around(self, t: int) -> Grid:
        y = self.from_us(t).year
        return _grid(self, y - 1, y + 1)

    def _no_working_time(self, dt: datetime) -> CalendarError:
        return CalendarError(
            f"{_MAX_YEARS} 年内没有足够的工作时间 / not enough working time within "
            f"{_MAX_YEARS} years of {dt.isoformat()}"
        )


def china_calendar() -> WorkingCalendar:
    """The default calendar (Asia/Shanghai, 09:00–12:00 and 13:30–17:30) with 2025–2026 holidays."""
    return WorkingCalendar(
        holidays=CHINA_2025_2026_HOLIDAYS, makeup_workdays=CHINA_2025_2026_MAKEUP_WORKDAYS
    )


@dataclass(frozen=True)
class Grid:
    """Working intervals [starts, ends) in UTC µs, with the working time before each one.

    `clock(t)` is the cumulative working time at t (µs, relative to the grid's first instant);
    it is flat outside working time and rises 1:1 inside it; `instant(w)` is its earliest inverse.
    """

    starts: I64
    ends: I64
    cum_start: I64
    cum_end: I64

    def clock(self, t: I64) -> I64:
        i = np.clip(np.searchsorted(self.starts, t, side="right") - 1, 0, None)
        inside = np.clip(t - self.starts[i], 0, self.ends[i] - self.starts[i])
        out: I64 = (self.cum_start[i] + inside).astype(np.int64)
        return out

    def instant(self, w: I64) -> I64:
        i = np.minimum(np.searchsorted(self.cum_end, w, side="left"), len(self.cum_end) - 1)
        return (self.starts[i] + (w - self.cum_start[i])).astype(np.int64)

    @property
    def first(self) -> int:
        return int(self.starts[0])

    @property
    def last(self) -> int:
        return int(self.ends[-1])


def _spans_ahead() -> Iterable[int]:
    span = 2
    while span <= _MAX_YEARS:
        yield span
        span *= 4


def _pairs(raw: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list | tuple) or not all(
        isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(x, str) for x in p)
        for p in raw
    ):
        raise CalendarError(
            f'work_periods 须为 [["HH:MM", "HH:MM"], ...] / must be a list of '
            f"[start, end] pairs, got {raw!r}"
        )
    return tuple((str(p[0]), str(p[1])) for p in raw)


def _date_set(raw: object, key: str) -> set[date]:
    if not isinstance(raw, list | tuple | set | frozenset):
        raise CalendarError(f"{key} 须为日期列表 / must be a list of dates, got {raw!r}")
    out: set[date] = set()
    for item in raw:
        if isinstance(item, date) and not isinstance(item, datetime):
            out.add(item)
            continue
        try:
            out.add(date.fromisoformat(str(item)))
        except ValueError as exc:
            raise CalendarError(
                f"{key}: 无效日期 / invalid date {item!r} (use YYYY-MM-DD)"
            ) from exc
    return out


@lru_cache(maxsize=512)
def _year_workdays(cal: WorkingCalendar, year: int) -> npt.NDArray[np.datetime64]:
    days = np.arange(np.datetime64(f"{year:04d}-01-01"), np.datetime64(f"{year + 1:04d}-01-01"))
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday (3)
    work = ~np.isin(weekday, sorted(cal.weekend))
    if cal.makeup_workdays:
        work |= np.isin(days, np.array(sorted(cal.makeup_workdays), dtype="datetime64[D]"))
    if cal.holidays:
        work &= ~np.isin(days, np.array(sorted(cal.holidays), dtype="datetime64[D]"))
    return days[work]


def _workdays(cal: WorkingCalendar, first: int, last: int) -> npt.NDArray[np.datetime64]:
    return np.concatenate([_year_workdays(cal, y) for y in range(first, last + 1)])


def _offset_us(zone: ZoneInfo, wall_us: int) -> int:
    wall = datetime(1970, 1, 1) + timedelta(microseconds=wall_us)
    off = wall.replace(tzinfo=zone).utcoffset()
    return 0 if off is None else off // timedelta(microseconds=1)


@lru_cache(maxsize=512)
def _year_intervals(cal: WorkingCalendar, year: int) -> tuple[I64, I64]:
    days = _year_workdays(cal, year).astype("datetime64[us]").astype(np.int64)
    starts = np.array([s for s, _ in cal._spans], dtype=np.int64) * US_PER_MIN
    ends = np.array([e for _, e in cal._spans], dtype=np.int64) * US_PER_MIN
    wall_s = (days[:, None] + starts[None, :]).ravel()
    wall_e = (days[:, None] + ends[None, :]).ravel()
    return _wall_to_utc(cal.zone, year, wall_s), _wall_to_utc(cal.zone, year, wall_e)


def _wall_to_utc(zone: ZoneInfo, year: int, wall: I64) -> I64:
    """Local wall µs → UTC µs. Offsets are looked up once per day; only days on which the offset
    changes (DST transitions) are resolved edge by edge, with fold=0 as zoneinfo does."""
    y0 = int(np.datetime64(f"{year:04d}-01-01", "us").astype(np.int64))
    n_days = (int(np.datetime64(f"{year + 1:04d}-01-01", "us").astype(np.int64)) - y0) // US_PER_DAY
    midnights = [_offset_us(zone, y0 + k * US_PER_DAY) for k in range(n_days + 2)]
    day_off = np.array(midnights, dtype=np.int64)
    k = (wall - y0) // US_PER_DAY
    off = day_off[k]
    for j in np.flatnonzero(day_off[k] != day_off[k + 1]):
        off[j] = _offset_us(zone, int(wall[j]))
    return (wall - off).astype(np.int64)


@lru_cache(maxsize=64)
def _grid(cal: WorkingCalendar, first: int, last: int) -> Grid:
    parts = [_year_intervals(cal, y) for y in range(first, last + 1)]
    starts = np.concatenate([p[0] for p in parts])
    ends = np.concatenate([p[1] for p in parts])
    if len(starts) == 0:  # no working day at all in the span: a sentinel empty interval
        starts = ends = np.array([0], dtype=np.int64)
    cum_end = np.cumsum(ends - starts)
    return Grid(
        starts, ends, (cum_end - (ends - starts)).astype(np.int64), cum_end.astype(np.int64)
    )
