"""The unit of work of the order book: lock an instrument, use its book, write what happened.

Used by :mod:`nmrx.market.service`, :mod:`nmrx.market.instruments` and
:mod:`nmrx.market.standing_orders`. One :class:`MarketTransaction` is one database
transaction; books it changed go back to the process cache only after the commit.
The writes go through :class:`nmrx.market.sql.MarketSql` (plain SQL on the
session's connection: the hot path).

Placement is split in two: :func:`prepare` only reads and raises a ``ServiceError``
for every refusal (so a refused order writes nothing and holds nothing), then
:func:`execute` writes the order, the bid's hold, the engine's events, the fills and
their money (see :mod:`nmrx.market.rules` for where a fill's money goes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from nmrx.market import repo as market_db
from nmrx.market.orderbook import OrderBook
from nmrx.market.orders import (
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
from nmrx.market.rules import (
    InstrumentState,
    Mode,
    OrderState,
    bid_hold,
    collateral_per_unit,
    fill_money,
    order_problem,
)
from nmrx.market.sql import FillRow, InstrumentRow, MarketSql, OrderRow, raw_transaction
from nmrx.platform.errors import Conflict, Forbidden, InvalidInput, NotFound
from nmrx.sellers.rules import free_collateral, may_list, seller_requirement
from nmrx.settlement.rules import FillState
from nmrx.wallet.money import format_nmr
from nmrx.wallet.rules import (
    AccountKind,
    InsufficientFunds,
    platform_account_key,
    user_account_key,
)

if TYPE_CHECKING:
    from nmrx.platform.bootstrap import Container

T = TypeVar("T")
log = logging.getLogger("nmrx.market")
ESCROW = platform_account_key(AccountKind.ESCROW)
UPLOAD_SCOPE = "upload_submission"
RETRIES = 5

SUSPENDED = "this account is suspended by the operator: it may not place orders"
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

    def __init__(
        self, c: Container | None, session: Session | None, sql: MarketSql | None = None
    ) -> None:
        """On an ORM ``session``'s transaction, or on a plain ``sql`` one (the hot paths).
        ``c`` may be ``None`` inside another service's transaction (e.g. an ownership move
        cancelling asks): books are then rebuilt from the database, never cached."""
        self._c = c
        self._session = session
        self.cache = market_db.book_cache(c.db) if c is not None else market_db.BookCache()
        self._sql = sql
        self._books: dict[int, tuple[InstrumentRow, OrderBook]] = {}
        self._instruments: dict[int, InstrumentRow] = {}

    @property
    def c(self) -> Container:
        assert self._c is not None, "placing orders needs the container"
        return self._c

    @property
    def session(self) -> Session:
        assert self._session is not None, "this market transaction has no ORM session"
        return self._session

    @property
    def sql(self) -> MarketSql:
        if self._sql is None:
            self._sql = MarketSql.of(self.session)
        elif self._session is not None:
            self._session.flush()  # ORM rows added meanwhile (e.g. a standing order) go first
        return self._sql

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
def market_transaction(c: Container, *, plain: bool = False) -> Iterator[MarketTransaction]:
    """One unit of work: an ORM session's transaction, or with ``plain`` a session-less
    one (placing and cancelling orders need no ORM and gain ~20 % without it)."""
    if plain:
        with raw_transaction(c.db.engine) as sql:
            mt = MarketTransaction(c, None, sql)
            yield mt
    else:
        with c.db.transaction() as session:
            mt = MarketTransaction(c, session)
            yield mt
    mt.checkin()


def _retryable(exc: DBAPIError) -> bool:
    """PostgreSQL deadlock / serialization failure, or a unique race (e.g. the same client
    order id sent twice at once to two instruments: the retry finds the first order)."""
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    unique = isinstance(exc, IntegrityError) and "UNIQUE" in str(exc.orig).upper()
    return unique or code in {"40P01", "40001", "23505"}


def run(c: Container, work: Callable[[MarketTransaction], T], *, plain: bool = False) -> T:
    """Run ``work`` in a market transaction; retry it on a deadlock or a unique race.

    ``work`` must be safe to re-run from scratch (it is: every write is in the rolled
    back transaction, and placements are idempotent on their client order id).
    """
    for attempt in range(RETRIES):
        try:
            with market_transaction(c, plain=plain) as mt:
                return work(mt)
        except Exception as exc:  # the driver's own errors come through raw SQL too
            wrapped = exc if isinstance(exc, DBAPIError) else _wrap(exc)
            if wrapped is None or attempt == RETRIES - 1 or not _retryable(wrapped):
                raise
            log.info("market transaction retried after %s", type(exc).__name__)
            time.sleep(0.005 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _wrap(exc: Exception) -> DBAPIError | None:
    """A DBAPI error raised by the raw cursor, wrapped like SQLAlchemy would."""
    module = type(exc).__module__
    if not (module.startswith("psycopg") or module.startswith("sqlite3")):
        return None
    integrity = "IntegrityError" in type(exc).__name__ or "UniqueViolation" in type(exc).__name__
    cls = IntegrityError if integrity else DBAPIError
    return cls(None, None, exc)


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
    instrument: InstrumentRow
    book: OrderBook
    price: int
    per_unit_collateral: int
    hold: int  # what a bid holds (0 for an ask)


@dataclass
class Outcome:
    order: OrderRow
    fills: list[FillRow] = field(default_factory=list)


def prepare(mt: MarketTransaction, req: OrderRequest, now: datetime) -> Prepared:
    """Every check of a placement; raises a ``ServiceError`` and writes nothing if refused."""
    if mt.sql.suspended(req.user_id):  # first: the suspension waits for this placement
        raise Forbidden(SUSPENDED)
    problem = order_problem(req.price if req.price is not None else 10_000, req.quantity)
    if problem:
        raise InvalidInput(problem)
    instrument = mt.instrument(req.instrument_id)
    ensure_trading(instrument, now)
    mode = Mode(instrument.mode)
    if req.side is Side.ASK:
        if instrument.owner_user_id != req.user_id:
            raise Forbidden(
                f"only the verified owner of model '{instrument.model_name}' may place asks on it"
            )
        check_may_list(mt, req.user_id)
    else:
        if instrument.owner_user_id == req.user_id:
            raise Forbidden(f"you own model '{instrument.model_name}': you may ask, not bid")
        check_slot(
            mt,
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
        available = mt.sql.available(req.user_id)
        if available < hold:
            raise Conflict(_no_funds(req.quantity, price, per_unit, hold, available))
    return Prepared(instrument, book, price, per_unit, hold)


def _no_funds(quantity: int, price: int, per_unit: int, hold: int, available: int) -> str:
    collateral = f" + {format_nmr(per_unit)} NMR collateral" if per_unit else ""
    return (
        f"insufficient funds: this bid holds {format_nmr(hold)} NMR ({quantity} × "
        f"({format_nmr(price)} NMR{collateral})) and you have {format_nmr(available)} NMR available"
    )


def ensure_trading(instrument: InstrumentRow, now: datetime) -> None:
    if instrument.state != InstrumentState.OPEN or now >= instrument.trading_closes_at:
        raise Conflict(
            f"trading on round {instrument.round_number} closed at "
            f"{instrument.trading_closes_at:%Y-%m-%d %H:%M} UTC"
        )


def check_may_list(mt: MarketTransaction, user_id: int) -> None:
    """Asks need the seller's collateral requirement met (§5.1). Stake Mode collateral the
    user locked as a buyer is bonded to those fills and does not count."""
    balance, unsettled, bonds = mt.sql.seller_figures(user_id)
    free = free_collateral(balance, stake_bonds=bonds)
    policy = mt.c.collateral_policy
    if not may_list(policy, collateral=free, unsettled_notional=unsettled):
        requirement = seller_requirement(policy, unsettled_notional=unsettled)
        raise Conflict(
            f"your free collateral is {format_nmr(free)} NMR and sellers must keep "
            f"{format_nmr(requirement)} NMR locked: lock more collateral before placing asks"
        )


def check_slot(
    mt: MarketTransaction,
    *,
    user_id: int,
    slot_model_id: int | None,
    tournament: str,
    required: bool,
) -> None:
    """The buyer's slot: their own model in the tournament, with a key that can upload."""
    if slot_model_id is None:
        if required:
            raise InvalidInput(
                f"a Stake Mode bid must name a slot: one of your {tournament} Numerai models "
                "with an API key that can upload submissions"
            )
        return
    slot = mt.sql.slot(slot_model_id)
    if slot is None or slot.owner_user_id != user_id:
        raise InvalidInput(
            f"slot {slot_model_id} is not one of your Numerai models: add the API key of the "
            "Numerai account that owns it first"
        )
    if slot.tournament != tournament:
        raise InvalidInput(
            f"slot '{slot.name}' is a {slot.tournament} model and this market is {tournament}"
        )
    if slot.scopes is None:
        raise InvalidInput(
            f"slot '{slot.name}' has no Numerai API key: add a key that can upload submissions"
        )
    if UPLOAD_SCOPE not in slot.scopes.split():
        raise InvalidInput(
            f"the Numerai API key of slot '{slot.name}' cannot upload submissions "
            f"(it lacks the {UPLOAD_SCOPE} scope)"
        )


