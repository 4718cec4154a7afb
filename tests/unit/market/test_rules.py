"""Market rules: what a bid holds, where a fill's money goes, the invariant check."""

from __future__ import annotations

import pytest

from nmrx.market.rules import (
    FINAL_FILL_STATES,
    BidHold,
    InvalidLadderText,
    Mode,
    OrderFills,
    bid_hold,
    collateral_per_unit,
    fill_money,
    find_market_violations,
    order_problem,
    parse_ladder,
)
from nmrx.settlement.rules import FINAL, FillState
from nmrx.wallet.money import TICK, nmr


def test_stake_mode_collateral_is_a_rate_of_one_nmr_per_unit() -> None:
    assert collateral_per_unit(Mode.STAKE, 500) == nmr("0.05")
    assert collateral_per_unit(Mode.FILE, 500) == 0


def test_a_bid_holds_quantity_times_price_plus_collateral() -> None:
    assert bid_hold(10, nmr("0.05"), nmr("0.05")) == nmr(1)


def test_a_fill_below_the_limit_releases_the_price_improvement() -> None:
    money = fill_money(bid_limit=nmr(3), price=nmr(2), quantity=4, per_unit_collateral=nmr("0.1"))
    assert (money.notional, money.collateral, money.improvement) == (nmr(8), nmr("0.4"), nmr(4))
    assert money.total == bid_hold(4, nmr(3), nmr("0.1"))
    with pytest.raises(ValueError):
        fill_money(bid_limit=nmr(1), price=nmr(2), quantity=1, per_unit_collateral=0)


@pytest.mark.parametrize(
    ("price", "quantity", "message"),
    [
        (nmr(1), 0, "quantity must be a whole number greater than zero"),
        (nmr(1), -3, "quantity must be a whole number greater than zero"),
        (nmr(1), 1.5, "quantity must be a whole number greater than zero"),
        (0, 1, "price must be greater than zero"),
        (TICK + 1, 1, "not on the tick"),
        (nmr(10**8), 1_000_000, "too large"),
    ],
)
def test_order_problems_are_explained(price: int, quantity: object, message: str) -> None:
    assert message in (order_problem(price, quantity) or "")


def test_valid_orders_have_no_problem() -> None:
    assert order_problem(TICK, 1) is None


def _bid(**kw: object) -> BidHold:
    values: dict[str, object] = dict(
        order_id=1,
        user_id=7,
        state="open",
        price=nmr(2),
        remaining=3,
        per_unit_collateral=0,
        hold_id="order:1",
        hold_state="pending",
        hold_remaining=nmr(6),
    )
    values.update(kw)
    return BidHold(**values)  # type: ignore[arg-type]


def _check(**kw: object) -> list[str]:
    values: dict[str, object] = dict(
        bids=[_bid()],
        held_by_user={7: nmr(6)},
        orders=[OrderFills(1, "open", 3, 0, 3, 0)],
        escrow_balance=0,
        unsettled_notional=0,
        best_prices=[(1, nmr(2), nmr(3))],
    )
    values.update(kw)
    return find_market_violations(**values)  # type: ignore[arg-type]


def test_a_sound_market_has_no_violation() -> None:
    assert _check() == []


def test_each_broken_invariant_is_reported() -> None:
    assert "should hold" in _check(bids=[_bid(hold_remaining=nmr(5))])[0]
    assert "open bids need" in _check(held_by_user={7: nmr(7)})[0]
    assert (
        "still has a pending hold" in _check(bids=[_bid(state="cancelled")], held_by_user={7: 0})[0]
    )
    assert "fills total" in _check(orders=[OrderFills(1, "open", 3, 1, 2, 0)])[0]
    assert "remaining" in _check(orders=[OrderFills(1, "cancelled", 3, 0, 3, 0)])[0]
    assert "escrow" in _check(escrow_balance=5)[0]
    assert "crossed" in _check(best_prices=[(1, nmr(3), nmr(3))])[0]


def test_holds_and_escrow_outside_the_market_are_accounted_for() -> None:
    assert _check(held_by_user={7: nmr(8)}, other_held_by_user={7: nmr(2)}) == []
    assert _check(escrow_balance=9, escrow_outside_market=9) == []


def test_a_ladder_is_read_as_quantity_at_price_per_line() -> None:
    assert parse_ladder("3 @ 0.5\n\n  10@0.0125  \n") == [(3, nmr("0.5")), (10, nmr("0.0125"))]
    assert parse_ladder("") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3 0.5", "line 1 '3 0.5': write 'quantity @ price'"),
        ("3 @ 0.5\nthree @ 1", "line 2 'three @ 1'"),
        ("1 @", "line 1 '1 @'"),
        ("2 @ 1.123456789", "line 1: .* more than 8 decimals"),
        ("2 @ lots", "line 1:"),
    ],
)
def test_a_ladder_line_that_is_not_quantity_at_price_is_refused_by_line(
    text: str, message: str
) -> None:
    with pytest.raises(InvalidLadderText, match=message.replace("(", r"\(")):
        parse_ladder(text)


def test_a_fills_escrow_has_left_in_the_settlement_machines_final_states() -> None:
    assert {FillState(s) for s in FINAL_FILL_STATES} == FINAL
