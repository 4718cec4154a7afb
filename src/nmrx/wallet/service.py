"""Use cases for a user's money: balances, history, demo faucet, demo withdrawal."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from nmrx.accounts import service as accounts
from nmrx.platform.db import Database
from nmrx.platform.errors import Conflict, InvalidInput, NotFound
from nmrx.platform.tables import AuditEvent
from nmrx.wallet import queries as ledger_queries
from nmrx.wallet import repo as ledger_db
from nmrx.wallet.money import format_nmr
from nmrx.wallet.rules import (
    AccountKind,
    InsufficientFunds,
    LedgerError,
    TransferSpec,
    platform_account_key,
    user_account_key,
)


@dataclass(frozen=True)
class Balances:
    available: int
    held: int
    collateral: int

    @property
    def total(self) -> int:
        return self.available + self.held + self.collateral


def balances(db: Database, *, user_id: int) -> Balances:
    with db.transaction() as session:
        b = ledger_db.balances(session, user_id)
        return Balances(
            available=b.get(AccountKind.AVAILABLE, 0),
            held=b.get(AccountKind.HELD, 0),
            collateral=b.get(AccountKind.COLLATERAL, 0),
        )


def ledger_totals(db: Database) -> dict[AccountKind, int]:
    """Every account's balance summed by kind: the operator's reserves panel."""
    with db.transaction() as session:
        return ledger_queries.totals_by_kind(session)


def history(db: Database, *, user_id: int, limit: int = 100) -> list[dict[str, object]]:
    with db.transaction() as session:
        return ledger_queries.history(session, user_id, limit=limit)


def _request_id(user_id: int, prefix: str, request_id: str | None) -> str:
    if request_id is None:
        return f"{prefix}:{user_id}:{uuid.uuid4().hex}"
    cleaned = request_id.strip()
    if not 1 <= len(cleaned) <= 64:
        raise InvalidInput("an idempotency key must be 1 to 64 characters")
    return f"{prefix}:{user_id}:{cleaned}"


def faucet(
    db: Database, *, user_id: int, amount: int, max_amount: int, request_id: str | None = None
) -> Balances:
    """Demo money: credit test NMR from the world account. Only wired in demo mode."""
    if amount <= 0:
        raise InvalidInput("the faucet amount must be positive")
    if amount > max_amount:
        raise InvalidInput(f"the faucet gives at most {format_nmr(max_amount)} NMR per request")
    _move(
        db,
        user_id,
        TransferSpec(
            id=_request_id(user_id, "faucet", request_id),
            debit=platform_account_key(AccountKind.WORLD),
            credit=user_account_key(user_id, AccountKind.AVAILABLE),
            amount=amount,
            code="faucet",
            memo="demo faucet",
        ),
    )
    return balances(db, user_id=user_id)


def withdraw(db: Database, *, user_id: int, amount: int, request_id: str | None = None) -> Balances:
    """Send available funds out to the world (demo rail: the money simply leaves)."""
    if amount <= 0:
        raise InvalidInput("the withdrawal amount must be positive")
    _move(
        db,
        user_id,
        TransferSpec(
            id=_request_id(user_id, "withdrawal", request_id),
            debit=user_account_key(user_id, AccountKind.AVAILABLE),
            credit=platform_account_key(AccountKind.WORLD),
            amount=amount,
            code="withdrawal",
            memo="withdrawal",
        ),
    )
    return balances(db, user_id=user_id)


def _move(db: Database, user_id: int, spec: TransferSpec) -> None:
    try:
        with db.transaction() as session:
            if spec.code == "withdrawal":
                accounts.ensure_active(session, user_id, "it cannot withdraw")
            ledger_db.transfer(session, spec)
            session.add(
                AuditEvent(
                    actor_user_id=user_id,
                    action=f"wallet.{spec.code}",
                    subject=spec.id,
                    detail=str(spec.amount),
                )
            )
    except InsufficientFunds as exc:
        raise Conflict(str(exc)) from exc
    except LedgerError as exc:
        if "unknown ledger account" in str(exc):
            raise NotFound(str(exc)) from exc
        raise Conflict(str(exc)) from exc
