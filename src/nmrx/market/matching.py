"""The unit of work of the order book: lock an instrument, use its book, write what happened.

One :class:`MarketTransaction` is one database transaction on the market's statements
(:class:`nmrx.market.repo.MarketRepo`); books it changed go back to the process cache
only after the commit. :func:`run` opens a session-less transaction (placing and
cancelling need no ORM and gain ~20 % without it); :func:`run_with_session` one that
also gives the ORM session of the same transaction (standing orders). Money moves
through the one ledger path, :mod:`nmrx.wallet.repo`, on the same connection.

Placement's checks and writes are :mod:`nmrx.market.placement`; here the engine's
events are written (order states, fills and their money, voided holds) and orders
cancelled (see :mod:`nmrx.market.rules` for where a fill's money goes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nmrx.market.book_cache import BookCache, book_cache
from nmrx.market.orderbook import OrderBook
from nmrx.market.orders import (
    Accepted,
    Cancelled,
    CancelReason,
    Event,
    Filled,
    Rejected,
    RejectReason,
    Side,
)
from nmrx.market.repo import FillRow, InstrumentRow, MarketRepo, OrderRow
from nmrx.market.rules import FillMoney, OrderState, fill_money
from nmrx.platform.errors import Conflict, NotFound
from nmrx.platform.sql import raw_transaction, wrap_driver_error
from nmrx.settlement.rules import FillState
from nmrx.wallet import repo as ledger_db
from nmrx.wallet.rules import AccountKind, platform_account_key, user_account_key

if TYPE_CHECKING:
    from nmrx.market.placement import Outcome
    from nmrx.platform.bootstrap import Container

T = TypeVar("T")
X = TypeVar("X")  # what a retried transaction hands its work
log = logging.getLogger("nmrx.market")
ESCROW = platform_account_key(AccountKind.ESCROW)
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

    def __init__(self, c: Container | None, sql: MarketRepo) -> None:
        """``c`` may be ``None`` inside another service's transaction (e.g. an ownership
        move cancelling asks): books are then rebuilt from the database, never cached."""
        self._c = c
        self.sql = sql
        self.cache = book_cache(c.db) if c is not None else BookCache()
        self._books: dict[int, tuple[InstrumentRow, OrderBook]] = {}
        self._instruments: dict[int, InstrumentRow] = {}

    @classmethod
    def within(cls, session: Session) -> MarketTransaction:
        """Inside another service's ORM transaction (its pending rows flushed first)."""
        return cls(None, MarketRepo.of(session))

    @property
    def c(self) -> Container:
        assert self._c is not None, "placing orders needs the container"
        return self._c

    def instrument(self, instrument_id: int) -> InstrumentRow:
        """The instrument, locked for this transaction."""
        found = self._instruments.get(instrument_id)
        if found is None:
            found = self.sql.instrument(instrument_id)
            if found is None:
                raise NotFound(f"no instrument {instrument_id}")
            self._instruments[instrument_id] = found
        return found

    def book(self, instrument: InstrumentRow) -> OrderBook:
        held = self._books.get(instrument.id)
        if held is None:
            book = self.cache.checkout(
                instrument.id, instrument.book_seq, lambda: self.sql.build_book(instrument)
            )
            held = self._books[instrument.id] = (instrument, book)
        return held[1]

    def changed(
        self, instrument: InstrumentRow, book: OrderBook, closed_at: datetime | None = None
    ) -> None:
        instrument.next_seq = book.next_seq
        instrument.book_seq += 1
        self.sql.save_instrument(instrument, closed_at)

    def checkin(self) -> None:
        for instrument, book in self._books.values():
            self.cache.checkin(instrument.id, instrument.book_seq, book)


@contextmanager
def market_transaction(c: Container) -> Iterator[MarketTransaction]:
    """One session-less unit of work; its books are cached after the commit."""
    with raw_transaction(c.db.engine, MarketRepo) as sql:
        mt = MarketTransaction(c, sql)
        yield mt
    mt.checkin()


@contextmanager
def session_transaction(c: Container) -> Iterator[tuple[MarketTransaction, Session]]:
    """One unit of work with an ORM session on the same transaction."""
    with c.db.transaction() as session:
        mt = MarketTransaction(c, MarketRepo.of(session))
        yield mt, session
    mt.checkin()


def _retryable(exc: Exception) -> bool:
    """PostgreSQL deadlock / serialization failure, or a unique race (e.g. the same client
    order id sent twice at once to two instruments: the retry finds the first order)."""
    wrapped = wrap_driver_error(exc)
    if wrapped is None:
        return False
    code = getattr(wrapped.orig, "sqlstate", None) or getattr(wrapped.orig, "pgcode", None)
    unique = isinstance(wrapped, IntegrityError) and "UNIQUE" in str(wrapped.orig).upper()
    return unique or code in {"40P01", "40001", "23505"}


