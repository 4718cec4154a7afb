"""Ledger use cases: generic movements (each its own unit of work) and the invariant check."""

from __future__ import annotations

from nmrx.market import queries as market_db
from nmrx.market.rules import find_market_violations
from nmrx.platform.db import Database
from nmrx.wallet import queries as ledger_queries
from nmrx.wallet import repo as ledger_db
from nmrx.wallet.rules import TransferSpec, find_violations


def check(db: Database) -> list[str]:
    """Every violated invariant, in words; an empty list means the ledger is sound.

    Ledger invariants (balanced transfers, sum zero, no overdraft, held = pending holds)
    and the market's (held = open bids, escrow = unsettled fills, no crossed book)."""
    with db.transaction() as session:
        violations = find_violations(*ledger_queries.snapshot(session))
        m = market_db.snapshot(session)
        return violations + find_market_violations(
            bids=m.bids,
            held_by_user=m.held_by_user,
            orders=m.orders,
            escrow_balance=m.escrow_balance,
            unsettled_notional=m.unsettled_notional,
            best_prices=m.best_prices,
            other_held_by_user=m.other_held_by_user,
            escrow_outside_market=m.escrow_outside_market,
        )


def transfer(db: Database, spec: TransferSpec) -> None:
    with db.transaction() as session:
        ledger_db.transfer(session, spec)


def place_hold(db: Database, *, hold_id: str, user_id: int, amount: int, purpose: str) -> None:
    with db.transaction() as session:
        ledger_db.place_hold(
            session, hold_id=hold_id, user_id=user_id, amount=amount, purpose=purpose
        )


def post_hold(
    db: Database, *, hold_id: str, transfer_id: str, amount: int, credit: str, code: str
) -> None:
    with db.transaction() as session:
        ledger_db.post_hold(
            session,
            hold_id=hold_id,
            transfer_id=transfer_id,
            amount=amount,
            credit=credit,
            code=code,
        )


def void_hold(db: Database, *, hold_id: str) -> None:
    with db.transaction() as session:
        ledger_db.void_hold(session, hold_id=hold_id)
