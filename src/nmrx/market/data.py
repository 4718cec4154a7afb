"""Market data (market-rules §4.1): markets and instruments with best bid / lowest ask /
last sale, L2 depth with its sequence number, the trade tape, and the per-round price
history (open/high/low/close/volume) of a model and mode. Read-only; public."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from nmrx.accounts.tables import User
from nmrx.market import queries as market_db
from nmrx.market.orders import Side
from nmrx.market.rules import InstrumentState, Mode
from nmrx.market.tables import Fill, Instrument
from nmrx.platform.errors import InvalidInput, NotFound
from nmrx.sellers.tables import NumeraiModel

if TYPE_CHECKING:
    from nmrx.platform.bootstrap import Container


@dataclass(frozen=True)
class InstrumentView:
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
    best_bid: int | None
    best_ask: int | None
    last_price: int | None
    seq: int


@dataclass(frozen=True)
class BookView:
    instrument_id: int
    seq: int
    bids: list[tuple[int, int]]  # (price, quantity), best first
    asks: list[tuple[int, int]]


@dataclass(frozen=True)
class Trade:
    id: int
    price: int
    quantity: int
    taker_side: str
    created_at: datetime


@dataclass(frozen=True)
class RoundBar:
    round_number: int
    open: int
    high: int
    low: int
    close: int
    volume: int  # units traded
    notional: int
    trades: int


def list_instruments(
    c: Container,
    *,
    model_id: int | None = None,
    mode: str | None = None,
    tournament: str | None = None,
    round_number: int | None = None,
    state: str | None = InstrumentState.OPEN.value,
    limit: int = 500,
    listed_only: bool = False,
) -> list[InstrumentView]:
    """Instruments with their model and seller; ``listed_only``: only models their owner
    lists (markets, market-rules §5.1), not a buyer's slots."""
    query = (
        select(Instrument, NumeraiModel.name, User.username)
        .join(NumeraiModel, NumeraiModel.id == Instrument.model_id)
        .outerjoin(User, User.id == NumeraiModel.owner_user_id)
    )
    if model_id is not None:
        query = query.where(Instrument.model_id == model_id)
    if mode is not None:
        if mode not in {m.value for m in Mode}:
            raise InvalidInput("mode must be 'file' or 'stake'")
        query = query.where(Instrument.mode == mode)
    if tournament is not None:
        query = query.where(Instrument.tournament == tournament)
    if round_number is not None:
        query = query.where(Instrument.round_number == round_number)
    if state is not None:
        query = query.where(Instrument.state == state)
    if listed_only:
        query = query.where(market_db.is_listed())
    query = query.order_by(NumeraiModel.name, Instrument.mode, Instrument.round_number).limit(limit)
    with c.db.transaction() as session:
        rows = session.execute(query).all()
        ids = [i.id for i, _, _ in rows]
        best = market_db.best_prices(session, ids) if ids else {}
        last = market_db.last_prices(session, ids)
        return [
            InstrumentView(
                i.id,
                i.model_id,
                name,
                i.tournament,
                owner,
                i.round_number,
                i.mode,
                i.state,
                i.round_open_at,
                i.round_close_at,
                i.trading_closes_at,
                best.get(i.id, (None, None))[0],
                best.get(i.id, (None, None))[1],
                last.get(i.id),
                i.book_seq,
            )
            for i, name, owner in rows
        ]


def get_instrument(c: Container, *, instrument_id: int) -> InstrumentView:
    with c.db.transaction() as session:
        row = session.get(Instrument, instrument_id)
        if row is None:
            raise NotFound(f"no instrument {instrument_id}")
    found = list_instruments(
        c,
        model_id=row.model_id,
        mode=row.mode,
        round_number=row.round_number,
        state=None,
    )
    return found[0]


def book(c: Container, *, instrument_id: int, depth: int = 50) -> BookView:
    """L2 depth; ``seq`` goes up by one with every change of the book."""
    if not 1 <= depth <= 1000:
        raise InvalidInput("depth must be between 1 and 1000")
    with c.db.transaction() as session:
        instrument = session.get(Instrument, instrument_id)
        if instrument is None:
            raise NotFound(f"no instrument {instrument_id}")
        return BookView(
            instrument_id,
            instrument.book_seq,
            market_db.depth(session, instrument_id, Side.BID, depth),
            market_db.depth(session, instrument_id, Side.ASK, depth),
        )


def trades(c: Container, *, instrument_id: int, limit: int = 100, after_id: int = 0) -> list[Trade]:
    """The tape, newest first (or, with ``after_id``, the trades after it, oldest first)."""
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000")
    query = select(Fill.id, Fill.price, Fill.quantity, Fill.taker_side, Fill.created_at).where(
        Fill.instrument_id == instrument_id
    )
    if after_id:
        query = query.where(Fill.id > after_id).order_by(Fill.id)
    else:
        query = query.order_by(Fill.id.desc())
    with c.db.transaction() as session:
        if session.get(Instrument, instrument_id) is None:
            raise NotFound(f"no instrument {instrument_id}")
        return [Trade(*row) for row in session.execute(query.limit(limit)).all()]


def price_history(c: Container, *, model_id: int, mode: str) -> list[RoundBar]:
    """Open/high/low/close/volume per round of a model and mode, oldest round first."""
    if mode not in {m.value for m in Mode}:
        raise InvalidInput("mode must be 'file' or 'stake'")
    with c.db.transaction() as session:
        if session.get(NumeraiModel, model_id) is None:
            raise NotFound(f"no model {model_id}")
        rows = session.execute(
            select(Instrument.round_number, Fill.price, Fill.quantity)
            .join(Instrument, Instrument.id == Fill.instrument_id)
            .where(Instrument.model_id == model_id, Instrument.mode == mode)
            .order_by(Instrument.round_number, Fill.id)
        ).all()
    bars: dict[int, list[tuple[int, int]]] = {}
    for number, price, quantity in rows:
        bars.setdefault(number, []).append((price, quantity))
    return [
        RoundBar(
            number,
            trades_[0][0],
            max(p for p, _ in trades_),
            min(p for p, _ in trades_),
            trades_[-1][0],
            sum(q for _, q in trades_),
            sum(p * q for p, q in trades_),
            len(trades_),
        )
        for number, trades_ in bars.items()
    ]
