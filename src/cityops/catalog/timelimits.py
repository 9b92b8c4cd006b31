"""Time-limit text: "<amount> <unit>" (e.g. "4 working_hours", "2 工作日") <-> TimeLimit."""

from __future__ import annotations

import math
import re

from cityops.catalog.models import TIME_UNITS, TimeLimit, TimeUnit

# zh units as written in city manuals; the English names are the canonical spelling.
UNIT_ALIASES: dict[str, TimeUnit] = {
    **{u: u for u in TIME_UNITS},
    "working_hour": "working_hours",
    "working_day": "working_days",
    "calendar_hour": "calendar_hours",
    "工作时": "working_hours",
    "工作小时": "working_hours",
    "个工作时": "working_hours",
    "个工作小时": "working_hours",
    "工作日": "working_days",
    "个工作日": "working_days",
    "小时": "calendar_hours",
    "个小时": "calendar_hours",
    "自然小时": "calendar_hours",
}

_PATTERN = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([^\s\d].*?)\s*$")


class TimeLimitSyntaxError(ValueError):
    """Text that is not "<amount> <unit>" with a positive amount and a known unit."""


def parse_time_limit(text: str) -> TimeLimit:
    """Parse "4 working_hours", "2工作日", "2 小时"; raise TimeLimitSyntaxError otherwise."""
    match = _PATTERN.match(text)
    if match is None:
        raise TimeLimitSyntaxError(f"expected '<amount> <unit>', got {text!r}")
    amount = float(match.group(1))
    unit = UNIT_ALIASES.get(match.group(2).lower())
    if unit is None:
        known = ", ".join(UNIT_ALIASES)
        raise TimeLimitSyntaxError(f"unknown unit {match.group(2)!r}; use one of {known}")
    if not math.isfinite(amount) or amount <= 0:
        raise TimeLimitSyntaxError(f"amount must be positive, got {match.group(1)}")
    return TimeLimit(amount, unit)


def format_time_limit(limit: TimeLimit) -> str:
    """Canonical text; whole amounts print without ".0", others exactly (repr round-trips)."""
    amount = float(limit.amount)
    text = str(int(amount)) if amount.is_integer() and abs(amount) < 1e15 else repr(amount)
    return f"{text} {limit.unit}"
