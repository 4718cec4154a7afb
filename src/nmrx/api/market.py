"""JSON API of the market: instruments, books, trades, price history, a live stream,
orders, ask ladders and standing bids. Parse, call a service, serialise; no rules here.

Prices are given as ``price`` (decimal NMR text, e.g. ``"0.05"``) or ``price_units``
(integer units of 10⁻⁸ NMR), never as floats; quantities are whole numbers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, BeforeValidator, Field, StrictInt, StrictStr, model_validator

from nmrx.api.deps import container, require
from nmrx.api.money import Money, _no_float
from nmrx.domain.accounts import Scope
from nmrx.domain.money import parse_nmr
from nmrx.domain.orders import Side
from nmrx.services import listings, market_data, orders
from nmrx.services.accounts import Principal
from nmrx.services.errors import InvalidInput

router = APIRouter(prefix="/api/v1")
Quantity = Annotated[StrictInt, BeforeValidator(_no_float)]


class PriceIn(BaseModel):
    price: Annotated[StrictStr | None, BeforeValidator(_no_float)] = Field(
        None, description='decimal NMR as text, e.g. "0.05"', examples=["0.05"]
    )
    price_units: Annotated[StrictInt | None, BeforeValidator(_no_float)] = Field(
        None, description="integer units of 10⁻⁸ NMR", examples=[5_000_000]
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> PriceIn:
        if (self.price is None) == (self.price_units is None):
            raise ValueError('give exactly one of "price" (decimal NMR text) or "price_units"')
        return self

    def units(self) -> int:
        return self.price_units if self.price_units is not None else parse_nmr(self.price or "")


class OrderIn(PriceIn):
    instrument_id: int
    side: Literal["bid", "ask"]
    quantity: Quantity = Field(description="whole copies (File Mode) or whole NMR (Stake Mode)")
    order_type: Literal["limit", "ioc", "fok", "post_only"] = "limit"
    client_order_id: str | None = Field(
        None, description="your id for the order: resubmitting it returns the original order"
    )
    slot_model_id: int | None = Field(
        None,
        description="bids: your Numerai model to receive the submission (Stake Mode: required)",
    )


class MarketOrderIn(BaseModel):
    instrument_id: int
    quantity: Quantity
    client_order_id: str | None = None
    slot_model_id: int | None = None


class FillOut(BaseModel):
    id: int
    instrument_id: int
    buy_order_id: int
    sell_order_id: int
    taker_side: str
    price: Money
    quantity: int
    notional: Money
    fee_rate_bp: int
    buyer_collateral: Money
    slot_model_id: int | None
    state: str
    created_at: datetime


class OrderOut(BaseModel):
    id: int
    client_order_id: str
    instrument_id: int
    side: str
    order_type: str
    price: Money
    quantity: int
    filled: int
    remaining: int
    state: str
    cancel_reason: str | None
    slot_model_id: int | None
    standing_order_id: int | None
    created_at: datetime
    updated_at: datetime
    fills: list[FillOut]
    duplicate: bool = Field(False, description="true: the client order id was used before")


class InstrumentOut(BaseModel):
    id: int
    model_id: int
    model_name: str
    tournament: str
    owner: str | None
    round_number: int
    mode: str
    state: str
    round_open_at: datetime
    round_close_at: datetime
    trading_closes_at: datetime
    best_bid: Money | None
    best_ask: Money | None
    last_price: Money | None
    seq: int


class MarketOut(BaseModel):
    model_id: int
    model_name: str
    tournament: str
    owner: str | None
    mode: str
    instruments: list[InstrumentOut]


class LevelOut(BaseModel):
    price: Money
    quantity: int


class BookOut(BaseModel):
    instrument_id: int
    seq: int = Field(description="goes up by one with every change of the book")
    bids: list[LevelOut]
    asks: list[LevelOut]


class TradeOut(BaseModel):
    id: int
    price: Money
    quantity: int
    taker_side: str
    created_at: datetime


class RoundBarOut(BaseModel):
    round_number: int
    open: Money
    high: Money
    low: Money
    close: Money
    volume: int
    notional: Money
    trades: int


class LevelIn(PriceIn):
    quantity: Quantity


class LadderIn(BaseModel):
    model_id: int
    mode: Literal["file", "stake"]
    levels: list[LevelIn] = Field(min_length=1, max_length=listings.MAX_LEVELS)
    apply_to_open: bool = Field(False, description="also replace the ladder in the open books")


class StandingBidIn(PriceIn):
    model_id: int
    mode: Literal["file", "stake"]
    quantity: Quantity
    rounds: int | None = Field(None, description="how many rounds; omit: until cancelled")
    slot_model_id: int | None = None


class StandingOut(BaseModel):
    id: int
    model_id: int
    model_name: str
    tournament: str
    mode: str
    side: str
    state: str
    rounds: int | None
    rounds_placed: int
    slot_model_id: int | None
    version: int
    levels: list[LevelOut]
    open_orders: int
    created_at: datetime
    updated_at: datetime


def _money(units: int | None) -> Money | None:
    return None if units is None else Money.of(units)


def _order(o: orders.OrderView, duplicate: bool = False) -> OrderOut:
    fills = [
        FillOut(
            **{
                **f.__dict__,
                "price": Money.of(f.price),
                "notional": Money.of(f.notional),
                "buyer_collateral": Money.of(f.buyer_collateral),
            }
        )
        for f in o.fills
    ]
    return OrderOut(
        **{**o.__dict__, "price": Money.of(o.price), "fills": fills}, duplicate=duplicate
    )


def _instrument(i: market_data.InstrumentView) -> InstrumentOut:
    return InstrumentOut(
        **{
            **i.__dict__,
            "best_bid": _money(i.best_bid),
            "best_ask": _money(i.best_ask),
            "last_price": _money(i.last_price),
        }
    )


def _standing(s: listings.StandingView) -> StandingOut:
    levels = [LevelOut(price=Money.of(lv.price), quantity=lv.quantity) for lv in s.levels]
    return StandingOut(**{**s.__dict__, "levels": levels})


def _placed(p: orders.Placement, response: Response) -> OrderOut:
    response.status_code = 200 if p.duplicate else 201
    return _order(p.order, p.duplicate)


# ------------------------------------------------------------------ market data (public)


@router.get("/markets", response_model=list[MarketOut], tags=["market data"])
def markets(
    request: Request, tournament: str | None = None, mode: str | None = None
) -> list[MarketOut]:
    """Every listed model and mode with its open books, nearest round first."""
    found: dict[tuple[int, str], MarketOut] = {}
    for i in market_data.list_instruments(container(request), tournament=tournament, mode=mode):
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
        market.instruments.append(_instrument(i))
    return list(found.values())


@router.get("/instruments", response_model=list[InstrumentOut], tags=["market data"])
def list_instruments(
    request: Request,
    model_id: int | None = None,
    mode: str | None = None,
    tournament: str | None = None,
    round_number: int | None = None,
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
    return [_instrument(i) for i in rows]


@router.get("/instruments/{instrument_id}", response_model=InstrumentOut, tags=["market data"])
def get_instrument(instrument_id: int, request: Request) -> InstrumentOut:
    return _instrument(market_data.get_instrument(container(request), instrument_id=instrument_id))


@router.get("/instruments/{instrument_id}/book", response_model=BookOut, tags=["market data"])
def get_book(instrument_id: int, request: Request, depth: int = 50) -> BookOut:
    """L2 depth (price levels with their total quantity), best price first."""
    return _book(market_data.book(container(request), instrument_id=instrument_id, depth=depth))


def _book(view: market_data.BookView) -> BookOut:
    return BookOut(
        instrument_id=view.instrument_id,
        seq=view.seq,
        bids=[LevelOut(price=Money.of(p), quantity=q) for p, q in view.bids],
        asks=[LevelOut(price=Money.of(p), quantity=q) for p, q in view.asks],
    )


def _trade(t: market_data.Trade) -> TradeOut:
    return TradeOut(**{**t.__dict__, "price": Money.of(t.price)})


@router.get(
    "/instruments/{instrument_id}/trades", response_model=list[TradeOut], tags=["market data"]
)
def get_trades(
    instrument_id: int, request: Request, limit: int = 100, after_id: int = 0
) -> list[TradeOut]:
    """The trade tape, newest first (with ``after_id``: the later trades, oldest first)."""
    rows = market_data.trades(
        container(request), instrument_id=instrument_id, limit=limit, after_id=after_id
    )
    return [_trade(t) for t in rows]


@router.get("/instruments/{instrument_id}/stream", tags=["market data"])
async def stream(
    instrument_id: int, request: Request, poll: float = 0.5, max_events: int | None = None
) -> StreamingResponse:
    """Server-sent events: ``book`` (L2 with its ``seq``) whenever the book changes and
    ``trade`` for every new fill. ``max_events`` ends the stream (for scripts and tests)."""
    c = container(request)
    first = await run_in_threadpool(market_data.book, c, instrument_id=instrument_id)
    latest = await run_in_threadpool(market_data.trades, c, instrument_id=instrument_id, limit=1)
    if not 0.05 <= poll <= 10:
        raise InvalidInput("poll must be between 0.05 and 10 seconds")

    async def events() -> AsyncIterator[str]:
        view, last_trade, seq, sent = first, (latest[0].id if latest else 0), -1, 0
        while max_events is None or sent < max_events:
            if view.seq != seq:
                seq = view.seq
                yield _sse("book", seq, _book(view).model_dump(mode="json"))
                sent += 1
                new = await run_in_threadpool(
                    market_data.trades, c, instrument_id=instrument_id, after_id=last_trade
                )
                for t in new:
                    if max_events is not None and sent >= max_events:
                        break
                    last_trade = t.id
                    yield _sse("trade", t.id, _trade(t).model_dump(mode="json"))
                    sent += 1
                continue
            if await request.is_disconnected():
                break
            await asyncio.sleep(poll)
            view = await run_in_threadpool(market_data.book, c, instrument_id=instrument_id)

    return StreamingResponse(events(), media_type="text/event-stream")


def _sse(event: str, event_id: int, data: object) -> str:
    return f"event: {event}\nid: {event_id}\ndata: {json.dumps(data)}\n\n"


@router.get(
    "/models/{model_id}/price-history", response_model=list[RoundBarOut], tags=["market data"]
)
def price_history(model_id: int, request: Request, mode: str = "file") -> list[RoundBarOut]:
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
def place_order(
    body: OrderIn,
    request: Request,
    response: Response,
    who: Principal = Depends(require(Scope.TRADE)),
) -> OrderOut:
    """Place a limit order. A bid holds quantity × price (plus Stake Mode collateral).
    Resubmitting a ``client_order_id`` returns the original order (status 200)."""
    placement = orders.place_order(
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
    return _placed(placement, response)


@router.post("/orders/buy-now", response_model=OrderOut, status_code=201, tags=["orders"])
def buy_now(
    body: MarketOrderIn,
    request: Request,
    response: Response,
    who: Principal = Depends(require(Scope.TRADE)),
) -> OrderOut:
    """Buy Now: an IOC bid at the lowest ask."""
    placement = orders.buy_now(
        container(request),
        user_id=who.user_id,
        instrument_id=body.instrument_id,
        quantity=body.quantity,
        client_order_id=body.client_order_id,
        slot_model_id=body.slot_model_id,
    )
    return _placed(placement, response)


@router.post("/orders/sell-now", response_model=OrderOut, status_code=201, tags=["orders"])
def sell_now(
    body: MarketOrderIn,
    request: Request,
    response: Response,
    who: Principal = Depends(require(Scope.TRADE)),
) -> OrderOut:
    """Sell Now: an IOC ask at the highest bid."""
    placement = orders.sell_now(
        container(request),
        user_id=who.user_id,
        instrument_id=body.instrument_id,
        quantity=body.quantity,
        client_order_id=body.client_order_id,
    )
    return _placed(placement, response)


@router.get("/orders", response_model=list[OrderOut], tags=["orders"])
def my_orders(
    request: Request,
    state: str | None = None,
    instrument_id: int | None = None,
    limit: int = 100,
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
    return [_order(o) for o in rows]


@router.get("/orders/by-client-id/{client_order_id}", response_model=OrderOut, tags=["orders"])
def get_by_client_id(
    client_order_id: str, request: Request, who: Principal = Depends(require(Scope.READ))
) -> OrderOut:
    return _order(
        orders.get_order_by_client_id(
            container(request), user_id=who.user_id, client_order_id=client_order_id
        )
    )


@router.get("/orders/{order_id}", response_model=OrderOut, tags=["orders"])
def get_order(
    order_id: int, request: Request, who: Principal = Depends(require(Scope.READ))
) -> OrderOut:
    return _order(orders.get_order(container(request), user_id=who.user_id, order_id=order_id))


@router.delete("/orders/{order_id}", response_model=OrderOut, tags=["orders"])
def cancel_order(
    order_id: int, request: Request, who: Principal = Depends(require(Scope.TRADE))
) -> OrderOut:
    """Cancel an open order (its hold is voided); a closed order is returned unchanged."""
    return _order(orders.cancel_order(container(request), user_id=who.user_id, order_id=order_id))


# ------------------------------------------------------------------ ladders and standing bids


@router.get("/ladders", response_model=list[StandingOut], tags=["listings"])
def my_ladders(
    request: Request, who: Principal = Depends(require(Scope.READ))
) -> list[StandingOut]:
    rows = listings.list_standing(container(request), user_id=who.user_id, side=Side.ASK)
    return [_standing(s) for s in rows]


@router.put("/ladders", response_model=StandingOut, tags=["listings"])
def set_ladder(
    body: LadderIn, request: Request, who: Principal = Depends(require(Scope.TRADE))
) -> StandingOut:
    """Create or replace your ask ladder for a model and mode (a listing): its levels are
    placed in each new round's book; a new ladder also goes into the open books."""
    view = listings.set_ladder(
        container(request),
        user_id=who.user_id,
        model_id=body.model_id,
        mode=body.mode,
        levels=[(lv.quantity, lv.units()) for lv in body.levels],
        apply_to_open=body.apply_to_open,
    )
    return _standing(view)


