"""The unit of work of the order book: lock an instrument, use its book, write what happened.

Used by :mod:`nmrx.services.orders`, :mod:`nmrx.services.instruments` and
:mod:`nmrx.services.listings`. One :class:`MarketTransaction` is one database
transaction; books it changed go back to the process cache only after the commit.

Placement is split in two: :func:`prepare` only reads and raises a ``ServiceError``
for every refusal (so a refused order writes nothing and holds nothing), then
:func:`execute` writes the order, the bid's hold, the engine's events, the fills and
their money (see :mod:`nmrx.domain.market` for where a fill's money goes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from nmrx.adapters.db import ledger as ledger_db
from nmrx.adapters.db import market as market_db
from nmrx.adapters.db.market_tables import Fill, Instrument, MarketOrder
from nmrx.adapters.db.tables import NumeraiApiKey, NumeraiModel, utcnow
from nmrx.domain.ledger import AccountKind, platform_account_key, user_account_key
from nmrx.domain.market import (
    FillState,
    InstrumentState,
    Mode,
    OrderState,
    bid_hold,
    collateral_per_unit,
    fill_money,
    order_problem,
)
from nmrx.domain.money import format_nmr
from nmrx.domain.orderbook import OrderBook
from nmrx.domain.orders import (
    Accepted,
    Cancelled,
    CancelReason,
    Event,
    Filled,
    Order,
    OrderType,
    Rejected,
    RejectReason,
    Side,
)
from nmrx.services import collateral
from nmrx.services.errors import Conflict, Forbidden, InvalidInput, NotFound

if TYPE_CHECKING:
    from nmrx.bootstrap import Container

T = TypeVar("T")
log = logging.getLogger("nmrx.market")
ESCROW = platform_account_key(AccountKind.ESCROW)
UPLOAD_SCOPE = "upload_submission"
RETRIES = 5

REJECTIONS = {
    RejectReason.POST_ONLY_WOULD_TAKE: "a post-only order must not cross the book: it would "
    "trade at once; lower the bid or raise the ask",
    RejectReason.NO_LIQUIDITY: "there is nothing on the other side of the book to trade with",
    RejectReason.DUPLICATE_ORDER_ID: "this order is already in the book",
    RejectReason.INVALID_PRICE: "price must be a positive multiple of the tick",
    RejectReason.INVALID_QUANTITY: "quantity must be a whole number greater than zero",
}


class MarketTransaction:
    """One transaction over one or more books (each locked on first use)."""

    def __init__(self, c: Container | None, session: Session) -> None:
        """``c`` may be ``None`` inside another service's transaction (e.g. an ownership
        move cancelling asks): books are then rebuilt from the database, never cached."""
        self._c = c
        self.session = session
        self.cache = market_db.book_cache(c.db) if c is not None else market_db.BookCache()
        self._books: dict[int, tuple[Instrument, OrderBook]] = {}

    @property
    def c(self) -> Container:
        assert self._c is not None, "placing orders needs the container"
        return self._c

    def instrument(self, instrument_id: int) -> Instrument:
        """The instrument, locked for this transaction."""
        if instrument_id in self._books:
            return self._books[instrument_id][0]
        instrument = market_db.lock_instrument(self.session, instrument_id)
        if instrument is None:
            raise NotFound(f"no instrument {instrument_id}")
        return instrument

    def book(self, instrument: Instrument) -> OrderBook:
        held = self._books.get(instrument.id)
        if held is None:
            held = self._books[instrument.id] = (
                instrument,
                self.cache.checkout(self.session, instrument),
            )
        return held[1]

    def changed(self, instrument: Instrument, book: OrderBook) -> None:
        instrument.next_seq = book.next_seq
        instrument.book_seq += 1

    def checkin(self) -> None:
        for instrument, book in self._books.values():
            self.cache.checkin(instrument.id, instrument.book_seq, book)


@contextmanager
def market_transaction(c: Container) -> Iterator[MarketTransaction]:
    with c.db.transaction() as session:
        mt = MarketTransaction(c, session)
        yield mt
    mt.checkin()


def _retryable(exc: DBAPIError) -> bool:
    """PostgreSQL deadlock / serialization failure, or a unique race (e.g. client order id)."""
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return isinstance(exc, IntegrityError) or code in {"40P01", "40001"}


def run(c: Container, work: Callable[[MarketTransaction], T]) -> T:
    """Run ``work`` in a market transaction; retry it on a deadlock or a unique race.

    ``work`` must be safe to re-run from scratch (it is: every write is in the rolled
    back transaction, and placements are idempotent on their client order id).
    """
    for attempt in range(RETRIES):
        try:
            with market_transaction(c) as mt:
                return work(mt)
        except DBAPIError as exc:
            if attempt == RETRIES - 1 or not _retryable(exc):
                raise
            log.info("market transaction retried after %s", type(exc.orig).__name__)
            time.sleep(0.005 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


# ------------------------------------------------------------------ placement


@dataclass(frozen=True)
class OrderRequest:
    user_id: int
    instrument_id: int
    side: Side
    quantity: int
    price: int | None  # None: Buy Now / Sell Now at the best opposite price
    order_type: OrderType
    client_order_id: str
    slot_model_id: int | None = None
    standing_order_id: int | None = None


@dataclass
class Prepared:
    instrument: Instrument
    book: OrderBook
    price: int
    per_unit_collateral: int
    hold: int  # what a bid holds (0 for an ask)


def existing_order(session: Session, user_id: int, client_order_id: str) -> MarketOrder | None:
    return (
        session.query(MarketOrder)
        .filter_by(user_id=user_id, client_order_id=client_order_id)
        .first()
    )


def prepare(mt: MarketTransaction, req: OrderRequest, now: datetime) -> Prepared:
    """Every check of a placement; raises a ``ServiceError`` and writes nothing if refused."""
    problem = order_problem(req.price if req.price is not None else 10_000, req.quantity)
    if problem:
        raise InvalidInput(problem)
    instrument = mt.instrument(req.instrument_id)
    ensure_trading(instrument, now)
    session = mt.session
    model = session.get(NumeraiModel, instrument.model_id)
    assert model is not None
    mode = Mode(instrument.mode)
    if req.side is Side.ASK:
        if model.owner_user_id != req.user_id:
            raise Forbidden(f"only the verified owner of model '{model.name}' may place asks on it")
        check_may_list(mt, req.user_id)
    else:
        if model.owner_user_id == req.user_id:
            raise Forbidden(f"you own model '{model.name}': you may ask, not bid")
        check_slot(
            session,
            user_id=req.user_id,
            slot_model_id=req.slot_model_id,
            tournament=instrument.tournament,
            required=mode is Mode.STAKE,
        )
    book = mt.book(instrument)
    price = req.price
    if price is None:
        price = book.best_ask() if req.side is Side.BID else book.best_bid()
        if price is None:
            other = "asks to buy from" if req.side is Side.BID else "bids to sell to"
            raise Conflict(f"there are no {other} in this book")
        problem = order_problem(price, req.quantity)
        if problem:
            raise InvalidInput(problem)
    per_unit = collateral_per_unit(mode, mt.c.settings.stake_collateral_rate_bp)
    hold = 0
    if req.side is Side.BID:
        hold = bid_hold(req.quantity, price, per_unit)
        available = ledger_db.balances(session, req.user_id).get(AccountKind.AVAILABLE, 0)
        if available < hold:
            collateral = f" + {format_nmr(per_unit)} NMR collateral" if per_unit else ""
            raise Conflict(
                f"insufficient funds: this bid holds {format_nmr(hold)} NMR ({req.quantity} × "
                f"({format_nmr(price)} NMR{collateral})) and you have {format_nmr(available)} "
                "NMR available"
            )
    return Prepared(instrument, book, price, per_unit, hold)


def ensure_trading(instrument: Instrument, now: datetime) -> None:
    if instrument.state != InstrumentState.OPEN or now >= instrument.trading_closes_at:
        raise Conflict(
            f"trading on round {instrument.round_number} closed at "
            f"{instrument.trading_closes_at:%Y-%m-%d %H:%M} UTC"
        )


def check_may_list(mt: MarketTransaction, user_id: int) -> None:
    status = collateral.status_in(mt.c, mt.session, user_id)
    if not status.may_list:
        raise Conflict(
            f"your free collateral is {format_nmr(status.collateral - status.stake_bonds)} NMR "
            f"and sellers must keep {format_nmr(status.requirement)} NMR locked: lock more "
            "collateral before placing asks"
        )


def check_slot(
    session: Session, *, user_id: int, slot_model_id: int | None, tournament: str, required: bool
) -> NumeraiModel | None:
    """The buyer's slot: their own model in the tournament, with a key that can upload."""
    if slot_model_id is None:
        if required:
            raise InvalidInput(
                f"a Stake Mode bid must name a slot: one of your {tournament} Numerai models "
                "with an API key that can upload submissions"
            )
        return None
    slot = session.get(NumeraiModel, slot_model_id)
    if slot is None or slot.owner_user_id != user_id:
        raise InvalidInput(
            f"slot {slot_model_id} is not one of your Numerai models: add the API key of the "
            "Numerai account that owns it first"
        )
    if slot.tournament != tournament:
        raise InvalidInput(
            f"slot '{slot.name}' is a {slot.tournament} model and this market is {tournament}"
        )
    key = session.get(NumeraiApiKey, slot.api_key_id) if slot.api_key_id else None
    if key is None:
        raise InvalidInput(
            f"slot '{slot.name}' has no Numerai API key: add a key that can upload submissions"
        )
    if UPLOAD_SCOPE not in key.scopes.split():
        raise InvalidInput(
            f"the Numerai API key of slot '{slot.name}' cannot upload submissions "
            f"(it lacks the {UPLOAD_SCOPE} scope)"
        )
    return slot


