"""One time format in every answer: ISO 8601 in the city's own offset (+08:00 for Wuhan), to
the microsecond as stored; a plain date means the city's local day. Features that answer with
times use `iso` (and `local_day`) rather than formatting their own."""

from __future__ import annotations

from datetime import date, datetime, time, tzinfo


def iso(at: datetime | None, zone: tzinfo) -> str | None:
    """`at` as ISO 8601 in `zone` (the city's calendar zone: `platform.calendar.zone`)."""
    return at.astimezone(zone).isoformat() if at is not None else None


def local_day(at: datetime, zone: tzinfo) -> date:
    """The city's local calendar day `at` falls on."""
    return at.astimezone(zone).date()


def parse(value: str, zone: tzinfo) -> datetime:
    """A query parameter: a plain date (2026-11-01) is the start of the city's local day; a
    date and time must carry its zone (2026-11-01T08:00:00+08:00, or Z). ValueError else."""
    text = value.strip()
    if len(text) == 10:  # YYYY-MM-DD
        return datetime.combine(date.fromisoformat(text), time(), zone)
    at = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    if at.tzinfo is None:
        raise ValueError("a date and time needs a zone")
    return at
