"""Today's totals roll over at local midnight, by the event's own time, across daylight-saving changes."""
from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from campool_gui.integrations.localday import DayTotals, day_bounds

BERLIN = ZoneInfo("Europe/Berlin")
HAVANA = ZoneInfo("America/Havana")     # moves its clocks at midnight: 2023-03-12 has no 00:00
KEY = ("gate-1", "north", "in", "car")


def ts(tz: ZoneInfo, *args: int, fold: int = 0) -> float:
    return datetime(*args, tzinfo=tz, fold=fold).timestamp()


def hours(bounds: tuple[float, float]) -> float:
    return (bounds[1] - bounds[0]) / 3600


def test_an_ordinary_day_runs_from_local_midnight_to_the_next():
    start, end = day_bounds(ts(BERLIN, 2024, 6, 14, 15, 30), BERLIN)
    assert (start, end) == (ts(BERLIN, 2024, 6, 14), ts(BERLIN, 2024, 6, 15))
    assert datetime.fromtimestamp(start, BERLIN).hour == 0


def test_the_spring_day_is_23_hours_and_the_autumn_day_25():
    assert hours(day_bounds(ts(BERLIN, 2024, 3, 31, 12), BERLIN)) == 23
    assert hours(day_bounds(ts(BERLIN, 2024, 10, 27, 12), BERLIN)) == 25
    # the repeated hour of the autumn night belongs to that day, both times round
    first, second = ts(BERLIN, 2024, 10, 27, 2, 30), ts(BERLIN, 2024, 10, 27, 2, 30, fold=1)
    assert second - first == 3600
    assert day_bounds(first, BERLIN) == day_bounds(second, BERLIN) == day_bounds(ts(BERLIN, 2024, 10, 27, 23), BERLIN)


def test_a_day_whose_midnight_does_not_exist_starts_at_its_first_instant():
    start, end = day_bounds(ts(HAVANA, 2023, 3, 12, 12), HAVANA)
    assert datetime.fromtimestamp(start, HAVANA).strftime("%m-%d %H:%M") == "03-12 01:00"
    assert start == day_bounds(ts(HAVANA, 2023, 3, 11, 23, 59), HAVANA)[1]
    assert hours((start, end)) == 23


def test_the_machines_local_time_is_used_when_no_zone_is_given(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        assert day_bounds(ts(BERLIN, 2024, 3, 31, 12)) == day_bounds(ts(BERLIN, 2024, 3, 31, 12), BERLIN)
        assert day_bounds(ts(BERLIN, 2024, 10, 27, 12)) == day_bounds(ts(BERLIN, 2024, 10, 27, 12), BERLIN)
        assert day_bounds(ts(BERLIN, 2024, 12, 31, 23, 59)) == (ts(BERLIN, 2024, 12, 31), ts(BERLIN, 2025, 1, 1))
    finally:
        monkeypatch.undo()
        time.tzset()


def test_today_goes_back_to_zero_at_local_midnight_and_counts_by_the_events_time():
    day = DayTotals(ts(BERLIN, 2024, 6, 14, 23, 50), BERLIN)
    assert day.add(KEY, ts(BERLIN, 2024, 6, 14, 23, 55))
    assert day.add(KEY, ts(BERLIN, 2024, 6, 14, 8, 0))
    assert not day.add(KEY, ts(BERLIN, 2024, 6, 13, 23, 59)), "yesterday's crossing is not today's"
    assert day.get(KEY) == 2
    assert not day.roll(ts(BERLIN, 2024, 6, 14, 23, 59, 59))
    assert day.roll(ts(BERLIN, 2024, 6, 15, 0, 0, 1))
    assert day.get(KEY) == 0
    assert not day.add(KEY, ts(BERLIN, 2024, 6, 14, 23, 59)), "a late crossing of the day before stays there"
    assert day.add(KEY, ts(BERLIN, 2024, 6, 15, 0, 1))
    assert day.get(KEY) == 1


def test_an_event_of_the_next_day_rolls_the_day_before_the_clock_does():
    day = DayTotals(ts(BERLIN, 2024, 3, 30, 23, 59), BERLIN)
    day.add(KEY, ts(BERLIN, 2024, 3, 30, 23, 59, 30))
    assert day.add(KEY, ts(BERLIN, 2024, 3, 31, 0, 0, 2))    # a worker whose clock runs a little ahead
    assert day.get(KEY) == 1
    assert (day.start, day.end) == day_bounds(ts(BERLIN, 2024, 3, 31, 12), BERLIN)
    assert hours((day.start, day.end)) == 23


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/Havana", "Australia/Lord_Howe", "Asia/Kolkata"])
def test_every_instant_of_a_year_falls_in_exactly_one_day(zone):
    tz = ZoneInfo(zone)
    t = ts(tz, 2023, 1, 1)
    start, end = day_bounds(t, tz)
    for _ in range(366):
        assert start <= t < end
        nxt = day_bounds(end, tz)
        assert nxt[0] == end, f"{zone}: a gap or overlap after {datetime.fromtimestamp(end, tz)}"
        assert datetime.fromtimestamp(nxt[0], tz).date() > datetime.fromtimestamp(start, tz).date()
        start, end = nxt
        t = start + 3600