def execute(
    mt: MarketTransaction, req: OrderRequest, prep: Prepared, now: datetime
) -> tuple[MarketOrder, list[Fill]]:
    """Write a prepared placement: the order, its hold, the events, the fills and money."""
    session = mt.session
    order = MarketOrder(
        user_id=req.user_id,
        instrument_id=prep.instrument.id,
        client_order_id=req.client_order_id,
        side=req.side.value,
        order_type=req.order_type.value,
        price=prep.price,
        quantity=req.quantity,
        filled=0,
        remaining=req.quantity,
        state=OrderState.OPEN.value,
        collateral_per_unit=prep.per_unit_collateral if req.side is Side.BID else 0,
        slot_model_id=req.slot_model_id if req.side is Side.BID else None,
        standing_order_id=req.standing_order_id,
        created_at=now,
        updated_at=now,
    )
    session.add(order)
    session.flush()
    if req.side is Side.BID:
        order.hold_id = f"order:{order.id}"
        ledger_db.place_hold(
            session, hold_id=order.hold_id, user_id=req.user_id, amount=prep.hold, purpose="bid"
        )
    events = prep.book.submit(
        Order(str(order.id), req.user_id, req.side, prep.price, req.quantity, req.order_type)
    )
    fills = apply_events(mt, prep.instrument, events, now, known={order.id: order})
    mt.changed(prep.instrument, prep.book)
    return order, fills