def _retrying(opened: Callable[[], AbstractContextManager[X]], work: Callable[[X], T]) -> T:
    for attempt in range(RETRIES):
        try:
            with opened() as tx:
                return work(tx)
        except Exception as exc:  # the driver's own errors come through raw SQL too
            if attempt == RETRIES - 1 or not _retryable(exc):
                raise
            log.info("market transaction retried after %s", type(exc).__name__)
            time.sleep(0.005 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def run(c: Container, work: Callable[[MarketTransaction], T]) -> T:
    """Run ``work`` in a market transaction; retry it on a deadlock or a unique race.

    ``work`` must be safe to re-run from scratch (it is: every write is in the rolled
    back transaction, and placements are idempotent on their client order id).
    """
    return _retrying(lambda: market_transaction(c), work)


def run_with_session(c: Container, work: Callable[[MarketTransaction, Session], T]) -> T:
    """:func:`run`, with the ORM session of the same transaction (flush ORM rows before
    market statements that need them)."""
    return _retrying(lambda: session_transaction(c), lambda tx: work(*tx))


def apply_events(
    mt: MarketTransaction,
    instrument: InstrumentRow,
    events: list[Event],
    now: datetime,
    known: dict[int, OrderRow] | None = None,
    outcome: Outcome | None = None,
) -> None:
    """Write the engine's events: order states, fills and their money, voided holds."""
    sql = mt.sql
    rows = dict(known or {})
    touched: dict[int, OrderRow] = {}

    def row(order_id: str) -> OrderRow:
        key = int(order_id)
        found = rows.get(key)
        if found is None:
            stored = sql.order(key)
            assert stored is not None, f"order {key} is in the book but not stored"
            found = rows[key] = stored
        touched[key] = found
        return found

    for event in events:
        if isinstance(event, Filled):
            fill = _fill(
                mt, instrument, event, row(event.taker_order_id), row(event.maker_order_id), now
            )
            if outcome is not None:
                outcome.fills.append(fill)
        elif isinstance(event, Cancelled):
            close_order(mt, row(event.order_id), event.reason, now)
        elif isinstance(event, Rejected):
            raise Conflict(REJECTIONS[event.reason])
        elif isinstance(event, Accepted):
            row(event.order_id).seq = event.seq
    for order in touched.values():
        sql.save_order(order)


def _fill(
    mt: MarketTransaction,
    instrument: InstrumentRow,
    event: Filled,
    taker: OrderRow,
    maker: OrderRow,
    now: datetime,
) -> FillRow:
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
    fill = mt.sql.insert_fill(
        dict(
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
    )
    _move_fill_money(mt, buy, sell, money, now)
    return fill


def _move_fill_money(
    mt: MarketTransaction, buy: OrderRow, sell: OrderRow, money: FillMoney, now: datetime
) -> None:
    """The filled part of the bid's hold: notional to escrow, Stake Mode collateral to the
    buyer's collateral, the price improvement back to available funds."""
    assert buy.hold_id is not None
    prefix = f"fill:{buy.id}:{sell.id}"
    collateral = user_account_key(buy.user_id, AccountKind.COLLATERAL)
    available = user_account_key(buy.user_id, AccountKind.AVAILABLE)
    legs = [
        (f"{prefix}:{suffix}", amount, credit, code)
        for amount, suffix, credit, code in (
            (money.notional, "escrow", ESCROW, "fill_escrow"),
            (money.collateral, "collateral", collateral, "stake_collateral"),
            (money.improvement, "improvement", available, "price_improvement"),
        )
        if amount
    ]
    ledger_db.post_hold_legs(mt.sql, hold_id=buy.hold_id, legs=legs, now=now)


def close_order(
    mt: MarketTransaction, order: OrderRow, reason: CancelReason, now: datetime
) -> None:
    """The order leaves the book unfilled (cancel, IOC/FOK remainder, expiry): void its hold.
    The caller saves the row."""
    order.state = (
        OrderState.EXPIRED.value if reason is CancelReason.EXPIRED else OrderState.CANCELLED.value
    )
    order.cancel_reason = reason.value
    order.remaining = 0
    order.updated_at = now
    if order.hold_id is not None:
        ledger_db.void_hold(mt.sql, hold_id=order.hold_id, now=now)


def cancel_in(
    mt: MarketTransaction, order_id: int, reason: CancelReason, now: datetime
) -> OrderRow | None:
    """Cancel an open order inside a market transaction (its instrument gets locked).
    Returns the order as it is afterwards (``None`` if there is no such order)."""
    found = mt.sql.order(order_id)
    if found is None:
        return None
    instrument = mt.instrument(found.instrument_id)
    order = mt.sql.order(order_id)  # again, now that the book is ours
    assert order is not None
    if order.state != OrderState.OPEN:
        return order
    book = mt.book(instrument)
    events = book.cancel(str(order.id), reason)
    apply_events(mt, instrument, events, now, known={order.id: order})
    if order.state == OrderState.OPEN:  # not in the book: the stored state wins, close it
        close_order(mt, order, reason, now)
        mt.sql.save_order(order)
    mt.changed(instrument, book)
    return order


def now_or_default(c: Container, now: datetime | None) -> datetime:
    """``now`` if given, else the platform clock (the emulator's in demos and tests)."""
    return now if now is not None else c.clock.now()
