"""One rule for every time a client gives: a small skew ahead of the server's clock, a window
back; the city's settings choose both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from cityops.timebounds import TimeOutOfRange, TimeWindow, window

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


class Settings:
    def __init__(self, **values: str) -> None:
        self.values = values

    def get_setting(self, key: str) -> str | None:
        return self.values.get(key)


def test_the_window() -> None:
    w = TimeWindow()
    assert w.check("t", NOW + timedelta(minutes=5), NOW) and w.check("t", NOW - timedelta(days=30), NOW)
    for bad in (NOW + timedelta(minutes=5, seconds=1), NOW - timedelta(days=30, seconds=1),
                datetime(2099, 1, 1, tzinfo=UTC)):
        with pytest.raises(TimeOutOfRange) as err:
            w.check("detections[3].time", bad, NOW)
        assert err.value.status == 422 and "detections[3].time" in err.value.message_en
        assert "2026-11-07T02:00:00Z … 2026-12-07T02:05:00Z" in err.value.message_en
        assert "允许范围" in err.value.message_zh
    with pytest.raises(Exception, match="time zone"):
        w.check("t", datetime(2026, 12, 7, 2, 0), NOW)
    now_ms = int(NOW.timestamp() * 1000)
    t = np.array([now_ms, now_ms + 300_000, now_ms + 300_001, now_ms - 30 * 86_400_000 - 1], np.int64)
    assert w.outside_ms(t, now_ms).tolist() == [False, False, True, True]


def test_the_city_chooses() -> None:
    assert window(Settings()) == TimeWindow(timedelta(minutes=5), timedelta(days=30))
    assert window(Settings(), readings=True).past == timedelta(days=10_000)
    city = Settings(**{"inputs.future_skew_minutes": "1", "inputs.past_days": "2", "sensing.past_days": "7"})
    assert window(city) == TimeWindow(timedelta(minutes=1), timedelta(days=2))
    assert window(city, readings=True) == TimeWindow(timedelta(minutes=1), timedelta(days=7))
    assert window(Settings(**{"inputs.past_days": "lots"})).past == timedelta(days=30)  # a bad value: the default