def apply_events(
    mt: MarketTransaction,
    instrument: Instrument,
    events: list[Event],
    now: datetime,
    known: dict[int, MarketOrder] | None = None,
) -> list[Fill]:
    """Write the engine's events: order states, fills and their money, voided holds."""
    session = mt.session
    rows = dict(known or {})

    def row(order_id: str) -> MarketOrder:
        key = int(order_id)
        found = rows.get(key)
        if found is None:
            found = rows[key] = session.get(MarketOrder, key)  # type: ignore[assignment]
            assert found is not None, f"order {key} is in the book but not stored"
        return found

    fills: list[Fill] = []
    for event in events:
        if isinstance(event, Filled):
            fills.append(
                _fill(
                    mt, instrument, event, row(event.taker_order_id), row(event.maker_order_id), now
                )
            )
        elif isinstance(event, Cancelled):
            close_order(session, row(event.order_id), event.reason, now)
        elif isinstance(event, Rejected):
            raise Conflict(REJECTIONS[event.reason])
        elif isinstance(event, Accepted):
            row(event.order_id).seq = event.seq
    return fills


def _fill(
    mt: MarketTransaction,
    instrument: Instrument,
    event: Filled,
    taker: MarketOrder,
    maker: MarketOrder,
    now: datetime,
) -> Fill:
    session = mt.session
    for order, remaining in ((taker, event.taker_remaining), (maker, event.maker_remaining)):
        order.filled += event.quantity
        order.remaining = remaining
        order.updated_at = now
        if remaining == 0:
            order.state = OrderState.FILLED.value
    buy, sell = (taker, maker) if event.taker_side is Side.BID else (maker, taker)
    money = fill_money(
        bid_limit=buy.price,
        price=event.price,
        quantity=event.quantity,
        per_unit_collateral=buy.collateral_per_unit,
    )
    fill = Fill(
        instrument_id=instrument.id,
        buy_order_id=buy.id,
        sell_order_id=sell.id,
        buyer_user_id=buy.user_id,
        seller_user_id=sell.user_id,
        taker_side=event.taker_side.value,
        price=event.price,
        quantity=event.quantity,
        notional=money.notional,
        fee_rate_bp=mt.c.settings.platform_fee_rate_bp,
        buyer_collateral=money.collateral,
        slot_model_id=buy.slot_model_id,
        state=FillState.PENDING_DELIVERY.value,
        created_at=now,
        updated_at=now,
    )
    session.add(fill)
    assert buy.hold_id is not None
    prefix = f"fill:{buy.id}:{sell.id}"
    for amount, suffix, credit, code in (
        (money.notional, "escrow", ESCROW, "fill_escrow"),
        (
            money.collateral,
            "collateral",
            user_account_key(buy.user_id, AccountKind.COLLATERAL),
            "stake_collateral",
        ),
        (
            money.improvement,
            "improvement",
            user_account_key(buy.user_id, AccountKind.AVAILABLE),
            "price_improvement",
        ),
    ):
        if amount:
            ledger_db.post_hold(
                session,
                hold_id=buy.hold_id,
                transfer_id=f"{prefix}:{suffix}",
                amount=amount,
                credit=credit,
                code=code,
            )
    return fill