def execute(mt: MarketTransaction, req: OrderRequest, prep: Prepared, now: datetime) -> Outcome:
    """Write a prepared placement: the order, its hold, the events, the fills and money."""
    sql = mt.sql
    bid = req.side is Side.BID
    order = sql.insert_order(
        dict(
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
            cancel_reason=None,
            seq=None,
            collateral_per_unit=prep.per_unit_collateral if bid else 0,
            slot_model_id=req.slot_model_id if bid else None,
            hold_id=None,
            standing_order_id=req.standing_order_id,
            created_at=now,
            updated_at=now,
        )
    )
    if bid:
        order.hold_id = f"order:{order.id}"
        try:
            sql.place_hold(
                hold_id=order.hold_id, user_id=req.user_id, amount=prep.hold, purpose="bid", now=now
            )
        except InsufficientFunds:  # spent meanwhile by another transaction (PostgreSQL)
            available = sql.available(req.user_id)
            raise Conflict(
                _no_funds(req.quantity, prep.price, prep.per_unit_collateral, prep.hold, available)
            ) from None
    events = prep.book.submit(
        Order(str(order.id), req.user_id, req.side, prep.price, req.quantity, req.order_type)
    )
    outcome = Outcome(order)
    apply_events(mt, prep.instrument, events, now, known={order.id: order}, outcome=outcome)
    mt.changed(prep.instrument, prep.book)
    return outcome


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
            mt.sql.post_hold(
                hold_id=buy.hold_id,
                transfer_id=f"{prefix}:{suffix}",
                amount=amount,
                credit=credit,
                code=code,
                now=now,
            )
    return fill


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
        mt.sql.void_hold(hold_id=order.hold_id, now=now)


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
