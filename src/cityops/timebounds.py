"""Times a client gives are bounded: at most a small skew ahead of the server's clock, at most a
window back. One rule for every input with consequences (a reading's phenomenonTime, a drone
detection's time, a report's or Open311 request's time, a patrol track's points): a time from
the future would open a case dated then and sort first on every "latest" view for as long as it
stays ahead; a time years back would rewrite history no one looks at.

The skew and the window are city settings (`inputs.future_skew_minutes`, `inputs.past_days`;
readings have their own window, `sensing.past_days`, since a gauge may send a backlog). Pure:
`window(repo)` only reads the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from cityops.errors import InvalidInput

FUTURE_SETTING = "inputs.future_skew_minutes"
PAST_SETTING = "inputs.past_days"
READINGS_PAST_SETTING = "sensing.past_days"
DEFAULT_FUTURE_MIN = 5
DEFAULT_PAST_DAYS = 30
# Readings may be a gauge's archive loaded after the fact (OGC's own SensorThings tests post 2015):
# by default only the 2000-01-01 floor binds them; a city narrows it with sensing.past_days.
DEFAULT_READINGS_PAST_DAYS = 10_000


class TimeOutOfRange(InvalidInput):
    code = "time_out_of_range"


@dataclass(frozen=True)
class TimeWindow:
    """Allowed: now - past <= t <= now + future."""

    future: timedelta = timedelta(minutes=DEFAULT_FUTURE_MIN)
    past: timedelta = timedelta(days=DEFAULT_PAST_DAYS)

    def bounds(self, now: datetime) -> tuple[datetime, datetime]:
        return now - self.past, now + self.future

    def bounds_ms(self, now_ms: int) -> tuple[int, int]:
        return now_ms - _ms(self.past), now_ms + _ms(self.future)

    def outside_ms(self, t: npt.NDArray[np.int64], now_ms: int) -> npt.NDArray[np.bool_]:
        """Vectorised: which times (ms since the epoch) fall outside the window."""
        lo, hi = self.bounds_ms(now_ms)
        return (t < lo) | (t > hi)  # type: ignore[no-any-return]

    def allowed(self, now: datetime) -> str:
        """The range in words, for a message: ISO times in UTC and the rule that made them."""
        lo, hi = self.bounds(now)
        return (f"{_iso(lo)} … {_iso(hi)} (at most {_minutes(self.future)} min ahead of the server clock "
                f"and {self.past.days} days back)")

    def allowed_zh(self, now: datetime) -> str:
        lo, hi = self.bounds(now)
        return f"{_iso(lo)} 至 {_iso(hi)}（最多超前服务器时钟 {_minutes(self.future)} 分钟，最多回溯 {self.past.days} 天）"

    def check(self, name: str, at: datetime, now: datetime) -> datetime:
        """`at` when inside the window; else a 422 naming the field and the allowed range."""
        if at.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone (e.g. 2026-11-27T09:00:00+08:00)",
                               f"{name} 须带时区（如 2026-11-27T09:00:00+08:00）")
        lo, hi = self.bounds(now)
        if not lo <= at <= hi:
            raise TimeOutOfRange(f"{name} {_iso(at)} is outside the allowed range {self.allowed(now)}",
                                 f"{name}（{_iso(at)}）超出允许范围 {self.allowed_zh(now)}")
        return at

    def check_ms(self, name: str, t_ms: int, now_ms: int) -> int:
        self.check(name, datetime.fromtimestamp(t_ms / 1000, UTC), datetime.fromtimestamp(now_ms / 1000, UTC))
        return t_ms


def _ms(d: timedelta) -> int:
    return int(d.total_seconds() * 1000)


def _minutes(d: timedelta) -> str:
    return f"{d.total_seconds() / 60:g}"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _number(repo: Any, key: str, default: float) -> float:
    raw = repo.get_setting(key)
    try:
        value = float(raw) if raw not in (None, "") else default
    except ValueError:
        return default
    return value if value >= 0 else default


def window(repo: Any, readings: bool = False) -> TimeWindow:
    """The city's window: for readings (`readings=True`) or for every other client time."""
    past = (_number(repo, READINGS_PAST_SETTING, DEFAULT_READINGS_PAST_DAYS) if readings
            else _number(repo, PAST_SETTING, DEFAULT_PAST_DAYS))
    return TimeWindow(timedelta(minutes=_number(repo, FUTURE_SETTING, DEFAULT_FUTURE_MIN)), timedelta(days=past))
