"""Market rules around the matching engine (market-rules §3, §4): modes, order and fill
states, what a bid holds, where a fill's money goes, and the market's ledger invariants.

Pure: no I/O. The services load state, ask these functions, and write the result.

Money of a bid (§4.1, §4.3). A bid of ``quantity`` at ``price`` holds
``quantity × (price + collateral_per_unit)`` of the buyer's available funds, where
``collateral_per_unit`` is 0 in File Mode and ``stake_collateral_rate`` of 1 NMR in
Stake Mode (the buyer's bond per NMR of allowance). A fill of ``q`` units at the
resting order's price ``p`` moves, from the bid's hold:

* ``q × p`` to the platform's *escrow* (the fill's notional, until settlement);
* ``q × collateral_per_unit`` to the buyer's *collateral* account (the bond);
* ``q × (limit − p)`` back to the buyer's *available* funds when the bid took
  liquidity below its limit price (price improvement).

So the hold always equals the remaining quantity × (limit + collateral_per_unit) of
the open bid, which :func:`find_market_violations` checks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from nmrx.platform.bounds import form_int
from nmrx.settlement.rules import FINAL
from nmrx.wallet.money import TICK, UNITS_PER_NMR, InvalidAmount, format_nmr, parse_nmr

MAX_QUANTITY = 1_000_000
MAX_NOTIONAL = 10**16  # 100,000,000 NMR: more than exists; keeps every product in BIGINT


class Mode(StrEnum):
    FILE = "file"  # unit: one copy of the round's predictions file
    STAKE = "stake"  # unit: 1 NMR of stake allowance for the round


class InstrumentState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class OrderState(StrEnum):
    OPEN = "open"  # resting in the book with ``remaining`` > 0
    FILLED = "filled"
    CANCELLED = "cancelled"  # by the user, or its IOC / FOK / self-trade remainder
    EXPIRED = "expired"  # the book closed


# States in which a fill's escrow has left: the settlement machine's final states.
FINAL_FILL_STATES: frozenset[str] = frozenset(state.value for state in FINAL)

# Ledger codes of the transfers through which the market moves money in and out of
# escrow (settlement adds its own). Escrow moved under other codes (generic ledger
# use, e.g. in the ledger's own tests) is outside the market's invariant.
MARKET_ESCROW_CODES: frozenset[str] = frozenset(
    {"fill_escrow", "settle_release", "settle_fee", "settle_refund"}
)


class StandingState(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    FINISHED = "finished"  # a standing bid placed in its N rounds


def collateral_per_unit(mode: Mode, stake_collateral_rate_bp: int) -> int:
    """The Stake Mode buyer's bond per unit (1 NMR of allowance); nothing in File Mode."""
    if mode is Mode.FILE:
        return 0
    return UNITS_PER_NMR * stake_collateral_rate_bp // 10_000


def bid_hold(quantity: int, price: int, per_unit_collateral: int) -> int:
    return quantity * (price + per_unit_collateral)


@dataclass(frozen=True, slots=True)
class FillMoney:
    notional: int  # to escrow
    collateral: int  # to the buyer's collateral account
    improvement: int  # back to the buyer's available funds

    @property
    def total(self) -> int:
        return self.notional + self.collateral + self.improvement


def fill_money(*, bid_limit: int, price: int, quantity: int, per_unit_collateral: int) -> FillMoney:
    """Where the filled part of a bid's hold goes (see the module docstring)."""
    if price > bid_limit:
        raise ValueError(f"a bid limited at {bid_limit} cannot fill at {price}")
    return FillMoney(
        notional=quantity * price,
        collateral=quantity * per_unit_collateral,
        improvement=quantity * (bid_limit - price),
    )


def order_problem(price: object, quantity: object) -> str | None:
    """Why a limit price and quantity are unacceptable, in words; ``None`` if they are fine."""
    if type(quantity) is not int or quantity <= 0:
        return "quantity must be a whole number greater than zero"
    if quantity > MAX_QUANTITY:
        return f"quantity must be at most {MAX_QUANTITY:,}"
    if type(price) is not int or price <= 0:
        return "price must be greater than zero"
    if price % TICK:
        return (
            f"price {format_nmr(price)} NMR is not on the tick: prices move in steps of "
            f"{format_nmr(TICK)} NMR"
        )
    if price * quantity > MAX_NOTIONAL:
        return "the order's notional (quantity × price) is too large"
    return None


# ------------------------------------------------------------------------ invariants


@dataclass(frozen=True, slots=True)
class BidHold:
    """A bid order and its hold, as stored."""

    order_id: int
    user_id: int
    state: str
    price: int
    remaining: int
    per_unit_collateral: int
    hold_id: str | None
    hold_state: str | None  # pending / posted / voided
    hold_remaining: int


@dataclass(frozen=True, slots=True)
class OrderFills:
    """An order's recorded quantities next to the total of its fills."""

    order_id: int
    state: str
    quantity: int
    filled: int
    remaining: int
    fills_quantity: int


