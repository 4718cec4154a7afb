"""The emulator's simulated clock.

It runs at wall-clock speed from a start instant (or stands still when frozen) and only
ever moves forward: ``advance`` jumps by a duration or to the next round event.
"""

from __future__ import annotations

import threading
import time as _time
from datetime import UTC, datetime, timedelta

from . import calendar

TARGETS = ("next_open", "next_close", "next_score")


class SimClock:
    def __init__(self, start: datetime, *, frozen: bool = False) -> None:
        if start.tzinfo is None:
            raise ValueError("start must carry a time zone")
        self._lock = threading.Lock()
        self._base = start.astimezone(UTC)
        self._mono = _time.monotonic()
        self._frozen = frozen

    @property
    def frozen(self) -> bool:
        return self._frozen

    def now(self) -> datetime:
        with self._lock:
            return self._now_locked()

    def _now_locked(self) -> datetime:
        if self._frozen:
            return self._base
        return self._base + timedelta(seconds=_time.monotonic() - self._mono)

    def _set_locked(self, moment: datetime) -> datetime:
        self._base = moment
        self._mono = _time.monotonic()
        return moment

    def freeze(self, frozen: bool = True) -> datetime:
        with self._lock:
            now = self._set_locked(self._now_locked())
            self._frozen = frozen
            return now

    def set(self, moment: datetime) -> datetime:
        """Jump to ``moment``; the clock never goes backwards."""
        if moment.tzinfo is None:
            raise ValueError("time must carry a time zone")
        with self._lock:
            if moment < self._now_locked():
                raise ValueError("the simulated clock cannot go backwards")
            return self._set_locked(moment.astimezone(UTC))

    def advance(
        self,
        to: str | None = None,
        *,
        days: float = 0,
        hours: float = 0,
        minutes: float = 0,
        seconds: float = 0,
    ) -> datetime:
        """Move to the next round event (``to``), then on by the given duration.

        ``to`` is one of ``next_open`` (the next round's open time), ``next_close``
        (the next submission deadline) or ``next_score`` (the next 12:00 UTC, when daily
        scores are published); the clock lands exactly on that instant.
        """
        delta = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if delta < timedelta(0):
            raise ValueError("the simulated clock cannot go backwards")
        with self._lock:
            now = self._now_locked()
            if to is not None:
                now = event_after(to, now)
            return self._set_locked(now + delta)


def event_after(to: str, now: datetime) -> datetime:
    if to == "next_open":
        return calendar.next_open_after(now).open
    if to == "next_close":
        return calendar.next_close_after(now).close
    if to == "next_score":
        return calendar.next_score_after(now)
    raise ValueError(f"unknown clock target {to!r}; use one of {', '.join(TARGETS)}")
