"""Market read queries: market data (depth, best and last prices), the seller's figures,
and the snapshot the invariant check reads. The unit of work's SQL (instruments, orders,
fills) is :mod:`nmrx.market.repo`.

Functions work on an open session and never commit (services own the unit of work).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session, aliased

from nmrx.market.orders import Side
from nmrx.market.rules import (
    FINAL_FILL_STATES,
    MARKET_ESCROW_CODES,
    BidHold,
    OrderFills,
    OrderState,
    StandingState,
)
from nmrx.market.tables import Fill, Instrument, MarketOrder, StandingOrder
from nmrx.sellers.tables import NumeraiModel
from nmrx.wallet.rules import AccountKind, platform_account_key
from nmrx.wallet.tables import LedgerAccount, LedgerHold, LedgerTransfer

# ------------------------------------------------------------------ market data


def depth(
    session: Session, instrument_id: int, side: Side, limit: int | None = None
) -> list[tuple[int, int]]:
    """L2 depth of one side from the stored open orders, best price first."""
    price = MarketOrder.price
    query = (
        select(price, func.sum(MarketOrder.remaining))
        .where(
            MarketOrder.instrument_id == instrument_id,
            MarketOrder.state == OrderState.OPEN,
            MarketOrder.side == side.value,
        )
        .group_by(price)
        .order_by(price.desc() if side is Side.BID else price)
    )
    if limit is not None:
        query = query.limit(limit)
    return [(p, int(q)) for p, q in session.execute(query).all()]


def best_prices(
    session: Session, instrument_ids: list[int] | None = None
) -> dict[int, tuple[int | None, int | None]]:
    """``instrument id → (best bid, best ask)`` over open orders."""
    query = (
        select(
            MarketOrder.instrument_id,
            MarketOrder.side,
            func.max(MarketOrder.price),
            func.min(MarketOrder.price),
        )
        .where(MarketOrder.state == OrderState.OPEN)
        .group_by(MarketOrder.instrument_id, MarketOrder.side)
    )
    if instrument_ids is not None:
        query = query.where(MarketOrder.instrument_id.in_(instrument_ids))
    result: dict[int, tuple[int | None, int | None]] = {}
    for instrument_id, side, highest, lowest in session.execute(query).all():
        bid, ask = result.get(instrument_id, (None, None))
        if side == Side.BID:
            bid = highest
        else:
            ask = lowest
        result[instrument_id] = (bid, ask)
    return result


def last_prices(session: Session, instrument_ids: list[int]) -> dict[int, int]:
    """``instrument id → price of its latest fill``."""
    if not instrument_ids:
        return {}
    latest = (
        select(func.max(Fill.id))
        .where(Fill.instrument_id.in_(instrument_ids))
        .group_by(Fill.instrument_id)
    )
    rows = session.execute(select(Fill.instrument_id, Fill.price).where(Fill.id.in_(latest)))
    return dict(rows.tuples().all())


# ------------------------------------------------------------------ invariants


@dataclass(frozen=True)
class MarketSnapshot:
    bids: list[BidHold]
    held_by_user: dict[int, int]
    orders: list[OrderFills]
    escrow_balance: int
    unsettled_notional: int
    best_prices: list[tuple[int, int | None, int | None]]
    other_held_by_user: dict[int, int]
    escrow_outside_market: int


def snapshot(session: Session) -> MarketSnapshot:
    bid_rows = session.execute(
        select(
            MarketOrder.id,
            MarketOrder.user_id,
            MarketOrder.state,
            MarketOrder.price,
            MarketOrder.remaining,
            MarketOrder.collateral_per_unit,
            MarketOrder.hold_id,
            LedgerHold.state,
            LedgerHold.remaining,
        )
        .outerjoin(LedgerHold, LedgerHold.id == MarketOrder.hold_id)
        .where(MarketOrder.side == Side.BID.value)
    ).all()
    bids = [
        BidHold(oid, uid, st, price, rem, k, hid, hst, hrem or 0)
        for oid, uid, st, price, rem, k, hid, hst, hrem in bid_rows
    ]
    held = dict(
        session.execute(
            select(LedgerAccount.user_id, LedgerAccount.credits - LedgerAccount.debits).where(
                LedgerAccount.kind == AccountKind.HELD.value
            )
        )
        .tuples()
        .all()
    )
    filled_by_order: dict[int, int] = {}
    for column in (Fill.buy_order_id, Fill.sell_order_id):
        for order_id, quantity in session.execute(
            select(column, func.sum(Fill.quantity)).group_by(column)
        ).all():
            filled_by_order[order_id] = filled_by_order.get(order_id, 0) + int(quantity)
    orders = [
        OrderFills(oid, st, q, f, r, filled_by_order.get(oid, 0))
        for oid, st, q, f, r in session.execute(
            select(
                MarketOrder.id,
                MarketOrder.state,
                MarketOrder.quantity,
                MarketOrder.filled,
                MarketOrder.remaining,
            )
        ).all()
    ]
    escrow = session.execute(
        select(LedgerAccount.credits - LedgerAccount.debits).where(
            LedgerAccount.key == platform_account_key(AccountKind.ESCROW)
        )
    ).scalar()
    unsettled = session.execute(
        select(func.coalesce(func.sum(Fill.notional), 0)).where(
            Fill.state.not_in(FINAL_FILL_STATES)
        )
    ).scalar_one()
    best = [(i, b, a) for i, (b, a) in best_prices(session).items()]
    order_holds = select(MarketOrder.hold_id).where(MarketOrder.hold_id.is_not(None))
    other_held = {
        user_id: int(total)
        for user_id, total in session.execute(
            select(LedgerHold.user_id, func.sum(LedgerHold.remaining))
            .where(LedgerHold.state == "pending", LedgerHold.id.not_in(order_holds))
            .group_by(LedgerHold.user_id)
        ).all()
    }
    escrow_id = select(LedgerAccount.id).where(
        LedgerAccount.key == platform_account_key(AccountKind.ESCROW)
    )
    outside = 0
    for column, sign in (
        (LedgerTransfer.credit_account_id, 1),
        (LedgerTransfer.debit_account_id, -1),
    ):
        total = session.execute(
            select(func.coalesce(func.sum(LedgerTransfer.amount), 0)).where(
                column.in_(escrow_id), LedgerTransfer.code.not_in(MARKET_ESCROW_CODES)
            )
        ).scalar_one()
        outside += sign * int(total)
    # cast: held accounts always belong to a user (only platform accounts have no user_id)
    held_by_user = cast(dict[int, int], held)
    return MarketSnapshot(
        bids, held_by_user, orders, escrow or 0, int(unsettled), best, other_held, outside
    )


def unsettled_notional_as_seller(session: Session, user_id: int) -> int:
    total = session.execute(
        select(func.coalesce(func.sum(Fill.notional), 0)).where(
            Fill.seller_user_id == user_id, Fill.state.not_in(FINAL_FILL_STATES)
        )
    ).scalar_one()
    return int(total)


def is_listed() -> ColumnElement[bool]:
    """Whether a model (a row of ``numerai_models`` in the query) is a market (market-rules §5.1): its owner lists it, with an ask ladder
    (not cancelled) or an ask placed on one of its books. A buyer's slot, bound to them
    with their key, is neither."""
    ladder = (
        select(StandingOrder.id)
        .where(
            StandingOrder.model_id == NumeraiModel.id,
            StandingOrder.user_id == NumeraiModel.owner_user_id,
            StandingOrder.side == Side.ASK.value,
            StandingOrder.state != StandingState.CANCELLED.value,
        )
        .correlate(NumeraiModel)
        .exists()
    )
    book = aliased(Instrument)
    ask = (
        select(MarketOrder.id)
        .join(book, book.id == MarketOrder.instrument_id)
        .where(
            book.model_id == NumeraiModel.id,
            MarketOrder.user_id == NumeraiModel.owner_user_id,
            MarketOrder.side == Side.ASK.value,
        )
        .correlate(NumeraiModel)
        .exists()
    )
    return or_(ladder, ask)


def open_ask_notional(session: Session, user_id: int) -> int:
    """Notional of the user's open asks (remaining × price): collateral they reserve."""
    total = session.execute(
        select(func.coalesce(func.sum(MarketOrder.remaining * MarketOrder.price), 0)).where(
            MarketOrder.user_id == user_id,
            MarketOrder.state == OrderState.OPEN.value,
            MarketOrder.side == "ask",
        )
    ).scalar_one()
    return int(total)


def stake_bonds_as_buyer(session: Session, user_id: int) -> int:
    """Stake Mode collateral the user locked as a buyer in fills not yet settled."""
    total = session.execute(
        select(func.coalesce(func.sum(Fill.buyer_collateral), 0)).where(
            Fill.buyer_user_id == user_id, Fill.state.not_in(FINAL_FILL_STATES)
        )
    ).scalar_one()
    return int(total)
