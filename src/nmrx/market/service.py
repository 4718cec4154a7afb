"""Order use cases: place (limit, IOC, FOK, post-only, Buy Now, Sell Now), cancel, read.

Each call is one unit of work on one instrument (see :mod:`nmrx.market.matching`).
Every order carries a client order id, unique per user: resubmitting it returns the
original order (with ``duplicate=True``) and changes nothing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nmrx.market.matching import (
    MarketTransaction,
    cancel_in,
    market_transaction,
    now_or_default,
    run,
)
from nmrx.market.orders import CancelReason, OrderType, Side
from nmrx.market.placement import OrderRequest, execute, prepare
from nmrx.market.repo import FillRow, OrderRow
from nmrx.market.rules import InstrumentState, OrderState, StandingState
from nmrx.market.tables import Instrument, MarketOrder, StandingOrder
from nmrx.platform.errors import InvalidInput, NotFound
from nmrx.platform.events import AccountSuspended, ModelOwnershipMoved, SellerPenalised
from nmrx.sellers.rules import free_collateral, may_list
from nmrx.wallet import repo as ledger_db
from nmrx.wallet.rules import AccountKind, user_account_key

if TYPE_CHECKING:
    from nmrx.platform.bootstrap import Container

T = TypeVar("T")
E = TypeVar("E", bound=Enum)
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
RESERVED_PREFIX = "standing:"  # client ids of orders placed from standing orders


@dataclass(frozen=True)
class OrderView:
    id: int
    client_order_id: str
    instrument_id: int
    side: str
    order_type: str
    price: int
    quantity: int
    filled: int
    remaining: int
    state: str
    cancel_reason: str | None
    slot_model_id: int | None
    standing_order_id: int | None
    created_at: datetime
    updated_at: datetime
    fills: list[FillRow]


@dataclass(frozen=True)
class Placement:
    order: OrderView
    duplicate: bool  # the client order id was used before: this is the original order


def order_view(o: OrderRow, fills: list[FillRow]) -> OrderView:
    return OrderView(
        o.id,
        o.client_order_id,
        o.instrument_id,
        o.side,
        o.order_type,
        o.price,
        o.quantity,
        o.filled,
        o.remaining,
        o.state,
        o.cancel_reason,
        o.slot_model_id,
        o.standing_order_id,
        o.created_at,
        o.updated_at,
        fills,
    )


def stored_view(mt: MarketTransaction, o: OrderRow) -> OrderView:
    return order_view(o, mt.sql.fills_of(o.id))


def _client_id(client_order_id: str | None) -> str:
    if client_order_id is None:
        return uuid.uuid4().hex
    cid = client_order_id.strip()
    if not CLIENT_ID_RE.match(cid):
        raise InvalidInput(
            "client_order_id must be 1 to 64 characters: letters, digits and . _ : -"
        )
    if cid.startswith(RESERVED_PREFIX):
        raise InvalidInput(f"client order ids starting with '{RESERVED_PREFIX}' are reserved")
    return cid


def _enum(enum: type[E], value: object, what: str) -> E:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise InvalidInput(f"{what} must be one of: {allowed}") from None


def place_in(mt: MarketTransaction, req: OrderRequest, now: datetime) -> Placement:
    """Place inside an open market transaction (idempotent on the client order id)."""
    previous = mt.sql.order_id_for(req.user_id, req.client_order_id)
    if previous is not None:
        stored = mt.sql.order(previous)
        assert stored is not None
        return Placement(stored_view(mt, stored), duplicate=True)
    prepared = prepare(mt, req, now)
    outcome = execute(mt, req, prepared, now)
    return Placement(order_view(outcome.order, outcome.fills), duplicate=False)


def place_order(
    c: Container,
    *,
    user_id: int,
    instrument_id: int,
    side: str | Side,
    quantity: int,
    price: int | None,
    order_type: str | OrderType = OrderType.LIMIT,
    client_order_id: str | None = None,
    slot_model_id: int | None = None,
    now: datetime | None = None,
) -> Placement:
    """Place a limit order (GTC, IOC, FOK or post-only). Bids hold their notional
    (plus Stake Mode collateral); a refused order raises and writes nothing."""
    if price is None:
        raise InvalidInput("a limit order needs a price (use Buy Now / Sell Now for market orders)")
    req = OrderRequest(
        user_id=user_id,
        instrument_id=instrument_id,
        side=_enum(Side, side, "side"),
        quantity=quantity,
        price=price,
        order_type=_enum(OrderType, order_type, "order_type"),
        client_order_id=_client_id(client_order_id),
        slot_model_id=slot_model_id,
    )
    moment = now_or_default(c, now)
    return run(c, lambda mt: place_in(mt, req, moment))


def at_market(
    c: Container,
    *,
    user_id: int,
    instrument_id: int,
    side: str | Side,
    quantity: int,
    price: int | None = None,
    client_order_id: str | None = None,
    slot_model_id: int | None = None,
    now: datetime | None = None,
) -> Placement:
    """Buy Now (a bid) or Sell Now (an ask), the one path of the API, the pages and the CLI:
    an IOC order at ``price`` when the user confirmed one (the pages: never worse than the
    price they saw, even if the book moved since), else at the best price on the other side
    (only that level can fill; refused when the other side is empty)."""
    req = OrderRequest(
        user_id=user_id,
        instrument_id=instrument_id,
        side=_enum(Side, side, "side"),
        quantity=quantity,
        price=price,
        order_type=OrderType.IOC,
        client_order_id=_client_id(client_order_id),
        slot_model_id=slot_model_id,
    )
    moment = now_or_default(c, now)
    return run(c, lambda mt: place_in(mt, req, moment))


def buy_now(
    c: Container,
    *,
    user_id: int,
    instrument_id: int,
    quantity: int,
    client_order_id: str | None = None,
    slot_model_id: int | None = None,
    now: datetime | None = None,
) -> Placement:
    """Buy Now: an IOC bid at the lowest ask (buys only what is offered at that price)."""
    return at_market(
        c,
        user_id=user_id,
        instrument_id=instrument_id,
        side=Side.BID,
        quantity=quantity,
        client_order_id=client_order_id,
        slot_model_id=slot_model_id,
        now=now,
    )


def sell_now(
    c: Container,
    *,
    user_id: int,
    instrument_id: int,
    quantity: int,
    client_order_id: str | None = None,
    now: datetime | None = None,
) -> Placement:
    """Sell Now: an IOC ask at the highest bid."""
    return at_market(
        c,
        user_id=user_id,
        instrument_id=instrument_id,
        side=Side.ASK,
        quantity=quantity,
        client_order_id=client_order_id,
        now=now,
    )


def cancel_order(
    c: Container, *, user_id: int, order_id: int, now: datetime | None = None
) -> OrderView:
    """Cancel an open order and void what its hold still holds. Cancelling an order that
    is no longer open changes nothing and returns it as it is."""
    moment = now_or_default(c, now)

    def work(mt: MarketTransaction) -> OrderView:
        order = mt.sql.order(order_id)
        if order is None or order.user_id != user_id:
            raise NotFound(f"you have no order {order_id}")
        if order.state == OrderState.OPEN:
            order = cancel_in(mt, order_id, CancelReason.USER, moment) or order
        return stored_view(mt, order)

    return run(c, work)


def _read(c: Container, work: Callable[[MarketTransaction], T]) -> T:
    """A read of orders (no book is locked, so no retry is needed)."""
    with market_transaction(c) as mt:
        return work(mt)


def get_order(c: Container, *, user_id: int, order_id: int) -> OrderView:
    def work(mt: MarketTransaction) -> OrderView:
        order = mt.sql.order(order_id)
        if order is None or order.user_id != user_id:
            raise NotFound(f"you have no order {order_id}")
        return stored_view(mt, order)

    return _read(c, work)


def get_order_by_client_id(c: Container, *, user_id: int, client_order_id: str) -> OrderView:
    def work(mt: MarketTransaction) -> OrderView:
        order_id = mt.sql.order_id_for(user_id, client_order_id)
        order = None if order_id is None else mt.sql.order(order_id)
        if order is None:
            raise NotFound(f"you have no order with client order id {client_order_id!r}")
        return stored_view(mt, order)

    return _read(c, work)


def list_orders(
    c: Container,
    *,
    user_id: int,
    state: str | None = None,
    instrument_id: int | None = None,
    limit: int = 100,
) -> list[OrderView]:
    """The user's orders, newest first."""
    chosen = None if state is None else _enum(OrderState, state, "state").value

    def work(mt: MarketTransaction) -> list[OrderView]:
        rows = mt.sql.orders_of(user_id, state=chosen, instrument_id=instrument_id, limit=limit)
        return [stored_view(mt, o) for o in rows]

    return _read(c, work)


