"""Operator rules: what a decision needs (a reason), how the audit trail is filtered, and
what the ledger's totals say about reserves. Pure: no I/O, no clock, no database."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from nmrx.wallet.rules import AccountKind

MIN_REASON = 5
MAX_REASON = 500

# Audit actions of operator decisions (the AuditEvent table's ``action``).
GRANT = "operator.grant"
REVOKE = "operator.revoke"
SUSPEND = "account.suspend"
REINSTATE = "account.reinstate"
DECISIONS = (GRANT, REVOKE, SUSPEND, REINSTATE)


class OperatorError(ValueError):
    """An operator's request that cannot be done; the message says why."""


def check_reason(reason: str | None) -> str:
    """Every operator decision says why: 5 to 500 characters, trimmed."""
    text = " ".join((reason or "").split())
    if len(text) < MIN_REASON:
        raise OperatorError(
            f"give a reason of at least {MIN_REASON} characters: it is kept in the audit trail"
        )
    if len(text) > MAX_REASON:
        raise OperatorError(f"keep the reason under {MAX_REASON} characters")
    return text


def user_subject(user_id: int) -> str:
    """The audit trail's name for an account."""
    return f"user:{user_id}"


@dataclass(frozen=True)
class AuditFilter:
    """Which audit events to show; ``None`` means any. ``until`` is exclusive."""

    actor: str | None = None  # a username
    subject: str | None = None  # a username: events about that account
    action: str | None = None  # an action, or its prefix ending in '.' ("account.")
    since: datetime | None = None
    until: datetime | None = None


def parse_day(value: str | None, *, what: str) -> date | None:
    """A day typed in a filter (YYYY-MM-DD), or None when left empty."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise OperatorError(f"{what} must be a date as YYYY-MM-DD") from None


def audit_filter(
    *,
    actor: str | None = None,
    subject: str | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> AuditFilter:
    """The filter from the page's fields: ``since`` and ``until`` are whole UTC days, both
    included."""
    first = parse_day(since, what="from")
    last = parse_day(until, what="to")
    if first and last and last < first:
        raise OperatorError("the 'to' day is before the 'from' day")
    return AuditFilter(
        actor=(actor or "").strip().lower() or None,
        subject=(subject or "").strip().lower() or None,
        action=(action or "").strip() or None,
        since=datetime.combine(first, time(), UTC) if first else None,
        until=datetime.combine(last + timedelta(days=1), time(), UTC) if last else None,
    )


@dataclass(frozen=True)
class Reserves:
    """The ledger's totals by kind of account, in units of 10⁻⁸ NMR."""

    available: int  # users' available balances
    held: int  # held for users' open bids
    collateral: int  # users' seller and Stake Mode collateral
    escrow: int  # paid for fills not yet settled
    fees: int  # the platform's fees
    penalties: int  # penalties collected, not yet paid out
    world: int  # the outside world: minus everything that came in

    @property
    def owed_to_users(self) -> int:
        return self.available + self.held + self.collateral

    @property
    def in_custody(self) -> int:
        """Everything the platform holds: what it owes users, escrow, fees and penalties."""
        return self.owed_to_users + self.escrow + self.fees + self.penalties

    @property
    def balanced(self) -> bool:
        """Every unit in custody came in from the world: the books sum to zero."""
        return self.in_custody + self.world == 0


def reserves(totals: Mapping[AccountKind, int]) -> Reserves:
    return Reserves(
        available=totals.get(AccountKind.AVAILABLE, 0),
        held=totals.get(AccountKind.HELD, 0),
        collateral=totals.get(AccountKind.COLLATERAL, 0),
        escrow=totals.get(AccountKind.ESCROW, 0),
        fees=totals.get(AccountKind.FEES, 0),
        penalties=totals.get(AccountKind.PENALTIES, 0),
        world=totals.get(AccountKind.WORLD, 0),
    )
