"""The demo control: move the emulator's clock and let the worker's duties run at once,
so a visitor sees books open and close, deliveries and settlements happen. Demo only."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from nmrx.platform.bootstrap import Container
from nmrx.platform.emulator_admin import EmulatorAdmin
from nmrx.platform.errors import InvalidInput, NotFound

MOVES = {
    "next_open": "the next round opens",
    "next_close": "the current round closes",
    "days": "days pass",
}


@dataclass(frozen=True)
class ClockReport:
    now: str
    round_number: int | None
    round_status: str | None
    duties: dict[str, str]


def advance(c: Container, *, to: str, days: float = 1) -> ClockReport:
    if not c.settings.demo:
        raise NotFound("the demo clock exists only in demo mode")
    if to not in MOVES:
        raise InvalidInput("move the clock to next_open, next_close, or by days")
    if to == "days" and not 0 < days <= 30:
        raise InvalidInput("advance by 0 to 30 days")
    admin = EmulatorAdmin(c.settings.numerai_api_url, c.settings.emulator_admin_token)
    if to == "days":
        admin.advance(days=days)
    else:
        admin.advance(to=to)
    from nmrx.market import instruments

    with contextlib.suppress(Exception):  # Numerai (the emulator) may be between rounds
        instruments.sync_calendar(c)
    duties = c.run_duties()
    return status(c, duties)


def status(c: Container, duties: dict[str, str] | None = None) -> ClockReport:
    admin = EmulatorAdmin(c.settings.numerai_api_url, c.settings.emulator_admin_token)
    clock = admin.clock()
    current = clock.get("current_round") or {}
    return ClockReport(clock["now"], current.get("number"), current.get("status"), duties or {})