def cancel_asks_of_owner(session: Session, moved: ModelOwnershipMoved) -> None:
    """Ownership moved away or was released: cancel the old owner's open asks on the model
    (asks hold no money) and pause their ladders on it. Runs in the move's transaction."""
    model_id, owner_user_id, moment = moved.model_id, moved.from_user_id, moved.at
    mt = MarketTransaction.within(session)
    asks = session.scalars(
        select(MarketOrder.id)
        .join(Instrument, Instrument.id == MarketOrder.instrument_id)
        .where(
            Instrument.model_id == model_id,
            Instrument.state == InstrumentState.OPEN,
            MarketOrder.user_id == owner_user_id,
            MarketOrder.side == Side.ASK.value,
            MarketOrder.state == OrderState.OPEN,
        )
        .order_by(MarketOrder.instrument_id, MarketOrder.id)
    ).all()
    for order_id in asks:
        cancel_in(mt, order_id, CancelReason.USER, moment)
    session.execute(
        update(StandingOrder)
        .where(
            StandingOrder.model_id == model_id,
            StandingOrder.user_id == owner_user_id,
            StandingOrder.side == Side.ASK.value,
            StandingOrder.state == StandingState.ACTIVE,
        )
        .values(state=StandingState.PAUSED.value, updated_at=moment)
    )


