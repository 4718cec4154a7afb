"""JSON API for seller onboarding: Numerai keys, model ownership, collateral, seller pages."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, Field

from nmrx.accounts.rules import Scope
from nmrx.accounts.service import Principal
from nmrx.platform import rate_limit
from nmrx.platform.api_deps import container, require
from nmrx.platform.bounds import Int64
from nmrx.platform.wire import AmountIn, Money
from nmrx.sellers import collateral, numerai_keys, ownership

router = APIRouter(prefix="/api/v1")


class KeyIn(BaseModel):
    public_id: str
    secret: str = Field(description="write-only: stored encrypted, never returned")


class KeyOut(BaseModel):
    id: int
    public_id: str
    numerai_username: str
    scopes: list[str]
    models: list[str]
    created_at: datetime
    updated_at: datetime
    warnings: list[str] = Field(
        default_factory=list,
        description="what the key cannot do for NMRX (e.g. automatic submissions), or "
        "scopes it carries that NMRX never needs (stake)",
    )


class VerificationIn(BaseModel):
    model_name: str
    tournament: str = "classic"


class CodeOut(BaseModel):
    id: int
    model_name: str
    tournament: str
    code: str
    expires_at: datetime
    used: bool
    instructions: str = ""


class ModelOut(BaseModel):
    id: int
    numerai_id: str
    name: str
    tournament: str
    owner: str | None
    verified_at: datetime | None
    verified_via: str | None
    has_key: bool


class CheckOut(BaseModel):
    outcome: str
    message: str
    model: ModelOut | None


class CollateralOut(BaseModel):
    collateral: Money
    requirement: Money
    unsettled_notional: Money
    max_unlock: Money
    is_seller: bool
    may_list: bool
    open_ask_notional: Money | None = Field(
        None, description="the notional of your open asks: it counts toward the requirement"
    )


class SellerOut(BaseModel):
    username: str
    member_since: datetime
    models: list[ModelOut]


def _code(info: ownership.CodeInfo) -> CodeOut:
    return CodeOut(
        **info.__dict__,
        instructions=f"Put {info.code} in the bio of your {info.tournament} model '{info.model_name}' on Numerai, then check.",
    )


def _collateral(s: collateral.CollateralStatus) -> CollateralOut:
    return CollateralOut(
        collateral=Money.of(s.collateral),
        requirement=Money.of(s.requirement),
        unsettled_notional=Money.of(s.unsettled_notional),
        open_ask_notional=Money.of(s.open_ask_notional),
        max_unlock=Money.of(s.max_unlock),
        is_seller=s.is_seller,
        may_list=s.may_list,
    )


@router.get("/numerai-keys", response_model=list[KeyOut], tags=["numerai keys"])
def list_keys(request: Request, who: Principal = Depends(require(Scope.READ))) -> list[KeyOut]:
    return [
        KeyOut(**k.__dict__)
        for k in numerai_keys.list_keys(container(request), user_id=who.user_id)
    ]


@router.post(
    "/numerai-keys",
    response_model=KeyOut,
    status_code=201,
    tags=["numerai keys"],
    dependencies=[Depends(rate_limit.per_account("numerai_keys"))],
)
def add_key(
    body: KeyIn, request: Request, who: Principal = Depends(require(Scope.TRADE))
) -> KeyOut:
    """Add or replace a Numerai API key; its account's models are verified for you at once."""
    info = numerai_keys.add_key(
        container(request), user_id=who.user_id, public_id=body.public_id, secret=body.secret
    )
    return KeyOut(**info.__dict__)


@router.delete("/numerai-keys/{key_id}", status_code=204, tags=["numerai keys"])
def delete_key(
    key_id: Int64, request: Request, who: Principal = Depends(require(Scope.TRADE))
) -> None:
    numerai_keys.delete_key(container(request), user_id=who.user_id, key_id=key_id)


@router.post(
    "/models/verifications",
    response_model=CodeOut,
    status_code=201,
    tags=["models"],
    dependencies=[Depends(rate_limit.per_account("verifications"))],
)
def request_code(
    body: VerificationIn, request: Request, who: Principal = Depends(require(Scope.TRADE))
) -> CodeOut:
    info = ownership.request_code(
        container(request),
        user_id=who.user_id,
        model_name=body.model_name,
        tournament=body.tournament,
    )
    return _code(info)


@router.get("/models/verifications", response_model=list[CodeOut], tags=["models"])
def list_codes(request: Request, who: Principal = Depends(require(Scope.READ))) -> list[CodeOut]:
    return [_code(i) for i in ownership.list_codes(container(request), user_id=who.user_id)]


@router.post(
    "/models/verifications/{code_id}/check",
    response_model=CheckOut,
    tags=["models"],
    dependencies=[Depends(rate_limit.per_account("verification_checks"))],
)
def check_code(
    code_id: Int64, request: Request, who: Principal = Depends(require(Scope.TRADE))
) -> CheckOut:
    result = ownership.check_code(container(request), user_id=who.user_id, code_id=code_id)
    return CheckOut(
        outcome=result.outcome.value,
        message=result.message,
        model=ModelOut(**result.model.__dict__) if result.model else None,
    )


@router.get("/models/mine", response_model=list[ModelOut], tags=["models"])
def my_models(request: Request, who: Principal = Depends(require(Scope.READ))) -> list[ModelOut]:
    return [
        ModelOut(**m.__dict__) for m in ownership.models_of(container(request), user_id=who.user_id)
    ]


@router.delete("/models/{model_id}/ownership", status_code=204, tags=["models"])
def release(
    model_id: Int64, request: Request, who: Principal = Depends(require(Scope.TRADE))
) -> None:
    ownership.release_model(container(request), user_id=who.user_id, model_id=model_id)


@router.get("/sellers/{username}", response_model=SellerOut, tags=["models"])
def seller(username: str, request: Request) -> SellerOut:
    """Public: every model the seller owns."""
    name, since, models = ownership.seller_page(container(request), username=username)
    return SellerOut(
        username=name, member_since=since, models=[ModelOut(**m.__dict__) for m in models]
    )


@router.get("/collateral", response_model=CollateralOut, tags=["wallet"])
def get_collateral(
    request: Request, who: Principal = Depends(require(Scope.READ))
) -> CollateralOut:
    return _collateral(collateral.status(container(request), user_id=who.user_id))


@router.post("/collateral/lock", response_model=CollateralOut, tags=["wallet"])
def lock(
    body: AmountIn,
    request: Request,
    who: Principal = Depends(require(Scope.TRADE)),
    idempotency_key: str | None = Header(None),
) -> CollateralOut:
    return _collateral(
        collateral.lock(
            container(request), user_id=who.user_id, amount=body.units(), request_id=idempotency_key
        )
    )


@router.post("/collateral/unlock", response_model=CollateralOut, tags=["wallet"])
def unlock(
    body: AmountIn,
    request: Request,
    who: Principal = Depends(require(Scope.TRADE)),
    idempotency_key: str | None = Header(None),
) -> CollateralOut:
    return _collateral(
        collateral.unlock(
            container(request), user_id=who.user_id, amount=body.units(), request_id=idempotency_key
        )
    )
