"""The round calendar: pure functions of the round number, all times in UTC.

Rounds open Tuesday to Saturday. A weekday round (Tue–Fri) opens at 13:00 and closes at
14:00 the same day; the Saturday round opens at 18:00 and closes on Monday at 14:30. At
most one round is open at a time. Round 900 opened on Tuesday 2025-01-07; numbers go up
by one per round (five per week). Classic and Signals share numbers and times, as they
do on Numerai.

Scoring (a simplification of Numerai's, see docs/numerai-emulator.md): daily score
*d* (1..20) of a round is published at 12:00 on the calendar day ``close date + 2 + d``;
the round resolves when day 20 is published.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

ANCHOR_ROUND = 900
ANCHOR_DATE = date(2025, 1, 7)  # a Tuesday
ROUNDS_PER_WEEK = 5
WEEKDAY_OPEN = time(13, 0)
WEEKDAY_CLOSE = time(14, 0)
WEEKEND_OPEN = time(18, 0)
WEEKEND_CLOSE = time(14, 30)
SCORE_DAYS = 20
FIRST_SCORE_LAG_DAYS = 3
SCORE_TIME = time(12, 0)


def _at(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=UTC)


@dataclass(frozen=True)
class RoundTimes:
    number: int
    open: datetime
    close: datetime

    @property
    def score_time(self) -> datetime:
        """When the first daily score is published."""
        return self.score_date(1)

    @property
    def resolve_time(self) -> datetime:
        return self.score_date(SCORE_DAYS)

    @property
    def data_datestamp(self) -> int:
        return int(self.open.strftime("%Y%m%d"))

    def score_date(self, day: int) -> datetime:
        """Publication time of daily score ``day`` (1-based)."""
        return _at(self.close.date() + timedelta(days=FIRST_SCORE_LAG_DAYS - 1 + day), SCORE_TIME)

    def published_days(self, now: datetime) -> int:
        """How many daily scores are public at ``now`` (0..20)."""
        if now < self.score_time:
            return 0
        elapsed = (now.date() - self.score_time.date()).days + (
            1 if now.time() >= SCORE_TIME else 0
        )
        return max(0, min(SCORE_DAYS, elapsed))

    def is_open(self, now: datetime) -> bool:
        return self.open <= now < self.close

    def status(self, now: datetime) -> str:
        if now < self.open:
            return "UPCOMING"
        if now < self.close:
            return "OPEN"
        if now < self.resolve_time:
            return "RESOLVING"
        return "RESOLVED"


def round_times(number: int) -> RoundTimes:
    week, slot = divmod(number - ANCHOR_ROUND, ROUNDS_PER_WEEK)
    day = ANCHOR_DATE + timedelta(days=7 * week + slot)
    if slot < 4:
        return RoundTimes(number, _at(day, WEEKDAY_OPEN), _at(day, WEEKDAY_CLOSE))
    return RoundTimes(number, _at(day, WEEKEND_OPEN), _at(day + timedelta(days=2), WEEKEND_CLOSE))


def latest_open_round(now: datetime) -> int:
    """The number of the most recent round whose open time is at or before ``now``."""
    week = (now.date() - ANCHOR_DATE).days // 7
    base = ANCHOR_ROUND + ROUNDS_PER_WEEK * week
    for number in range(base + ROUNDS_PER_WEEK, base - 2 * ROUNDS_PER_WEEK, -1):
        if round_times(number).open <= now:
            return number
    raise AssertionError("calendar search window too small")  # pragma: no cover


def open_round(now: datetime) -> int | None:
    """The round accepting submissions at ``now``, if any."""
    number = latest_open_round(now)
    return number if round_times(number).is_open(now) else None


def next_open_after(now: datetime) -> RoundTimes:
    return round_times(latest_open_round(now) + 1)


def next_close_after(now: datetime) -> RoundTimes:
    current = round_times(latest_open_round(now))
    return current if current.close > now else round_times(current.number + 1)


def next_score_after(now: datetime) -> datetime:
    """The next daily-score publication time (12:00 UTC) strictly after ``now``."""
    candidate = _at(now.date(), SCORE_TIME)
    return candidate if candidate > now else candidate + timedelta(days=1)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 with an explicit UTC zone, as the API returns times."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