def withdraw_uncovered_asks(c: Container, penalised: SellerPenalised) -> None:
    """A penalty took some of the seller's collateral: cancel their newest open asks until
    what is left covers the rest (market-rules §5.1), so no fill passes what the collateral
    covers."""
    user_id = penalised.user_id

    def work(mt: MarketTransaction) -> None:
        key = user_account_key(user_id, AccountKind.COLLATERAL)
        ledger_db.lock_accounts(mt.sql, [key])
        balance, unsettled, bonds, open_asks = mt.sql.seller_figures(user_id, key)
        free = free_collateral(balance, stake_bonds=bonds)
        policy = mt.c.collateral_policy
        newest_first = mt.sql.orders_of(
            user_id, state=OrderState.OPEN.value, instrument_id=None, limit=100_000
        )
        for order in newest_first:
            if may_list(policy, collateral=free, unsettled_notional=unsettled + open_asks):
                break
            if order.side == Side.ASK.value:
                open_asks -= order.remaining * order.price
                cancel_in(mt, order.id, CancelReason.COLLATERAL, penalised.at)

    run(c, work)


def cancel_orders_of_suspended(session: Session, suspended: AccountSuspended) -> None:
    """An operator suspended the account: cancel every open order of it (voiding what the
    bids hold) and pause its standing orders. Runs in the suspension's transaction."""
    mt = MarketTransaction.within(session)
    open_orders = session.scalars(
        select(MarketOrder.id)
        .where(MarketOrder.user_id == suspended.user_id, MarketOrder.state == OrderState.OPEN)
        .order_by(MarketOrder.instrument_id, MarketOrder.id)
    ).all()
    for order_id in open_orders:
        cancel_in(mt, order_id, CancelReason.SUSPENDED, suspended.at)
    session.execute(
        update(StandingOrder)
        .where(
            StandingOrder.user_id == suspended.user_id,
            StandingOrder.state == StandingState.ACTIVE,
        )
        .values(state=StandingState.PAUSED.value, updated_at=suspended.at)
    )
