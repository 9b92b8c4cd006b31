"""One time format in every answer: ISO 8601 in the city's own offset (+08:00 for Wuhan), to
the microsecond as stored; a plain date means the city's local day. Features that answer with
times use `iso` (and `local_day`) rather than formatting their own."""

from __future__ import annotations

from datetime import date, datetime, tzinfo


def iso(at: datetime | None, zone: tzinfo) -> str | None:
    """`at` as ISO 8601 in `zone` (the city's calendar zone: `platform.calendar.zone`)."""
    return at.astimezone(zone).isoformat() if at is not None else None


def local_day(at: datetime, zone: tzinfo) -> date:
    """The city's local calendar day `at` falls on."""
    return at.astimezone(zone).date()
