"""Ledger read queries: a user's history and the snapshot the invariant check reads.
The ledger's writes (and balances) are :mod:`nmrx.wallet.repo`."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nmrx.wallet.rules import (
    AccountKind,
    AccountSnapshot,
    HoldRecord,
    HoldState,
    TransferRecord,
)
from nmrx.wallet.tables import LedgerAccount, LedgerHold, LedgerTransfer


def history(session: Session, user_id: int, limit: int = 100) -> list[dict[str, object]]:
    """The user's transfers, newest first, with the signed effect on each of their accounts."""
    accounts = {
        a.id: a
        for a in session.scalars(select(LedgerAccount).where(LedgerAccount.user_id == user_id))
    }
    ids = list(accounts)
    rows = session.scalars(
        select(LedgerTransfer)
        .where(LedgerTransfer.debit_account_id.in_(ids) | LedgerTransfer.credit_account_id.in_(ids))
        .order_by(LedgerTransfer.seq.desc())
        .limit(limit)
    ).all()
    entries = []
    for row in rows:
        effect: dict[str, int] = {}
        if row.debit_account_id in accounts:
            effect[accounts[row.debit_account_id].kind] = -row.amount
        if row.credit_account_id in accounts:
            kind = accounts[row.credit_account_id].kind
            effect[kind] = effect.get(kind, 0) + row.amount
        entries.append(
            {
                "id": row.id,
                "code": row.code,
                "amount": row.amount,
                "effect": effect,
                "memo": row.memo,
                "created_at": row.created_at,
            }
        )
    return entries


def snapshot(
    session: Session,
) -> tuple[list[AccountSnapshot], list[TransferRecord], list[HoldRecord]]:
    accounts = session.scalars(select(LedgerAccount)).all()
    key_of = {a.id: a.key for a in accounts}
    snaps = [
        AccountSnapshot(
            key=a.key,
            kind=AccountKind(a.kind),
            user_id=a.user_id,
            debits=a.debits,
            credits=a.credits,
        )
        for a in accounts
    ]
    transfers = [
        TransferRecord(
            id=t_id, debit=key_of.get(d, f"#{d}"), credit=key_of.get(c, f"#{c}"), amount=amt
        )
        for t_id, d, c, amt in session.execute(
            select(
                LedgerTransfer.id,
                LedgerTransfer.debit_account_id,
                LedgerTransfer.credit_account_id,
                LedgerTransfer.amount,
            )
        )
    ]
    holds = [
        HoldRecord(
            id=h.id,
            user_id=h.user_id,
            amount=h.amount,
            remaining=h.remaining,
            state=HoldState(h.state),
        )
        for h in session.scalars(select(LedgerHold))
    ]
    return snaps, transfers, holds


def totals_by_kind(session: Session) -> dict[AccountKind, int]:
    """The sum of every account's balance, by kind (all users' available, escrow, …)."""
    rows = session.execute(
        select(LedgerAccount.kind, func.sum(LedgerAccount.credits - LedgerAccount.debits)).group_by(
            LedgerAccount.kind
        )
    ).all()
    return {AccountKind(kind): int(total or 0) for kind, total in rows}
