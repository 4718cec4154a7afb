"""The round calendar and the simulated clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from numerai_emulator import calendar
from numerai_emulator.clock import SimClock


def test_rounds_open_tuesday_to_saturday_with_one_hour_weekday_windows():
    week = [calendar.round_times(n) for n in range(1000, 1005)]
    assert [rt.open.strftime("%a") for rt in week] == ["Tue", "Wed", "Thu", "Fri", "Sat"]
    for rt in week[:4]:
        assert rt.close - rt.open == timedelta(hours=1)
    assert week[4].close.strftime("%a %H:%M") == "Mon 14:30"
    assert calendar.round_times(1005).open.strftime("%a") == "Tue"


def test_round_numbers_increase_and_never_overlap():
    times = [calendar.round_times(n) for n in range(900, 960)]
    for before, after in zip(times, times[1:], strict=False):
        assert before.close <= after.open
        assert after.number == before.number + 1


def test_latest_open_round_and_open_round():
    rt = calendar.round_times(1003)
    assert calendar.latest_open_round(rt.open) == 1003
    assert calendar.latest_open_round(rt.open - timedelta(seconds=1)) == 1002
    assert calendar.open_round(rt.open + timedelta(minutes=30)) == 1003
    assert calendar.open_round(rt.close) is None
    assert calendar.latest_open_round(rt.close + timedelta(hours=2)) == 1003


def test_daily_scores_publish_day_by_day_until_resolution():
    rt = calendar.round_times(1001)
    assert rt.published_days(rt.close) == 0
    assert rt.published_days(rt.score_time - timedelta(seconds=1)) == 0
    assert rt.published_days(rt.score_time) == 1
    assert rt.published_days(rt.score_time + timedelta(days=4)) == 5
    assert rt.published_days(rt.resolve_time) == 20
    assert rt.status(rt.resolve_time) == "RESOLVED"
    assert rt.status(rt.close) == "RESOLVING"


def test_clock_advances_to_events_and_never_goes_back():
    start = datetime(2025, 3, 4, 13, 5, tzinfo=UTC)
    clock = SimClock(start, frozen=True)
    assert clock.now() == start
    close = clock.advance("next_close")
    assert close == calendar.round_times(calendar.latest_open_round(start)).close
    opened = clock.advance("next_open")
    assert opened.strftime("%a %H:%M") == "Wed 13:00"
    assert clock.advance(days=2) == opened + timedelta(days=2)
    assert clock.advance("next_score").time().hour == 12
    with pytest.raises(ValueError):
        clock.set(start)
    with pytest.raises(ValueError):
        clock.advance("yesterday")


def test_a_running_clock_moves_with_the_wall_clock():
    clock = SimClock(datetime(2025, 3, 4, 13, 5, tzinfo=UTC))
    first = clock.now()
    assert clock.now() >= first
    frozen_at = clock.freeze()
    assert clock.now() == frozen_at
