"""Books over time: opening for the coming rounds, closing with expiry, standing orders."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from nmrx.market import data as market_data
from nmrx.market import instruments
from nmrx.market import service as orders
from nmrx.market import standing_orders as listings
from nmrx.market.tables import Instrument
from nmrx.platform.bootstrap import Container
from nmrx.platform.errors import Conflict, Forbidden
from nmrx.sellers import collateral
from nmrx.wallet import service as wallet
from nmrx.wallet.money import nmr
from tests.support.books import NOW, instrument_id, make_model, make_seller, open_market
from tests.support.builders import make_user

NEXT_DAY = NOW + timedelta(days=1)  # Thursday morning: Wednesday's book has closed


def _rounds(c: Container, model_id: int, mode: str = "file", state: str = "open") -> list[int]:
    with c.db.transaction() as s:
        return list(
            s.scalars(
                select(Instrument.round_number)
                .where(
                    Instrument.model_id == model_id,
                    Instrument.mode == mode,
                    Instrument.state == state,
                )
                .order_by(Instrument.round_number)
            )
        )


def _book(c: Container, instrument: int) -> tuple[list, list]:
    view = market_data.book(c, instrument_id=instrument)
    return view.bids, view.asks


def test_books_open_for_the_current_round_and_the_next_four_in_both_modes(container) -> None:  # type: ignore[no-untyped-def]
    seller = make_seller(container)
    unowned = make_model(container, None)
    report = open_market(container)
    assert _rounds(container, seller.model_id) == list(range(1131, 1136))
    assert _rounds(container, seller.model_id, "stake") == list(range(1131, 1136))
    assert _rounds(container, unowned) == []
    assert len(report.opened) == 10
    assert instruments.open_books(container, now=NOW).opened == []  # idempotent
    with container.db.transaction() as s:
        first = s.get(Instrument, instrument_id(container, seller.model_id))
        assert first.trading_closes_at == first.round_close_at - timedelta(minutes=20)


def test_closing_a_book_expires_its_orders_and_voids_their_holds(container) -> None:  # type: ignore[no-untyped-def]
    seller = make_seller(container)
    open_market(container)
    today = instrument_id(container, seller.model_id)
    buyer = make_user(container, funds=nmr(10))
    bid = orders.place_order(
        container,
        user_id=buyer.id,
        instrument_id=today,
        side="bid",
        quantity=2,
        price=nmr(3),
        now=NOW,
    ).order
    ask = orders.place_order(
        container,
        user_id=seller.user.id,
        instrument_id=today,
        side="ask",
        quantity=1,
        price=nmr(4),
        now=NOW,
    ).order
    assert wallet.balances(container.db, user_id=buyer.id).held == nmr(6)
    cutoff = NOW.replace(hour=13, minute=40)
    assert instruments.close_books(container, now=cutoff - timedelta(seconds=1)).closed == []
    report = instruments.close_books(container, now=cutoff)
    assert (
        report.closed == [today, instrument_id(container, seller.model_id, "stake", 0) - 0]
        or today in report.closed
    )
    for order, user in ((bid, buyer.id), (ask, seller.user.id)):
        after = orders.get_order(container, user_id=user, order_id=order.id)
        assert (after.state, after.cancel_reason, after.remaining) == ("expired", "expired", 0)
    assert wallet.balances(container.db, user_id=buyer.id) == wallet.Balances(nmr(10), 0, 0)
    assert _book(container, today) == ([], [])
    with pytest.raises(Conflict, match="closed"):
        orders.place_order(
            container,
            user_id=buyer.id,
            instrument_id=today,
            side="bid",
            quantity=1,
            price=nmr(1),
            now=NOW,
        )
    assert instruments.close_books(container, now=cutoff).closed == []  # idempotent


def test_a_ladder_goes_into_the_open_books_and_each_new_one(container) -> None:  # type: ignore[no-untyped-def]
    seller = make_seller(container)
    open_market(container)
    ladder = listings.set_ladder(
        container,
        user_id=seller.user.id,
        model_id=seller.model_id,
        mode="stake",
        levels=[(100, nmr("0.05")), (400, nmr("0.10"))],
        now=NOW,
    )
    assert ladder.open_orders == 10  # 2 levels × 5 open books
    for index in range(5):
        book = instrument_id(container, seller.model_id, "stake", index)
        assert _book(container, book) == ([], [(nmr("0.05"), 100), (nmr("0.10"), 400)])
    instruments.close_books(container, now=NEXT_DAY)
    report = instruments.open_books(container, now=NEXT_DAY)
    assert report.placed == 2 and report.refused == []
    newest = instrument_id(container, seller.model_id, "stake", 4)
    assert _book(container, newest)[1] == [(nmr("0.05"), 100), (nmr("0.10"), 400)]
    assert instruments.open_books(container, now=NEXT_DAY).placed == 0  # once per book


def test_a_ladder_edit_applies_to_the_next_books_or_also_the_open_ones(container) -> None:  # type: ignore[no-untyped-def]
    seller = make_seller(container)
    open_market(container)
    ladder = listings.set_ladder(
        container,
        user_id=seller.user.id,
        model_id=seller.model_id,
        mode="file",
        levels=[(1, nmr(5))],
        now=NOW,
    )
    edited = listings.set_ladder(
        container,
        user_id=seller.user.id,
        model_id=seller.model_id,
        mode="file",
        levels=[(2, nmr(7))],
        now=NOW,
    )
    assert edited.id == ladder.id and edited.version == 2
    first = instrument_id(container, seller.model_id)
    assert _book(container, first)[1] == [(nmr(5), 1)]  # open books keep the old ladder
    instruments.close_books(container, now=NEXT_DAY)
    instruments.open_books(container, now=NEXT_DAY)
    assert _book(container, instrument_id(container, seller.model_id, index=4))[1] == [(nmr(7), 2)]
    listings.set_ladder(
        container,
        user_id=seller.user.id,
        model_id=seller.model_id,
        mode="file",
        levels=[(3, nmr(6))],
        apply_to_open=True,
        now=NEXT_DAY,
    )
    for index in range(5):
        assert _book(container, instrument_id(container, seller.model_id, index=index))[1] == [
            (nmr(6), 3)
        ]


def test_pausing_a_ladder_pulls_its_asks_and_resuming_puts_them_back(container) -> None:  # type: ignore[no-untyped-def]
    seller = make_seller(container)
    open_market(container)
    ladder = listings.set_ladder(
        container,
        user_id=seller.user.id,
        model_id=seller.model_id,
        mode="file",
        levels=[(1, nmr(5))],
        now=NOW,
    )
    paused = listings.pause(container, user_id=seller.user.id, standing_id=ladder.id, now=NOW)
    assert (paused.state, paused.open_orders) == ("paused", 0)
    instruments.close_books(container, now=NEXT_DAY)
    assert instruments.open_books(container, now=NEXT_DAY).placed == 0
    resumed = listings.resume(
        container, user_id=seller.user.id, standing_id=ladder.id, now=NEXT_DAY
    )
    assert (resumed.state, resumed.open_orders) == ("active", 5)
    with pytest.raises(Conflict, match="not paused"):
        listings.resume(container, user_id=seller.user.id, standing_id=ladder.id, now=NEXT_DAY)


def test_only_the_owner_with_collateral_may_list(container) -> None:  # type: ignore[no-untyped-def]
    seller = make_seller(container, locked=0)
    stranger = make_user(container)
    open_market(container)
    with pytest.raises(Forbidden, match="only the verified owner"):
        listings.set_ladder(
            container,
            user_id=stranger.id,
            model_id=seller.model_id,
            mode="file",
            levels=[(1, nmr(1))],
            now=NOW,
        )
    with pytest.raises(Conflict, match="lock more collateral"):
        listings.set_ladder(
            container,
            user_id=seller.user.id,
            model_id=seller.model_id,
            mode="file",
            levels=[(1, nmr(1))],
            now=NOW,
        )
    collateral.lock(container, user_id=seller.user.id, amount=nmr(10))
    with pytest.raises(Conflict, match="lock more collateral"):  # the minimum, not the asks
        listings.set_ladder(
            container,
            user_id=seller.user.id,
            model_id=seller.model_id,
            mode="file",
            levels=[(1, nmr(1))],
            now=NOW,
        )
    collateral.lock(container, user_id=seller.user.id, amount=nmr(1))  # 20 % of 1 NMR × 5 books
    listings.set_ladder(
        container,
        user_id=seller.user.id,
        model_id=seller.model_id,
        mode="file",
        levels=[(1, nmr(1))],
        now=NOW,
    )


def test_a_standing_bid_for_two_rounds_bids_in_two_books_then_finishes(container) -> None:  # type: ignore[no-untyped-def]
    seller = make_seller(container)
    open_market(container)
    buyer = make_user(container, funds=nmr(10))
    standing = listings.create_standing_bid(
        container,
        user_id=buyer.id,
        model_id=seller.model_id,
        mode="file",
        quantity=1,
        price=nmr(2),
        rounds=2,
        now=NOW,
    )
    assert (standing.state, standing.rounds_placed, standing.open_orders) == ("finished", 2, 2)
    assert [
        _book(container, instrument_id(container, seller.model_id, index=i))[0] for i in range(3)
    ] == [
        [(nmr(2), 1)],
        [(nmr(2), 1)],
        [],
    ]
    assert wallet.balances(container.db, user_id=buyer.id).held == nmr(4)


def test_a_standing_bid_until_cancelled_appears_in_each_new_book(container) -> None:  # type: ignore[no-untyped-def]
    seller = make_seller(container)
    open_market(container)
    buyer = make_user(container, funds=nmr(4))
    standing = listings.create_standing_bid(
        container,
        user_id=buyer.id,
        model_id=seller.model_id,
        mode="file",
        quantity=1,
        price=nmr(1),
        now=NOW,
    )
    assert standing.open_orders == 4  # funds for four books; the fifth is retried later
    instruments.close_books(container, now=NEXT_DAY)  # one expires: its hold returns
    report = instruments.open_books(container, now=NEXT_DAY)
    assert report.placed == 1  # in the book left without it (rounds in order)
    assert report.refused == [
        f"standing order {standing.id} in instrument {report.opened[0]}: insufficient funds: "
        "this bid holds 1.00 NMR (1 × (1.00 NMR)) and you have 0.00 NMR available"
    ]
    assert standing.id in {
        o.standing_order_id for o in orders.list_orders(container, user_id=buyer.id, state="open")
    }
    assert len(orders.list_orders(container, user_id=buyer.id, state="open")) == 4
    wallet.faucet(container.db, user_id=buyer.id, amount=nmr(5), max_amount=nmr(5))
    instruments.open_books(container, now=NEXT_DAY)
    assert len(orders.list_orders(container, user_id=buyer.id, state="open")) == 5
    cancelled = listings.cancel(container, user_id=buyer.id, standing_id=standing.id, now=NEXT_DAY)
    assert (cancelled.state, cancelled.open_orders) == ("cancelled", 0)
    assert wallet.balances(container.db, user_id=buyer.id).held == 0


def test_a_stake_mode_standing_bid_needs_a_valid_slot(container) -> None:  # type: ignore[no-untyped-def]
    seller = make_seller(container)
    open_market(container)
    buyer = make_user(container, funds=nmr(10))
    with pytest.raises(Exception, match="must name a slot"):
        listings.create_standing_bid(
            container,
            user_id=buyer.id,
            model_id=seller.model_id,
            mode="stake",
            quantity=10,
            price=nmr("0.01"),
            now=NOW,
        )
    slot = make_model(container, buyer)
    standing = listings.create_standing_bid(
        container,
        user_id=buyer.id,
        model_id=seller.model_id,
        mode="stake",
        quantity=10,
        price=nmr("0.01"),
        rounds=1,
        slot_model_id=slot,
        now=NOW,
    )
    assert standing.open_orders == 1
    assert wallet.balances(container.db, user_id=buyer.id).held == 10 * (nmr("0.01") + nmr("0.05"))