@router.get("/standing-bids", response_model=list[StandingOut], tags=["listings"])
def my_standing_bids(
    request: Request, who: Principal = Depends(require(Scope.READ))
) -> list[StandingOut]:
    rows = listings.list_standing(container(request), user_id=who.user_id, side=Side.BID)
    return [_standing(s) for s in rows]


@router.post("/standing-bids", response_model=StandingOut, status_code=201, tags=["listings"])
def create_standing_bid(
    body: StandingBidIn, request: Request, who: Principal = Depends(require(Scope.TRADE))
) -> StandingOut:
    """Bid in the next ``rounds`` rounds' books (or until cancelled)."""
    view = listings.create_standing_bid(
        container(request),
        user_id=who.user_id,
        model_id=body.model_id,
        mode=body.mode,
        quantity=body.quantity,
        price=body.units(),
        rounds=body.rounds,
        slot_model_id=body.slot_model_id,
    )
    return _standing(view)


def _standing_route(kind: str, action: str):  # type: ignore[no-untyped-def]
    service = {"pause": listings.pause, "resume": listings.resume, "cancel": listings.cancel}[
        action
    ]

    def route(
        standing_id: int, request: Request, who: Principal = Depends(require(Scope.TRADE))
    ) -> StandingOut:
        return _standing(service(container(request), user_id=who.user_id, standing_id=standing_id))

    route.__name__ = f"{action}_{kind.replace('-', '_')}"
    return route


for _kind in ("ladders", "standing-bids"):
    for _action in ("pause", "resume"):
        router.add_api_route(
            f"/{_kind}/{{standing_id}}/{_action}",
            _standing_route(_kind, _action),
            methods=["POST"],
            response_model=StandingOut,
            tags=["listings"],
        )
    router.add_api_route(
        f"/{_kind}/{{standing_id}}",
        _standing_route(_kind, "cancel"),
        methods=["DELETE"],
        response_model=StandingOut,
        tags=["listings"],
    )
