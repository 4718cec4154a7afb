"""The round calendar: project Numerai's rounds from one known round. Pure, all times UTC.

Numerai's schedule (market-rules §2): rounds open Tuesday to Saturday, one per day, and
round numbers go up by one per round (five per week). A weekday round (Tue–Fri) opens
at 13:00 and closes at 14:00 the same day; the Saturday round opens at 18:00 and
closes on Monday at 14:30.

NMRX learns one round from Numerai (``NumeraiGateway.current_round``) and projects the
others from it with :class:`RoundCalendar`; the known round itself keeps the exact
times Numerai reported. Re-learning a round from time to time corrects the projection
if Numerai ever shifts its schedule.

Trading on round *R* closes ``trading_margin`` before ``close(R)`` (§4.1); the books
kept open at a moment are those of the first ``1 + books_ahead`` rounds whose trading
has not closed yet (:meth:`RoundCalendar.tradable`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

ROUNDS_PER_WEEK = 5
WEEKDAY_OPEN = time(13, 0, tzinfo=UTC)
WEEKDAY_CLOSE = time(14, 0, tzinfo=UTC)
SATURDAY_OPEN = time(18, 0, tzinfo=UTC)
MONDAY_CLOSE = time(14, 30, tzinfo=UTC)
TUESDAY = 1  # date.weekday()
SATURDAY_SLOT = 4  # Tuesday = slot 0 … Saturday = slot 4


class CalendarError(ValueError):
    """A known round that cannot anchor the calendar (e.g. it opens on a Sunday)."""


@dataclass(frozen=True, slots=True)
class Round:
    number: int
    open: datetime
    close: datetime

    def trading_closes_at(self, margin: timedelta) -> datetime:
        """When trading on this round's books stops: ``close − margin``."""
        return self.close - margin


def _slot(day: date) -> int:
    slot = day.weekday() - TUESDAY
    if not 0 <= slot <= SATURDAY_SLOT:
        raise CalendarError(f"Numerai rounds open Tuesday to Saturday, not on a {day:%A}")
    return slot


def _times(day: date, slot: int) -> tuple[datetime, datetime]:
    if slot < SATURDAY_SLOT:
        return datetime.combine(day, WEEKDAY_OPEN), datetime.combine(day, WEEKDAY_CLOSE)
    return datetime.combine(day, SATURDAY_OPEN), datetime.combine(
        day + timedelta(days=2), MONDAY_CLOSE
    )


class RoundCalendar:
    """Every round's number and times, projected from one known round."""

    def __init__(self, known: Round) -> None:
        if known.open.tzinfo is None or known.close.tzinfo is None:
            raise CalendarError("round times must be timezone-aware (UTC)")
        opened = known.open.astimezone(UTC)
        self.known = Round(known.number, opened, known.close.astimezone(UTC))
        self._slot = _slot(opened.date())
        self._tuesday = opened.date() - timedelta(days=self._slot)  # of the known round's week

    def round(self, number: int) -> Round:
        if number == self.known.number:
            return self.known
        weeks, slot = divmod(self._slot + number - self.known.number, ROUNDS_PER_WEEK)
        day = self._tuesday + timedelta(days=7 * weeks + slot)
        opens, closes = _times(day, slot)
        return Round(number, opens, closes)

    def latest_opened(self, now: datetime) -> Round:
        """The most recent round whose open time is at or before ``now``."""
        number = self._estimate(now) + 2 * ROUNDS_PER_WEEK  # opens after ``now``
        while self.round(number).open > now:
            number -= 1
        return self.round(number)

    def tradable(self, now: datetime, *, margin: timedelta, count: int) -> list[Round]:
        """The first ``count`` rounds whose trading has not closed at ``now``, in order."""
        number = self._estimate(now)  # trading closed before ``now``
        while self.round(number).trading_closes_at(margin) <= now:
            number += 1
        return [self.round(n) for n in range(number, number + count)]

    def _estimate(self, now: datetime) -> int:
        """The Tuesday round of the week before ``now``'s (weeks run Tuesday to Monday)."""
        weeks = (now.astimezone(UTC).date() - self._tuesday).days // 7
        return self.known.number - self._slot + ROUNDS_PER_WEEK * weeks - ROUNDS_PER_WEEK
