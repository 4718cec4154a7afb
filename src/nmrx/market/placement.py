"""Placing an order in a book, in two steps inside a :class:`MarketTransaction`.

:func:`prepare` only reads and raises a ``ServiceError`` for every refusal (so a
refused order writes nothing and holds nothing), then :func:`execute` writes the
order, the bid's hold, the engine's events, the fills and their money.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from nmrx.market.matching import MarketTransaction, apply_events
from nmrx.market.orderbook import OrderBook
from nmrx.market.orders import Order, OrderType, Side
from nmrx.market.repo import FillRow, InstrumentRow, OrderRow
from nmrx.market.rules import (
    InstrumentState,
    Mode,
    OrderState,
    bid_hold,
    collateral_per_unit,
    order_problem,
)
from nmrx.platform.errors import Conflict, Forbidden, InvalidInput
from nmrx.sellers.rules import (
    committed_notional,
    free_collateral,
    may_list,
    missing_slot_scopes,
    seller_requirement,
)
from nmrx.wallet import repo as ledger_db
from nmrx.wallet.money import format_nmr
from nmrx.wallet.rules import AccountKind, InsufficientFunds, user_account_key

UPLOAD_SCOPE = "upload_submission"


SUSPENDED = "this account is suspended by the operator: it may not place orders"


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
    if req.side is Side.ASK:
        check_may_list(mt, req.user_id, new_ask=req.quantity * price)
    per_unit = collateral_per_unit(mode, mt.c.settings.stake_collateral_rate_bp)
    hold = 0
    if req.side is Side.BID:
        hold = bid_hold(req.quantity, price, per_unit)
        available = ledger_db.balance(mt.sql, user_account_key(req.user_id, AccountKind.AVAILABLE))
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


def check_may_list(mt: MarketTransaction, user_id: int, *, new_ask: int = 0) -> None:
    """Asks need the seller's collateral requirement met (§5.1), counting their unsettled
    sales, their open asks and this ask (``new_ask``, its notional): an ask reserves
    collateral, so no fill can take the seller past what their collateral covers. Stake
    Mode collateral the user locked as a buyer is bonded to those fills and does not count.
    The collateral account is locked first: a seller's asks and unlocks decide in turn."""
    key = user_account_key(user_id, AccountKind.COLLATERAL)
    ledger_db.lock_accounts(mt.sql, [key])
    balance, unsettled, bonds, open_asks = mt.sql.seller_figures(user_id, key)
    free = free_collateral(balance, stake_bonds=bonds)
    policy = mt.c.collateral_policy
    committed = committed_notional(unsettled=unsettled, open_asks=open_asks, new_ask=new_ask)
    if not may_list(policy, collateral=free, unsettled_notional=committed):
        requirement = seller_requirement(policy, unsettled_notional=committed)
        raise Conflict(
            f"your free collateral is {format_nmr(free)} NMR and sellers must keep "
            f"{format_nmr(requirement)} NMR locked (the minimum plus "
            f"{policy.rate_bp / 100:g} % of {format_nmr(committed)} NMR: your unsettled sales, "
            "open asks and this ask): lock more collateral before placing asks"
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
    missing = missing_slot_scopes(slot.scopes)
    if missing:
        raise InvalidInput(
            f"the Numerai API key of slot '{slot.name}' lacks the {' and '.join(missing)} "
            f"scope{'s' if len(missing) > 1 else ''}: NMRX uploads the file with it and reads "
            "the slot back; add a key with upload_submission and read_submission_info"
        )


def execute(mt: MarketTransaction, req: OrderRequest, prep: Prepared, now: datetime) -> Outcome:
    """Write a prepared placement: the order, its hold, the events, the fills and money."""
    order = _insert_order(mt, req, prep, now)
    if req.side is Side.BID:
        order.hold_id = f"order:{order.id}"
        try:
            ledger_db.place_hold(
                mt.sql,
                hold_id=order.hold_id,
                user_id=req.user_id,
                amount=prep.hold,
                purpose="bid",
                now=now,
            )
        except InsufficientFunds:  # spent meanwhile by another transaction (PostgreSQL)
            available = ledger_db.balance(
                mt.sql, user_account_key(req.user_id, AccountKind.AVAILABLE)
            )
            raise Conflict(
                _no_funds(req.quantity, prep.price, prep.per_unit_collateral, prep.hold, available)
            ) from None
    events = prep.book.submit(
        Order(str(order.id), req.user_id, req.side, prep.price, req.quantity, req.order_type)
    )
    outcome = Outcome(order)
    apply_events(mt, prep.instrument, events, now, known={order.id: order}, outcome=outcome)
    if req.side is Side.ASK and any(f.price > prep.price for f in outcome.fills):
        check_may_list(mt, req.user_id)  # sold above its price: the real notional counts
    mt.changed(prep.instrument, prep.book)
    return outcome


def _insert_order(
    mt: MarketTransaction, req: OrderRequest, prep: Prepared, now: datetime
) -> OrderRow:
    bid = req.side is Side.BID
    return mt.sql.insert_order(
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
