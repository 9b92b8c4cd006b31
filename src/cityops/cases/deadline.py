"""处置时限 deadline clock: due times, extension (延期), suspension (挂起), overdue (超期).

Scalar functions take and return aware datetimes (results in the calendar's zone). The
vectorised functions take `datetime64` arrays holding **UTC** instants (NaT = no deadline, never
overdue or due soon) and one aware `now`; they never loop over cases in Python.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt

from cityops.cases.calendar import (
    US_PER_HOUR,
    WorkingCalendar,
    require_aware,
    to_us,
)
from cityops.catalog.models import TimeLimit, TimeUnit

DeadlineState = Literal["on_time", "due_soon", "overdue"]
DEADLINE_STATES: dict[DeadlineState, tuple[str, str]] = {
    "on_time": ("按期", "On time"),
    "due_soon": ("即将超期", "Due soon"),
    "overdue": ("超期", "Overdue"),
}

Instants = npt.NDArray[np.datetime64]
Mask = npt.NDArray[np.bool_]


def due_at(start: datetime, limit: TimeLimit, cal: WorkingCalendar) -> datetime:
    """When a case started at `start` must be handled, under `limit` and `cal`."""
    if limit.unit == "working_hours":
        return cal.add_working_hours(start, limit.amount)
    if limit.unit == "working_days":
        return cal.add_working_days(start, limit.amount)
    require_aware(start, "start")
    # Calendar hours are elapsed time: add in UTC so a DST change cannot stretch them.
    return (start.astimezone(UTC) + timedelta(hours=limit.amount)).astimezone(cal.zone)


def extend(due: datetime, amount: float, unit: TimeUnit, cal: WorkingCalendar) -> datetime:
    """延期: the new due time, `amount` more in `unit` counted from the current due time."""
    return due_at(due, TimeLimit(amount, unit), cal)


def shift_for_suspension(
    due: datetime, suspended_at: datetime, resumed_at: datetime, cal: WorkingCalendar
) -> datetime:
    """挂起/恢复: the clock stops while suspended, so the working time that passed between
    `suspended_at` and `resumed_at` is added back to `due`."""
    if to_us(resumed_at) < to_us(suspended_at):
        raise ValueError(
            f"恢复时间早于挂起时间 / resumed_at {resumed_at} is before suspended_at {suspended_at}"
        )
    lost = cal.working_hours_between(suspended_at, resumed_at)
    return cal.add_working_hours(due, lost)


def remaining(due: datetime, now: datetime, cal: WorkingCalendar) -> float:
    """Working hours left until `due`; negative (working hours late) once overdue."""
    return cal.working_hours_between(now, due)


def state(due: datetime, now: datetime, within_hours: float, cal: WorkingCalendar) -> DeadlineState:
    """Scalar `classify`: overdue once `now` is past `due`; due soon within `within_hours`."""
    if to_us(now) > to_us(due):
        return "overdue"
    return "due_soon" if remaining(due, now, cal) <= within_hours else "on_time"


def _utc_us(due: Instants) -> tuple[npt.NDArray[np.int64], Mask]:
    arr = np.asarray(due)
    if not np.issubdtype(arr.dtype, np.datetime64):
        raise TypeError(f"due must be a datetime64 array (UTC), got dtype {arr.dtype}")
    nat = np.isnat(arr)
    return arr.astype("datetime64[us]").astype(np.int64), nat


def overdue_mask(due: Instants, now: datetime) -> Mask:
    """超期: True where the due instant is already past."""
    us, nat = _utc_us(due)
    return ~nat & (us < to_us(now))


def warning_mask(due: Instants, now: datetime, within_hours: float, cal: WorkingCalendar) -> Mask:
    """即将超期: not yet overdue and at most `within_hours` working hours left.

    Working time is monotonic, so "remaining ≤ h" is "due ≤ the last instant whose working
    clock is h past now's": one scalar threshold, then a column comparison.
    """
    us, nat = _utc_us(due)
    t_now = to_us(now)
    reach = cal.add_working_hours(now, within_hours)  # earliest instant h working hours on
    # The clock stays flat from a period end to the next period start: those dues qualify too.
    limit = to_us(cal.next_working_start(reach))
    return ~nat & (us >= t_now) & (us <= limit)


def classify(
    due: Instants, now: datetime, within_hours: float, cal: WorkingCalendar
) -> npt.NDArray[np.str_]:
    """One `DeadlineState` per case (NaT → "on_time": no deadline to miss)."""
    over = overdue_mask(due, now)
    soon = warning_mask(due, now, within_hours, cal)
    return np.where(over, "overdue", np.where(soon, "due_soon", "on_time")).astype("<U8")


def remaining_hours(due: Instants, now: datetime, cal: WorkingCalendar) -> npt.NDArray[np.float64]:
    """Vectorised `remaining`: working hours from `now` to each due (NaN for NaT).

    Builds the calendar's cumulative working-time grid over the years spanned and looks every
    due up with `np.searchsorted`.
    """
    us, nat = _utc_us(due)
    t_now = to_us(now)
    pts = np.concatenate([us[~nat], np.array([t_now], dtype=np.int64)])
    years = pts.astype("datetime64[us]").astype("datetime64[Y]").astype(np.int64) + 1970
    grid = cal.grid(int(years.min()) - 1, int(years.max()) + 1)  # ±1: local vs UTC year
    out = np.full(us.shape, np.nan)
    w_now = grid.clock(np.array([t_now], dtype=np.int64))[0]
    out[~nat] = (grid.clock(us[~nat]) - w_now) / US_PER_HOUR
    return out


__all__ = [
    "DEADLINE_STATES",
    "DeadlineState",
    "classify",
    "due_at",
    "extend",
    "overdue_mask",
    "remaining",
    "remaining_hours",
    "shift_for_suspension",
    "state",
    "warning_mask",
]
