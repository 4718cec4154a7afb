"""JSON API for fills: a user's purchases and sales, and each fill's timeline in plain words."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from nmrx.api.deps import container, require
from nmrx.api.money import Money
from nmrx.domain.accounts import Scope
from nmrx.services import notifications, settlement
from nmrx.services.accounts import Principal
from nmrx.services.errors import InvalidInput

router = APIRouter(prefix="/api/v1")


class FillOut(BaseModel):
    id: int
    role: str
    model: str
    round_number: int
    mode: str
    quantity: int
    price: Money
    notional: Money
    state: str
    explanation: str
    created_at: datetime
    updated_at: datetime


class StepOut(BaseModel):
    state: str
    reason: str
    detail: str
    at: datetime


class TimelineOut(BaseModel):
    fill_id: int
    state: str
    steps: list[StepOut]


@router.get("/fills", response_model=list[FillOut], tags=["settlement"])
def my_fills(
    request: Request, role: str | None = None, who: Principal = Depends(require(Scope.READ))
) -> list[FillOut]:
    """Your purchases (`role=buyer`), sales (`role=seller`) or both, with where each stands."""
    if role not in (None, "buyer", "seller"):
        raise InvalidInput("role must be 'buyer' or 'seller'")
    rows = settlement.fills_of_user(container(request), user_id=who.user_id, role=role)
    return [
        FillOut(**{**r.__dict__, "price": Money.of(r.price), "notional": Money.of(r.notional)})
        for r in rows
    ]


@router.get("/fills/{fill_id}/timeline", response_model=TimelineOut, tags=["settlement"])
def fill_timeline(
    fill_id: int, request: Request, who: Principal = Depends(require(Scope.READ))
) -> TimelineOut:
    fill, steps = settlement.timeline(container(request), user_id=who.user_id, fill_id=fill_id)
    return TimelineOut(
        fill_id=fill.id, state=fill.state, steps=[StepOut(**s.__dict__) for s in steps]
    )


class NotificationOut(BaseModel):
    kind: str
    title: str
    body: str
    at: datetime
    deadline: datetime | None
    link: str | None


@router.get("/notifications", response_model=list[NotificationOut], tags=["notifications"])
def my_notifications(
    request: Request, who: Principal = Depends(require(Scope.READ))
) -> list[NotificationOut]:
    """What needs doing before which deadline (first), then what happened, newest first."""
    return [
        NotificationOut(**n.__dict__)
        for n in notifications.for_user(container(request), user_id=who.user_id)
    ]
