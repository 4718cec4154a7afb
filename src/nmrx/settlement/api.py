"""JSON API for fills: a user's purchases and sales, each fill's timeline in plain words,
and the live stream of their state changes (also the pages' stream: :mod:`nmrx.settlement.web`)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from nmrx.accounts.rules import Scope
from nmrx.accounts.service import Principal
from nmrx.platform.api_deps import container, require
from nmrx.platform.bounds import Int64
from nmrx.platform.errors import InvalidInput
from nmrx.platform.sse import cursor_stream
from nmrx.platform.wire import Money
from nmrx.settlement import service as settlement

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
    fill_id: Int64, request: Request, who: Principal = Depends(require(Scope.READ))
) -> TimelineOut:
    fill, steps = settlement.timeline(container(request), user_id=who.user_id, fill_id=fill_id)
    return TimelineOut(
        fill_id=fill.id, state=fill.state, steps=[StepOut(**s.__dict__) for s in steps]
    )


class FillChangeOut(BaseModel):
    event_id: int
    fill_id: int
    role: str
    from_state: str | None
    state: str
    reason: str
    detail: str
    at: datetime


@router.get("/fills/stream", tags=["settlement"])
async def fill_stream(
    request: Request,
    after: Int64 | None = None,
    poll: float = 1.0,
    max_events: Int64 | None = None,
    who: Principal = Depends(require(Scope.READ)),
) -> StreamingResponse:
    """Server-sent events: ``fill`` for every state change of your fills (as buyer or
    seller), oldest first. The stream starts after ``after`` (an event id), or after the
    ``Last-Event-ID`` a reconnecting client sends, else from now. ``max_events`` ends it.
    A ``poll`` below the exchange's minimum interval polls at that minimum; an account holds a
    few streams at a time (429 beyond)."""
    return await stream_fill_changes(
        request, user_id=who.user_id, after=after, poll=poll, max_events=max_events
    )


async def stream_fill_changes(
    request: Request,
    *,
    user_id: int,
    after: int | None,
    poll: float,
    max_events: int | None,
) -> StreamingResponse:
    """The fill stream of one authenticated user (the API's token or the web session):
    polls the fill history for rows past a cursor."""
    if not 0.05 <= poll <= 30:
        raise InvalidInput("poll must be between 0.05 and 30 seconds")
    c = container(request)
    return await cursor_stream(
        request,
        event="fill",
        opening="fill state changes",
        after=after,
        latest=lambda: settlement.last_change_id(c, user_id=user_id),
        rows_after=lambda cursor: settlement.fill_changes(c, user_id=user_id, after_id=cursor),
        cursor_of=lambda change: change.event_id,
        data_of=lambda change: FillChangeOut(**change.__dict__).model_dump(mode="json"),
        poll=poll,
        max_events=max_events,
        user_id=user_id,
    )
