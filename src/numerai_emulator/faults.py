"""Injected faults for GraphQL calls, so clients can test their resilience.

Modes: ``"503"`` answers HTTP 503 (numerapi retries 5xx, then gives up), ``"drop"``
closes the connection without an answer (a connection error for the client), and
``"error"`` answers HTTP 200 with a GraphQL error (numerapi raises ``ValueError``).
Only GraphQL calls (``POST /``) are affected; uploads, downloads and /admin are not.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .calendar import iso

MODES = ("503", "drop", "error")


@dataclass
class Outage:
    start: datetime
    end: datetime
    mode: str = "503"

    def to_dict(self) -> dict:
        return {"start": iso(self.start), "end": iso(self.end), "mode": self.mode}


@dataclass(frozen=True)
class Decision:
    latency: float = 0.0  # seconds of wall time to wait before answering
    action: str | None = None  # None (answer normally) or one of MODES


def _mode(mode: str) -> str:
    mode = str(mode)
    if mode not in MODES:
        raise ValueError(f"unknown fault mode {mode!r}; use one of {', '.join(MODES)}")
    return mode


class Faults:
    def __init__(self, seed: int, now: Callable[[], datetime]) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed * 7919 + 17)
        self._now = now
        self.clear()

    def clear(self) -> None:
        """Remove every fault: error rate, latency, pending failures and outages."""
        with self._lock:
            self.error_rate = 0.0
            self.error_mode = "503"
            self.latency = 0.0
            self.fail_next = 0
            self.fail_mode = "503"
            self.outages: list[Outage] = []

    def configure(
        self,
        *,
        error_rate: float | None = None,
        error_mode: str | None = None,
        latency_ms: float | None = None,
        fail_next: int | None = None,
        fail_mode: str | None = None,
    ) -> dict:
        """Set the random error rate (0..1), added latency, or fail the next N calls."""
        with self._lock:
            if error_rate is not None:
                if not 0.0 <= float(error_rate) <= 1.0:
                    raise ValueError("error_rate must be between 0 and 1")
                self.error_rate = float(error_rate)
            if error_mode is not None:
                self.error_mode = _mode(error_mode)
            if latency_ms is not None:
                self.latency = max(0.0, float(latency_ms)) / 1000.0
            if fail_next is not None:
                self.fail_next = max(0, int(fail_next))
            if fail_mode is not None:
                self.fail_mode = _mode(fail_mode)
        return self.to_dict()

    def outage(
        self,
        *,
        minutes: float | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        mode: str = "503",
    ) -> Outage:
        """Fail every GraphQL call in a window of simulated time.

        The window starts at ``start`` (default: now) and ends at ``end`` or after
        ``minutes`` (default: 60).
        """
        start = start or self._now()
        if end is None:
            end = start + timedelta(minutes=60 if minutes is None else minutes)
        if end <= start:
            raise ValueError("an outage must end after it starts")
        window = Outage(start=start, end=end, mode=_mode(mode))
        with self._lock:
            self.outages.append(window)
        return window

    def decide(self) -> Decision:
        now = self._now()
        with self._lock:
            action = None
            for window in self.outages:
                if window.start <= now < window.end:
                    action = window.mode
                    break
            if action is None and self.fail_next > 0:
                self.fail_next -= 1
                action = self.fail_mode
            if action is None and self.error_rate and self._rng.random() < self.error_rate:
                action = self.error_mode
            return Decision(latency=self.latency, action=action)

    def to_dict(self) -> dict:
        return {
            "error_rate": self.error_rate,
            "error_mode": self.error_mode,
            "latency_ms": self.latency * 1000.0,
            "fail_next": self.fail_next,
            "fail_mode": self.fail_mode,
            "outages": [w.to_dict() for w in self.outages],
        }
