"""Ledger rules (market-rules §3): double-entry transfers, two-phase holds, invariants.

Pure: no I/O. The persistence adapter loads accounts, asks these functions whether
a movement is allowed and what it does, and writes the result.

Balances are ``credits − debits`` of posted transfers. Every transfer debits one
account and credits another by the same positive amount, so the sum of all
balances is zero by construction; only the *world* account (where deposits come
from and withdrawals go) may be negative.

A hold moves funds from a user's *available* account to their *held* account at
once; posting part of it moves that part from *held* to its destination; voiding
returns the remainder to *available*. So *held* always equals the remaining amount
of the user's pending holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from nmrx.wallet.money import format_nmr


class AccountKind(StrEnum):
    AVAILABLE = "available"
    HELD = "held"
    COLLATERAL = "collateral"
    ESCROW = "escrow"
    FEES = "fees"
    PENALTIES = "penalties"
    WORLD = "world"


USER_KINDS = (AccountKind.AVAILABLE, AccountKind.HELD, AccountKind.COLLATERAL)
PLATFORM_KINDS = (AccountKind.ESCROW, AccountKind.FEES, AccountKind.PENALTIES, AccountKind.WORLD)


def user_account_key(user_id: int, kind: AccountKind) -> str:
    if kind not in USER_KINDS:
        raise ValueError(f"{kind} is not a user account kind")
    return f"user:{user_id}:{kind.value}"


def platform_account_key(kind: AccountKind) -> str:
    if kind not in PLATFORM_KINDS:
        raise ValueError(f"{kind} is not a platform account kind")
    return f"platform:{kind.value}"


def may_go_negative(kind: AccountKind) -> bool:
    return kind is AccountKind.WORLD


class LedgerError(Exception):
    """A movement the ledger refuses; nothing was written."""


class InsufficientFunds(LedgerError):
    pass


class TransferConflict(LedgerError):
    """A transfer id was reused with different details."""


class IllegalHoldTransition(LedgerError):
    pass


class HoldState(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"


# Partial posts keep a hold PENDING; posting the last part makes it POSTED.
HOLD_TRANSITIONS: Mapping[HoldState, frozenset[HoldState]] = {
    HoldState.PENDING: frozenset({HoldState.PENDING, HoldState.POSTED, HoldState.VOIDED}),
    HoldState.POSTED: frozenset(),
    HoldState.VOIDED: frozenset(),
}


def hold_transition(current: HoldState, target: HoldState) -> HoldState:
    if target not in HOLD_TRANSITIONS[current]:
        raise IllegalHoldTransition(f"a {current.value} hold cannot become {target.value}")
    return target


@dataclass(frozen=True, slots=True)
class TransferSpec:
    """What a caller asks for; ``id`` makes the request idempotent."""

    id: str
    debit: str  # account key
    credit: str  # account key
    amount: int
    code: str
    hold_id: str | None = None
    memo: str = ""

    def same_as(self, other: TransferSpec) -> bool:
        return (self.debit, self.credit, self.amount, self.code, self.hold_id) == (
            other.debit,
            other.credit,
            other.amount,
            other.code,
            other.hold_id,
        )


def validate_transfer(spec: TransferSpec) -> None:
    if not spec.id or len(spec.id) > 120:
        raise LedgerError("a transfer needs an id of 1 to 120 characters")
    if not isinstance(spec.amount, int) or isinstance(spec.amount, bool):
        raise LedgerError("amounts are integers of 10⁻⁸ NMR")
    if spec.amount <= 0:
        raise LedgerError("a transfer amount must be positive")
    if spec.debit == spec.credit:
        raise LedgerError("a transfer must move money between two different accounts")


def check_funds(*, balance: int, amount: int, allowed_negative: bool, what: str) -> None:
    if not allowed_negative and balance - amount < 0:
        raise InsufficientFunds(
            f"insufficient funds in the {what}: {format_nmr(balance)} NMR there, "
            f"{format_nmr(amount)} NMR needed"
        )


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    key: str
    kind: AccountKind
    user_id: int | None
    debits: int
    credits: int

    @property
    def balance(self) -> int:
        return self.credits - self.debits


@dataclass(frozen=True, slots=True)
class TransferRecord:
    id: str
    debit: str
    credit: str
    amount: int


@dataclass(frozen=True, slots=True)
class HoldRecord:
    id: str
    user_id: int
    amount: int
    remaining: int
    state: HoldState


def find_violations(
    accounts: Iterable[AccountSnapshot],
    transfers: Iterable[TransferRecord],
    holds: Iterable[HoldRecord],
) -> list[str]:
    """Every invariant of §3 that exists so far; returns human-readable violations."""
    violations: list[str] = []
    by_key = {a.key: a for a in accounts}
    debits = dict.fromkeys(by_key, 0)
    credits = dict.fromkeys(by_key, 0)
    seen: set[str] = set()
    for t in transfers:
        if t.id in seen:
            violations.append(f"transfer {t.id} appears twice")
        seen.add(t.id)
        if t.amount <= 0:
            violations.append(f"transfer {t.id} has a non-positive amount {t.amount}")
        if t.debit == t.credit:
            violations.append(f"transfer {t.id} debits and credits the same account")
        for key in (t.debit, t.credit):
            if key not in by_key:
                violations.append(f"transfer {t.id} names unknown account {key}")
        debits[t.debit] = debits.get(t.debit, 0) + t.amount
        credits[t.credit] = credits.get(t.credit, 0) + t.amount
    total = 0
    for key, account in by_key.items():
        if account.debits != debits[key] or account.credits != credits[key]:
            violations.append(
                f"account {key} totals (debits {account.debits}, credits {account.credits}) "
                f"differ from its transfers (debits {debits[key]}, credits {credits[key]})"
            )
        if account.balance < 0 and not may_go_negative(account.kind):
            violations.append(f"account {key} is negative: {account.balance} units")
        total += account.balance
    if total != 0:
        violations.append(f"the sum over all accounts is {total} units, not zero")
    pending_by_user: dict[int, int] = {}
    for h in holds:
        if not 0 <= h.remaining <= h.amount:
            violations.append(f"hold {h.id} has remaining {h.remaining} outside 0..{h.amount}")
        if h.state is HoldState.PENDING:
            pending_by_user[h.user_id] = pending_by_user.get(h.user_id, 0) + h.remaining
        elif h.remaining != 0:
            violations.append(f"{h.state.value} hold {h.id} still has {h.remaining} remaining")
    for account in by_key.values():
        if account.kind is AccountKind.HELD and account.user_id is not None:
            expected = pending_by_user.pop(account.user_id, 0)
            if account.balance != expected:
                violations.append(
                    f"account {account.key} holds {account.balance} units but the user's "
                    f"pending holds total {expected} units"
                )
    for user_id, amount in pending_by_user.items():
        if amount:
            violations.append(
                f"user {user_id} has {amount} units in pending holds but no held account"
            )
    return violations