def find_market_violations(
    *,
    bids: Iterable[BidHold],
    held_by_user: dict[int, int],
    orders: Iterable[OrderFills],
    escrow_balance: int,
    unsettled_notional: int,
    best_prices: Iterable[tuple[int, int | None, int | None]],
    other_held_by_user: dict[int, int] | None = None,
    escrow_outside_market: int = 0,
) -> list[str]:
    """The market's invariants of §3 and §4, in words (empty: all hold).

    * every open bid's hold is pending and equals its remaining quantity × (limit +
      collateral per unit); a closed bid's hold is not pending;
    * each user's *held* account equals that total over their open bids (plus
      ``other_held_by_user``: pending holds that belong to no order);
    * an order's ``filled`` is the sum of its fills; ``remaining`` is what is left for an
      open order and zero otherwise, never more than ``quantity − filled``;
    * *escrow* equals the notional of unsettled fills (plus ``escrow_outside_market``:
      the net of escrow transfers under codes not in :data:`MARKET_ESCROW_CODES`);
    * no book is crossed: best bid < best ask (``best_prices``: instrument, bid, ask).
    """
    violations = _hold_violations(bids, held_by_user, other_held_by_user or {})
    violations += _order_violations(orders)
    if escrow_balance - escrow_outside_market != unsettled_notional:
        violations.append(
            f"escrow holds {escrow_balance - escrow_outside_market} units for fills but "
            f"unsettled fills total {unsettled_notional} units"
        )
    for instrument_id, bid, ask in best_prices:
        if bid is not None and ask is not None and bid >= ask:
            violations.append(f"the book of instrument {instrument_id} is crossed: {bid} >= {ask}")
    return violations


def _hold_violations(
    bids: Iterable[BidHold], held_by_user: dict[int, int], other_held: dict[int, int]
) -> list[str]:
    """Each open bid's hold, each closed bid's hold, and each user's held total (§4.1)."""
    violations: list[str] = []
    expected_held: dict[int, int] = {}
    for b in bids:
        if b.state == OrderState.OPEN:
            due = bid_hold(b.remaining, b.price, b.per_unit_collateral)
            expected_held[b.user_id] = expected_held.get(b.user_id, 0) + due
            if b.hold_state != "pending" or b.hold_remaining != due:
                violations.append(
                    f"open bid {b.order_id} should hold {due} units but its hold "
                    f"{b.hold_id} is {b.hold_state} with {b.hold_remaining} remaining"
                )
        elif b.hold_state == "pending":
            violations.append(f"{b.state} bid {b.order_id} still has a pending hold {b.hold_id}")
    for user_id in sorted(set(expected_held) | set(held_by_user)):
        held = held_by_user.get(user_id, 0) - other_held.get(user_id, 0)
        due = expected_held.get(user_id, 0)
        if held != due:
            violations.append(
                f"user {user_id} has {held} units held for bids but their open bids need "
                f"{due} units"
            )
    return violations


def _order_violations(orders: Iterable[OrderFills]) -> list[str]:
    """Each order's filled and remaining quantities against its fills and its state."""
    violations: list[str] = []
    for o in orders:
        if o.filled != o.fills_quantity:
            violations.append(
                f"order {o.order_id} says {o.filled} filled but its fills total {o.fills_quantity}"
            )
        if o.state == OrderState.OPEN and not 0 < o.remaining == o.quantity - o.filled:
            violations.append(
                f"open order {o.order_id} has remaining {o.remaining} "
                f"(quantity {o.quantity}, filled {o.filled})"
            )
        if o.state != OrderState.OPEN and o.remaining != 0:
            violations.append(f"{o.state} order {o.order_id} still has {o.remaining} remaining")
        if o.state == OrderState.FILLED and o.filled != o.quantity:
            violations.append(f"filled order {o.order_id} filled only {o.filled}/{o.quantity}")
    return violations


class InvalidLadderText(ValueError):
    pass


_QUANTITY = re.compile(r"[0-9]{1,9}")  # ASCII digits ("²".isdigit() is true), bounded


def parse_ladder(text: str) -> list[tuple[int, int]]:
    """A ladder as a seller types it: one level per line, ``quantity @ price`` in NMR
    (e.g. ``3 @ 0.5``); returns (quantity, price in units) per level, blank lines ignored."""
    levels = []
    for n, line in enumerate(x.strip() for x in text.splitlines() if x.strip()):
        qty_text, _, price_text = line.partition("@")
        quantity = form_int(qty_text)
        if quantity is None or not price_text.strip():
            raise InvalidLadderText(
                f"line {n + 1} '{line}': write 'quantity @ price', e.g. 3 @ 0.5"
            )
        try:
            levels.append((quantity, parse_nmr(price_text.strip())))
        except InvalidAmount as exc:
            raise InvalidLadderText(f"line {n + 1}: {exc}") from None
    return levels
