"""JSON API of the wallet: balances, history, the demo faucet and withdrawals.
Parse, call a service, serialise; no rules here."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, Field

from nmrx.accounts.rules import Scope
from nmrx.accounts.service import Principal
from nmrx.platform import rate_limit
from nmrx.platform.api_deps import container, require
from nmrx.platform.bounds import Int64
from nmrx.platform.errors import InvalidInput, NotFound
from nmrx.platform.wire import AmountIn, Money
from nmrx.wallet import service as wallet

router = APIRouter(prefix="/api/v1")


class WalletOut(BaseModel):
    available: Money
    held: Money
    collateral: Money
    total: Money


class HistoryEntry(BaseModel):
    id: str
    code: str
    amount: Money
    effect: dict[str, int] = Field(description="signed units per account of yours")
    memo: str
    created_at: datetime


def _wallet_out(b: wallet.Balances) -> WalletOut:
    return WalletOut(
        available=Money.of(b.available),
        held=Money.of(b.held),
        collateral=Money.of(b.collateral),
        total=Money.of(b.total),
    )


@router.get("/wallet", response_model=WalletOut, tags=["wallet"])
def get_wallet(request: Request, who: Principal = Depends(require(Scope.READ))) -> WalletOut:
    return _wallet_out(wallet.balances(container(request).db, user_id=who.user_id))


@router.get("/wallet/history", response_model=list[HistoryEntry], tags=["wallet"])
def get_history(
    request: Request, limit: Int64 = 100, who: Principal = Depends(require(Scope.READ))
) -> list[HistoryEntry]:
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000")
    rows = wallet.history(container(request).db, user_id=who.user_id, limit=limit)
    # cast: a history row's amount is the transfer's integer units (wallet.queries.history)
    return [HistoryEntry(**{**r, "amount": Money.of(cast(int, r["amount"]))}) for r in rows]


@router.post(
    "/wallet/faucet",
    response_model=WalletOut,
    tags=["wallet"],
    dependencies=[Depends(rate_limit.per_account("faucet"))],
)
def faucet(
    body: AmountIn,
    request: Request,
    who: Principal = Depends(require(Scope.TRADE)),
    idempotency_key: str | None = Header(None),
) -> WalletOut:
    """Demo mode only: credit test NMR (at most 1,000 NMR a request)."""
    c = container(request)
    if not c.settings.demo:
        raise NotFound("the faucet exists only in demo mode")
    balances = wallet.faucet(
        c.db,
        user_id=who.user_id,
        amount=body.units(),
        max_amount=c.settings.faucet_max_units,
        request_id=idempotency_key,
    )
    return _wallet_out(balances)


@router.post("/wallet/withdrawals", response_model=WalletOut, tags=["wallet"])
def withdraw(
    body: AmountIn,
    request: Request,
    who: Principal = Depends(require(Scope.TRADE)),
    idempotency_key: str | None = Header(None),
) -> WalletOut:
    balances = wallet.withdraw(
        container(request).db, user_id=who.user_id, amount=body.units(), request_id=idempotency_key
    )
    return _wallet_out(balances)
