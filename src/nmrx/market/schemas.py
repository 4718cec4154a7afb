"""Wire shapes of the market API (shared by :mod:`nmrx.market.api` and
:mod:`nmrx.market.standing_orders_api`): prices as decimal text or integer units, never floats."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, StrictInt, StrictStr, model_validator

from nmrx.market import data as market_data
from nmrx.market import service as orders
from nmrx.market import standing_orders as listings
from nmrx.platform.bounds import Int64
from nmrx.platform.wire import Money, _no_float
from nmrx.wallet.money import parse_nmr

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
    instrument_id: Int64
    side: Literal["bid", "ask"]
    quantity: Quantity = Field(description="whole copies (File Mode) or whole NMR (Stake Mode)")
    order_type: Literal["limit", "ioc", "fok", "post_only"] = "limit"
    client_order_id: str | None = Field(
        None, description="your id for the order: resubmitting it returns the original order"
    )
    slot_model_id: Int64 | None = Field(
        None,
        description="bids: your Numerai model to receive the submission (Stake Mode: required)",
    )


class MarketOrderIn(BaseModel):
    instrument_id: Int64
    quantity: Quantity
    client_order_id: str | None = None
    slot_model_id: Int64 | None = None


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
    model_id: Int64
    mode: Literal["file", "stake"]
    levels: list[LevelIn] = Field(min_length=1, max_length=listings.MAX_LEVELS)
    apply_to_open: bool = Field(False, description="also replace the ladder in the open books")


class StandingBidIn(PriceIn):
    model_id: Int64
    mode: Literal["file", "stake"]
    quantity: Quantity
    rounds: Int64 | None = Field(None, description="how many rounds; omit: until cancelled")
    slot_model_id: Int64 | None = None


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


def money_or_none(units: int | None) -> Money | None:
    return None if units is None else Money.of(units)


def order_out(o: orders.OrderView, duplicate: bool = False) -> OrderOut:
    fills = [
        FillOut(
            **{
                **asdict(f),
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


def instrument_out(i: market_data.InstrumentView) -> InstrumentOut:
    return InstrumentOut(
        **{
            **i.__dict__,
            "best_bid": money_or_none(i.best_bid),
            "best_ask": money_or_none(i.best_ask),
            "last_price": money_or_none(i.last_price),
        }
    )


def standing_out(s: listings.StandingView) -> StandingOut:
    levels = [LevelOut(price=Money.of(lv.price), quantity=lv.quantity) for lv in s.levels]
    return StandingOut(**{**s.__dict__, "levels": levels})


def book_out(view: market_data.BookView) -> BookOut:
    return BookOut(
        instrument_id=view.instrument_id,
        seq=view.seq,
        bids=[LevelOut(price=Money.of(p), quantity=q) for p, q in view.bids],
        asks=[LevelOut(price=Money.of(p), quantity=q) for p, q in view.asks],
    )


def trade_out(t: market_data.Trade) -> TradeOut:
    return TradeOut(**{**t.__dict__, "price": Money.of(t.price)})
