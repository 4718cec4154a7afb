"""The JSON API, version 1: parse, call a service, serialise. No rules here."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, Field

from nmrx.accounts import service as accounts
from nmrx.accounts.rules import Scope
from nmrx.accounts.service import Principal
from nmrx.platform.api_deps import container, principal, require
from nmrx.platform.errors import Forbidden, InvalidInput, NotFound
from nmrx.platform.wire import AmountIn, Money
from nmrx.wallet import service as wallet

router = APIRouter(prefix="/api/v1")


class Me(BaseModel):
    id: int
    username: str
    scopes: list[str]


class Credentials(BaseModel):
    username: str
    password: str


class TokenRequest(BaseModel):
    name: str = Field(examples=["my pipeline"])
    scopes: list[str] = Field(examples=[["read", "trade", "upload"]])


class LoginTokenRequest(Credentials, TokenRequest):
    pass


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewToken(TokenOut):
    token: str = Field(description="shown once; store it safely")


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


def _token_out(info: accounts.TokenInfo) -> dict[str, object]:
    return {k: getattr(info, k) for k in TokenOut.model_fields}


def _wallet_out(b: wallet.Balances) -> WalletOut:
    return WalletOut(
        available=Money.of(b.available),
        held=Money.of(b.held),
        collateral=Money.of(b.collateral),
        total=Money.of(b.total),
    )


@router.post("/auth/register", response_model=Me, status_code=201, tags=["accounts"])
def register(body: Credentials, request: Request) -> Me:
    who = accounts.register(container(request).db, username=body.username, password=body.password)
    return Me(id=who.user_id, username=who.username, scopes=sorted(who.scopes))


@router.post("/auth/tokens", response_model=NewToken, status_code=201, tags=["accounts"])
def login_for_token(body: LoginTokenRequest, request: Request) -> NewToken:
    """Exchange a username and password for a new personal API token (for the CLI's `login`)."""
    db = container(request).db
    who = accounts.authenticate(db, username=body.username, password=body.password)
    token, info = accounts.create_token(db, user_id=who.user_id, name=body.name, scopes=body.scopes)
    return NewToken(token=token, **_token_out(info))


@router.get("/me", response_model=Me, tags=["accounts"])
def me(who: Principal = Depends(principal)) -> Me:
    return Me(id=who.user_id, username=who.username, scopes=sorted(who.scopes))


@router.get("/tokens", response_model=list[TokenOut], tags=["accounts"])
def list_tokens(request: Request, who: Principal = Depends(require(Scope.READ))) -> list[TokenOut]:
    return [
        TokenOut(**_token_out(t))
        for t in accounts.list_tokens(container(request).db, user_id=who.user_id)
    ]


@router.post("/tokens", response_model=NewToken, status_code=201, tags=["accounts"])
def create_token(
    body: TokenRequest, request: Request, who: Principal = Depends(principal)
) -> NewToken:
    wanted = set(body.scopes)
    if not wanted <= {s.value for s in who.scopes}:
        raise Forbidden("a token cannot create a token with scopes it does not have itself")
    token, info = accounts.create_token(
        container(request).db, user_id=who.user_id, name=body.name, scopes=body.scopes
    )
    return NewToken(token=token, **_token_out(info))


@router.delete("/tokens/{token_id}", response_model=TokenOut, tags=["accounts"])
def revoke_token(token_id: int, request: Request, who: Principal = Depends(principal)) -> TokenOut:
    c = container(request)
    info = accounts.revoke_token(c.db, user_id=who.user_id, token_id=token_id, now=c.clock.now())
    return TokenOut(**_token_out(info))


@router.get("/wallet", response_model=WalletOut, tags=["wallet"])
def get_wallet(request: Request, who: Principal = Depends(require(Scope.READ))) -> WalletOut:
    return _wallet_out(wallet.balances(container(request).db, user_id=who.user_id))


@router.get("/wallet/history", response_model=list[HistoryEntry], tags=["wallet"])
def get_history(
    request: Request, limit: int = 100, who: Principal = Depends(require(Scope.READ))
) -> list[HistoryEntry]:
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000")
    rows = wallet.history(container(request).db, user_id=who.user_id, limit=limit)
    return [HistoryEntry(**{**r, "amount": Money.of(r["amount"])}) for r in rows]  # type: ignore[arg-type]


@router.post("/wallet/faucet", response_model=WalletOut, tags=["wallet"])
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


class DemoClockIn(BaseModel):
    to: str = Field(description="next_open, next_close or days")
    days: float = 1


class DemoClockOut(BaseModel):
    now: str
    round_number: int | None
    round_status: str | None
    duties: dict[str, str]


@router.post("/demo/clock", response_model=DemoClockOut, tags=["demo"])
def demo_clock(
    body: DemoClockIn, request: Request, who: Principal = Depends(principal)
) -> DemoClockOut:
    """Demo mode only: advance the Numerai emulator's clock and run the worker's duties now."""
    from nmrx.demo import control as clock

    report = clock.advance(container(request), to=body.to, days=body.days)
    return DemoClockOut(**report.__dict__)
