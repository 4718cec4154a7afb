"""The round calendar projects Numerai's schedule from one known round."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nmrx.market.rounds import CalendarError, Round, RoundCalendar
from numerai_emulator import calendar as emulator_calendar

MARGIN = timedelta(minutes=20)


def _known(number: int) -> Round:
    rt = emulator_calendar.round_times(number)
    return Round(rt.number, rt.open, rt.close)


@pytest.mark.parametrize("anchor", [900, 903, 904, 1000, 1234])
def test_the_projection_agrees_with_the_emulator_calendar_from_any_anchor(anchor: int) -> None:
    cal = RoundCalendar(_known(anchor))
    for number in range(anchor - 300, anchor + 300):
        expected = emulator_calendar.round_times(number)
        assert cal.round(number) == Round(number, expected.open, expected.close), number


def test_weekday_rounds_last_an_hour_and_saturday_closes_on_monday() -> None:
    cal = RoundCalendar(_known(1000))
    week = [cal.round(n) for n in range(1000, 1006)]
    assert [r.open.strftime("%a %H:%M") for r in week] == [
        "Tue 13:00",
        "Wed 13:00",
        "Thu 13:00",
        "Fri 13:00",
        "Sat 18:00",
        "Tue 13:00",
    ]
    assert [r.close.strftime("%a %H:%M") for r in week[:5]] == [
        "Tue 14:00",
        "Wed 14:00",
        "Thu 14:00",
        "Fri 14:00",
        "Mon 14:30",
    ]


def test_the_known_round_keeps_the_times_numerai_reported() -> None:
    odd = Round(1000, _known(1000).open, _known(1000).close + timedelta(minutes=5))
    assert RoundCalendar(odd).round(1000) == odd


def test_a_known_round_must_open_tuesday_to_saturday_in_utc() -> None:
    sunday = datetime(2025, 1, 12, 13, tzinfo=UTC)
    with pytest.raises(CalendarError, match="Sunday"):
        RoundCalendar(Round(905, sunday, sunday + timedelta(hours=1)))
    with pytest.raises(CalendarError, match="timezone"):
        RoundCalendar(Round(905, datetime(2025, 1, 7, 13), datetime(2025, 1, 7, 14)))


def test_latest_opened_matches_the_emulator_at_many_moments() -> None:
    cal = RoundCalendar(_known(900))
    moment = datetime(2025, 3, 1, tzinfo=UTC)
    for _ in range(400):
        moment += timedelta(hours=7, minutes=13)
        assert cal.latest_opened(moment).number == emulator_calendar.latest_open_round(moment)


def test_tradable_rounds_skip_rounds_whose_trading_closed() -> None:
    cal = RoundCalendar(_known(1000))
    r = cal.round(1001)  # a Wednesday
    before_cutoff = r.close - MARGIN - timedelta(seconds=1)
    assert [x.number for x in cal.tradable(before_cutoff, margin=MARGIN, count=5)] == list(
        range(1001, 1006)
    )
    at_cutoff = r.close - MARGIN
    assert cal.tradable(at_cutoff, margin=MARGIN, count=1)[0].number == 1002
    saturday = cal.round(1004)
    monday_morning = saturday.close - timedelta(hours=3)
    assert cal.tradable(monday_morning, margin=MARGIN, count=1)[0].number == 1004


def test_trading_closes_a_margin_before_the_round_closes() -> None:
    r = RoundCalendar(_known(1000)).round(1000)
    assert r.trading_closes_at(MARGIN) == r.close - MARGIN
