"""JSON API of the market: instruments, books, trades, price history, a live stream and
orders (ladders and standing bids: :mod:`nmrx.market.standing_orders_api`, included here). Parse,
call a service, serialise; no rules here.

Prices are given as ``price`` (decimal NMR text, e.g. ``"0.05"``) or ``price_units``
(integer units of 10⁻⁸ NMR), never as floats; quantities are whole numbers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Literal, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials

from nmrx.accounts.rules import Scope
from nmrx.accounts.service import Principal
from nmrx.market import data as market_data
from nmrx.market import service as orders
from nmrx.market import standing_orders_api as listings_api
from nmrx.market.schemas import (
    BookOut,
    InstrumentOut,
    MarketOrderIn,
    MarketOut,
    OrderIn,
    OrderOut,
    RoundBarOut,
    TradeOut,
    book_out,
    instrument_out,
    order_out,
    trade_out,
)
from nmrx.platform.api_deps import bearer, container, principal, require
from nmrx.platform.bounds import Int64
from nmrx.platform.errors import InvalidInput
from nmrx.platform.sse import effective_poll, event_stream
from nmrx.platform.sse import sse as _sse
from nmrx.platform.wire import Money

router = APIRouter(prefix="/api/v1")
router.include_router(listings_api.router)
T = TypeVar("T")


async def _as(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    scope: Scope,
    work: Callable[[Principal], T],
) -> T:
    """Authenticate and run ``work`` in one worker-thread hop (the hot trading routes:
    FastAPI would otherwise hop to a thread for each sync dependency and the route)."""

    def run() -> T:
        who = principal(request, credentials)
        who.require(scope)
        return work(who)

    return await run_in_threadpool(run)


def _placed(p: orders.Placement, response: Response) -> OrderOut:
    response.status_code = 200 if p.duplicate else 201
    return order_out(p.order, p.duplicate)


# ------------------------------------------------------------------ market data (public)


@router.get("/markets", response_model=list[MarketOut], tags=["market data"])
def markets(
    request: Request, tournament: str | None = None, mode: str | None = None
) -> list[MarketOut]:
    """Every listed model and mode with its open books, nearest round first."""
    found: dict[tuple[int, str], MarketOut] = {}
    for i in market_data.list_instruments(
        container(request), tournament=tournament, mode=mode, listed_only=True
    ):
        market = found.setdefault(
            (i.model_id, i.mode),
            MarketOut(
                model_id=i.model_id,
                model_name=i.model_name,
                tournament=i.tournament,
                owner=i.owner,
                mode=i.mode,
                instruments=[],
            ),
        )
        market.instruments.append(instrument_out(i))
    return list(found.values())


@router.get("/instruments", response_model=list[InstrumentOut], tags=["market data"])
def list_instruments(
    request: Request,
    model_id: Int64 | None = None,
    mode: str | None = None,
    tournament: str | None = None,
    round_number: Int64 | None = None,
    state: Literal["open", "closed", "all"] = "open",
) -> list[InstrumentOut]:
    rows = market_data.list_instruments(
        container(request),
        model_id=model_id,
        mode=mode,
        tournament=tournament,
        round_number=round_number,
        state=None if state == "all" else state,
    )
    return [instrument_out(i) for i in rows]


@router.get("/instruments/{instrument_id}", response_model=InstrumentOut, tags=["market data"])
def get_instrument(instrument_id: Int64, request: Request) -> InstrumentOut:
    return instrument_out(
        market_data.get_instrument(container(request), instrument_id=instrument_id)
    )


@router.get("/instruments/{instrument_id}/book", response_model=BookOut, tags=["market data"])
def get_book(instrument_id: Int64, request: Request, depth: Int64 = 50) -> BookOut:
    """L2 depth (price levels with their total quantity), best price first."""
    return book_out(market_data.book(container(request), instrument_id=instrument_id, depth=depth))


@router.get(
    "/instruments/{instrument_id}/trades", response_model=list[TradeOut], tags=["market data"]
)
def get_trades(
    instrument_id: Int64, request: Request, limit: Int64 = 100, after_id: Int64 = 0
) -> list[TradeOut]:
    """The trade tape, newest first (with ``after_id``: the later trades, oldest first)."""
    rows = market_data.trades(
        container(request), instrument_id=instrument_id, limit=limit, after_id=after_id
    )
    return [trade_out(t) for t in rows]


@router.get("/instruments/{instrument_id}/stream", tags=["market data"])
async def stream(
    instrument_id: Int64, request: Request, poll: float = 0.5, max_events: Int64 | None = None
) -> StreamingResponse:
    """Server-sent events: ``book`` (L2 with its ``seq``) whenever the book changes and
    ``trade`` for every new fill. ``max_events`` ends the stream (for scripts and tests).
    A ``poll`` below the exchange's minimum interval polls at that minimum; a client holds a
    few streams at a time (429 beyond)."""
    c = container(request)
    first = await run_in_threadpool(market_data.book, c, instrument_id=instrument_id)
    latest = await run_in_threadpool(market_data.trades, c, instrument_id=instrument_id, limit=1)
    if not 0.05 <= poll <= 10:
        raise InvalidInput("poll must be between 0.05 and 10 seconds")
    poll = effective_poll(request, poll)

    async def events() -> AsyncIterator[str]:
        view, last_trade, seq, sent = first, (latest[0].id if latest else 0), -1, 0
        while max_events is None or sent < max_events:
            if view.seq != seq:
                seq = view.seq
                yield _sse("book", seq, book_out(view).model_dump(mode="json"))
                sent += 1
                new = await run_in_threadpool(
                    market_data.trades, c, instrument_id=instrument_id, after_id=last_trade
                )
                for t in new:
                    if max_events is not None and sent >= max_events:
                        break
                    last_trade = t.id
                    yield _sse("trade", t.id, trade_out(t).model_dump(mode="json"))
                    sent += 1
                continue
            if await request.is_disconnected():
                break
            await asyncio.sleep(poll)
            view = await run_in_threadpool(market_data.book, c, instrument_id=instrument_id)

    return event_stream(request, events(), user_id=None)


@router.get(
    "/models/{model_id}/price-history", response_model=list[RoundBarOut], tags=["market data"]
)
def price_history(model_id: Int64, request: Request, mode: str = "file") -> list[RoundBarOut]:
    """Open/high/low/close and volume per round, oldest round first."""
    bars = market_data.price_history(container(request), model_id=model_id, mode=mode)
    return [
        RoundBarOut(
            round_number=b.round_number,
            open=Money.of(b.open),
            high=Money.of(b.high),
            low=Money.of(b.low),
            close=Money.of(b.close),
            volume=b.volume,
            notional=Money.of(b.notional),
            trades=b.trades,
        )
        for b in bars
    ]


# ------------------------------------------------------------------ orders


@router.post("/orders", response_model=OrderOut, status_code=201, tags=["orders"])
async def place_order(
    body: OrderIn,
    request: Request,
    response: Response,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> OrderOut:
    """Place a limit order. A bid holds quantity × price (plus Stake Mode collateral).
    Resubmitting a ``client_order_id`` returns the original order (status 200)."""

    def work(who: Principal) -> orders.Placement:
        return orders.place_order(
            container(request),
            user_id=who.user_id,
            instrument_id=body.instrument_id,
            side=body.side,
            quantity=body.quantity,
            price=body.units(),
            order_type=body.order_type,
            client_order_id=body.client_order_id,
            slot_model_id=body.slot_model_id,
        )

    return _placed(await _as(request, credentials, Scope.TRADE, work), response)


@router.post("/orders/buy-now", response_model=OrderOut, status_code=201, tags=["orders"])
async def buy_now(
    body: MarketOrderIn,
    request: Request,
    response: Response,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> OrderOut:
    """Buy Now: an IOC bid at the lowest ask."""

    def work(who: Principal) -> orders.Placement:
        return orders.buy_now(
            container(request),
            user_id=who.user_id,
            instrument_id=body.instrument_id,
            quantity=body.quantity,
            client_order_id=body.client_order_id,
            slot_model_id=body.slot_model_id,
        )

    return _placed(await _as(request, credentials, Scope.TRADE, work), response)


@router.post("/orders/sell-now", response_model=OrderOut, status_code=201, tags=["orders"])
async def sell_now(
    body: MarketOrderIn,
    request: Request,
    response: Response,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> OrderOut:
    """Sell Now: an IOC ask at the highest bid."""

    def work(who: Principal) -> orders.Placement:
        return orders.sell_now(
            container(request),
            user_id=who.user_id,
            instrument_id=body.instrument_id,
            quantity=body.quantity,
            client_order_id=body.client_order_id,
        )

    return _placed(await _as(request, credentials, Scope.TRADE, work), response)


@router.get("/orders", response_model=list[OrderOut], tags=["orders"])
def my_orders(
    request: Request,
    state: str | None = None,
    instrument_id: Int64 | None = None,
    limit: Int64 = 100,
    who: Principal = Depends(require(Scope.READ)),
) -> list[OrderOut]:
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000")
    rows = orders.list_orders(
        container(request),
        user_id=who.user_id,
        state=state,
        instrument_id=instrument_id,
        limit=limit,
    )
    return [order_out(o) for o in rows]


@router.get("/orders/by-client-id/{client_order_id}", response_model=OrderOut, tags=["orders"])
def get_by_client_id(
    client_order_id: str, request: Request, who: Principal = Depends(require(Scope.READ))
) -> OrderOut:
    return order_out(
        orders.get_order_by_client_id(
            container(request), user_id=who.user_id, client_order_id=client_order_id
        )
    )


@router.get("/orders/{order_id}", response_model=OrderOut, tags=["orders"])
def get_order(
    order_id: Int64, request: Request, who: Principal = Depends(require(Scope.READ))
) -> OrderOut:
    return order_out(orders.get_order(container(request), user_id=who.user_id, order_id=order_id))


@router.delete("/orders/{order_id}", response_model=OrderOut, tags=["orders"])
async def cancel_order(
    order_id: Int64,
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> OrderOut:
    """Cancel an open order (its hold is voided); a closed order is returned unchanged."""

    def work(who: Principal) -> orders.OrderView:
        return orders.cancel_order(container(request), user_id=who.user_id, order_id=order_id)

    return order_out(await _as(request, credentials, Scope.TRADE, work))


# ------------------------------------------------------------------ ladders and standing bids
