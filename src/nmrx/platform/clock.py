"""The platform's clock. Real deployments use the system clock; the demo and the tests
follow the Numerai emulator's simulated clock (read over its admin HTTP API), so that
deadlines, deliveries and settlements happen when the emulator's rounds say so."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

from nmrx.platform.emulator_admin import emulator_http


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class EmulatorClock:
    """Reads ``GET /admin/clock`` of the emulator; caches the answer for ``ttl`` seconds
    and extrapolates with the wall clock in between."""

    def __init__(self, url: str, admin_token: str, ttl: float = 0.0) -> None:
        self.url = url.rstrip("/")
        self.admin_token = admin_token
        self.ttl = ttl
        self._read_at = 0.0
        self._value: datetime | None = None

    def now(self) -> datetime:
        wall = time.monotonic()
        if self._value is None or wall - self._read_at > self.ttl:
            response = emulator_http().get(
                f"{self.url}/admin/clock", headers={"X-Admin-Token": self.admin_token}, timeout=5
            )
            response.raise_for_status()
            self._value = datetime.fromisoformat(response.json()["now"].replace("Z", "+00:00"))
            self._read_at = wall
            return self._value
        return self._value  # cached: within ttl the simulated clock is taken as unchanged


class FixedClock:
    """For unit tests of services."""

    def __init__(self, value: datetime) -> None:
        self.value = value

    def now(self) -> datetime:
        return self.value


def utcnow() -> datetime:
    """The wall clock in UTC: only for record timestamps (``created_at``), never for rules."""
    return datetime.now(UTC)


def record_time(now: datetime | None) -> datetime:
    """A row's timestamp: the moment the caller's rule used, else the wall clock (like a
    column's ``default=utcnow``; never an input to a rule)."""
    return now if now is not None else utcnow()
