"""Seller collateral: lock and unlock through the ledger, against one requirement function."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from nmrx.market import queries as market_db
from nmrx.platform.bootstrap import Container
from nmrx.platform.errors import Conflict, InvalidInput
from nmrx.platform.tables import AuditEvent
from nmrx.sellers import ownership
from nmrx.sellers.rules import (
    committed_notional,
    free_collateral,
    max_unlock,
    may_list,
    seller_requirement,
)
from nmrx.wallet import repo as ledger_db
from nmrx.wallet.money import format_nmr
from nmrx.wallet.rules import AccountKind, InsufficientFunds, TransferSpec, user_account_key


@dataclass(frozen=True)
class CollateralStatus:
    collateral: int
    requirement: int
    unsettled_notional: int
    is_seller: bool
    may_list: bool
    max_unlock: int
    stake_bonds: int = 0  # buyer collateral bonded to unsettled Stake Mode fills
    open_ask_notional: int = 0  # the seller's open asks, which reserve collateral too


def unsettled_notional(session: Session, user_id: int) -> int:
    """Notional of the seller's fills still awaiting settlement."""
    return market_db.unsettled_notional_as_seller(session, user_id)


def _status(c: Container, session: Session, user_id: int) -> CollateralStatus:
    """The seller's standing. Stake Mode collateral the user locked as a *buyer* in
    unsettled fills is bonded to those fills: it neither counts toward the seller
    requirement nor may be unlocked."""
    policy = c.collateral_policy
    collateral = ledger_db.balances(session, user_id).get(AccountKind.COLLATERAL, 0)
    bonds = market_db.stake_bonds_as_buyer(session, user_id)
    free = free_collateral(collateral, stake_bonds=bonds)
    unsettled = unsettled_notional(session, user_id)
    open_asks = market_db.open_ask_notional(session, user_id)
    # open asks reserve collateral as unsettled sales do (market-rules §5.1)
    exposure = committed_notional(unsettled=unsettled, open_asks=open_asks)
    seller = ownership.is_seller(session, user_id)
    return CollateralStatus(
        collateral=collateral,
        requirement=seller_requirement(policy, unsettled_notional=exposure),
        unsettled_notional=unsettled,
        is_seller=seller,
        may_list=may_list(policy, collateral=free, unsettled_notional=exposure),
        max_unlock=max_unlock(
            policy, collateral=free, unsettled_notional=exposure, is_seller=seller
        ),
        stake_bonds=bonds,
        open_ask_notional=open_asks,
    )


def status(c: Container, *, user_id: int) -> CollateralStatus:
    with c.db.transaction() as session:
        return _status(c, session, user_id)


def _key(user_id: int, prefix: str, request_id: str | None) -> str:
    return f"{prefix}:{user_id}:{(request_id or uuid.uuid4().hex).strip()[:64]}"


def lock(
    c: Container, *, user_id: int, amount: int, request_id: str | None = None
) -> CollateralStatus:
    if amount <= 0:
        raise InvalidInput("the amount to lock must be positive")
    with c.db.transaction() as session:
        try:
            ledger_db.transfer(
                session,
                TransferSpec(
                    id=_key(user_id, "collateral-lock", request_id),
                    debit=user_account_key(user_id, AccountKind.AVAILABLE),
                    credit=user_account_key(user_id, AccountKind.COLLATERAL),
                    amount=amount,
                    code="collateral_lock",
                    memo="collateral locked",
                ),
            )
        except InsufficientFunds as exc:
            raise Conflict(str(exc)) from None
        session.add(
            AuditEvent(
                actor_user_id=user_id,
                action="collateral.lock",
                subject=f"user:{user_id}",
                detail=str(amount),
            )
        )
        return _status(c, session, user_id)


def unlock(
    c: Container, *, user_id: int, amount: int, request_id: str | None = None
) -> CollateralStatus:
    if amount <= 0:
        raise InvalidInput("the amount to unlock must be positive")
    with c.db.transaction() as session:
        # first the accounts: two unlocks at once decide one after the other
        ledger_db.lock_accounts(
            session,
            [
                user_account_key(user_id, AccountKind.COLLATERAL),
                user_account_key(user_id, AccountKind.AVAILABLE),
            ],
        )
        current = _status(c, session, user_id)
        if amount > current.max_unlock:
            raise Conflict(_too_much(amount, current))
        try:
            _unlock_transfer(session, user_id, amount, request_id)
        except InsufficientFunds:  # cannot happen under the lock; never a server error
            raise Conflict(_too_much(amount, _status(c, session, user_id))) from None
        session.add(
            AuditEvent(
                actor_user_id=user_id,
                action="collateral.unlock",
                subject=f"user:{user_id}",
                detail=str(amount),
            )
        )
        return _status(c, session, user_id)


def _too_much(amount: int, current: CollateralStatus) -> str:
    return (
        f"cannot unlock {format_nmr(amount)} NMR: your collateral is "
        f"{format_nmr(current.collateral)} NMR and a seller must keep "
        f"{format_nmr(current.requirement)} NMR locked{_for_asks(current)} "
        f"(you may unlock at most {format_nmr(current.max_unlock)} NMR)"
    )


def _for_asks(current: CollateralStatus) -> str:
    if not current.open_ask_notional:
        return ""
    return f", counting your open asks of {format_nmr(current.open_ask_notional)} NMR"


def _unlock_transfer(session: Session, user_id: int, amount: int, request_id: str | None) -> None:
    ledger_db.transfer(
        session,
        TransferSpec(
            id=_key(user_id, "collateral-unlock", request_id),
            debit=user_account_key(user_id, AccountKind.COLLATERAL),
            credit=user_account_key(user_id, AccountKind.AVAILABLE),
            amount=amount,
            code="collateral_unlock",
            memo="collateral unlocked",
        ),
    )