def close_order(session: Session, order: MarketOrder, reason: CancelReason, now: datetime) -> None:
    """The order leaves the book unfilled (cancel, IOC/FOK remainder, expiry): void its hold."""
    order.state = (
        OrderState.EXPIRED.value if reason is CancelReason.EXPIRED else OrderState.CANCELLED.value
    )
    order.cancel_reason = reason.value
    order.remaining = 0
    order.updated_at = now
    if order.hold_id is not None:
        ledger_db.void_hold(session, hold_id=order.hold_id)


def cancel_in(
    mt: MarketTransaction, order: MarketOrder, reason: CancelReason, now: datetime
) -> None:
    """Cancel an open order inside a market transaction (its instrument gets locked)."""
    instrument = mt.instrument(order.instrument_id)
    session = mt.session
    session.refresh(order)
    if order.state != OrderState.OPEN:
        return
    book = mt.book(instrument)
    events = book.cancel(str(order.id), reason)
    apply_events(mt, instrument, events, now, known={order.id: order})
    if order.state == OrderState.OPEN:  # not in the book: stored state wins, close it
        close_order(session, order, reason, now)
    mt.changed(instrument, book)


def now_or_default(c: Container | None, now: datetime | None) -> datetime:
    """``now`` if given, else the platform clock (the emulator's in demos and tests)."""
    if now is not None:
        return now
    return c.clock.now() if c is not None else utcnow()
