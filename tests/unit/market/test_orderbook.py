"""Unit tests of the matching engine: one behaviour per test."""

from __future__ import annotations

import itertools

import pytest

from nmrx.market.orderbook import CrossedBookError, OrderBook
from nmrx.market.orders import (
    Accepted,
    Cancelled,
    CancelReason,
    Event,
    Expired,
    Filled,
    Order,
    OrderType,
    Rejected,
    RejectReason,
    RestingOrder,
    Side,
)
from nmrx.wallet.money import TICK, nmr

P100 = nmr("1")  # 1.0000 NMR
P101 = P100 + TICK
P102 = P100 + 2 * TICK
P99 = P100 - TICK
P98 = P100 - 2 * TICK

_ids = itertools.count(1)


def bid(
    price: int, qty: int, owner: int = 1, kind: OrderType = OrderType.LIMIT, oid: str = ""
) -> Order:
    return Order(oid or f"b{next(_ids)}", owner, Side.BID, price, qty, kind)


def ask(
    price: int, qty: int, owner: int = 2, kind: OrderType = OrderType.LIMIT, oid: str = ""
) -> Order:
    return Order(oid or f"a{next(_ids)}", owner, Side.ASK, price, qty, kind)


def book_with(*orders: Order) -> OrderBook:
    book = OrderBook()
    for order in orders:
        events = book.submit(order)
        assert not any(isinstance(e, Rejected | Filled | Cancelled) for e in events), events
    return book


def fills(events: list[Event]) -> list[Filled]:
    return [e for e in events if isinstance(e, Filled)]


def fill_view(events: list[Event]) -> list[tuple[str, str, int, int]]:
    return [(f.taker_order_id, f.maker_order_id, f.price, f.quantity) for f in fills(events)]


def cancels(events: list[Event]) -> list[Cancelled]:
    return [e for e in events if isinstance(e, Cancelled)]


def assert_not_crossed(book: OrderBook) -> None:
    bid_, ask_ = book.best_bid(), book.best_ask()
    assert bid_ is None or ask_ is None or bid_ < ask_


# ---------------------------------------------------------------- acceptance


def test_limit_order_that_does_not_cross_rests_with_accepted_event_and_seq() -> None:
    book = OrderBook()
    order = bid(P99, 3, oid="b-rest")
    events = book.submit(order)
    assert events == [Accepted("b-rest", 1, Side.BID, P99, 3, OrderType.LIMIT, 1)]
    assert book.get("b-rest") == RestingOrder("b-rest", 1, Side.BID, P99, 3, 3, 1)
    assert book.best_bid() == P99 and book.best_ask() is None


def test_sequence_numbers_increase_with_each_accepted_order() -> None:
    book = OrderBook()
    seqs = [
        e.seq
        for order in (bid(P98, 1), ask(P102, 1), bid(P99, 1, kind=OrderType.IOC))
        for e in book.submit(order)
        if isinstance(e, Accepted)
    ]
    assert seqs == [1, 2, 3]
    assert book.next_seq == 4


@pytest.mark.parametrize("price", [0, -TICK, TICK + 1, nmr("1.00005")])
def test_price_off_tick_or_not_positive_is_rejected(price: int) -> None:
    book = OrderBook()
    assert book.submit(bid(price, 1, oid="x")) == [Rejected("x", RejectReason.INVALID_PRICE)]
    assert len(book) == 0


@pytest.mark.parametrize("qty", [0, -1])
def test_quantity_not_positive_is_rejected(qty: int) -> None:
    book = OrderBook()
    assert book.submit(ask(P100, qty, oid="x")) == [Rejected("x", RejectReason.INVALID_QUANTITY)]


def test_duplicate_id_of_a_resting_order_is_rejected() -> None:
    book = book_with(bid(P99, 1, oid="dup"))
    assert book.submit(bid(P98, 2, oid="dup")) == [Rejected("dup", RejectReason.DUPLICATE_ORDER_ID)]
    assert book.get("dup") is not None and book.get("dup").price == P99  # type: ignore[union-attr]


# ---------------------------------------------------------------- priority


def test_price_priority_best_ask_fills_first() -> None:
    book = book_with(ask(P102, 1, oid="a102"), ask(P100, 1, oid="a100"), ask(P101, 1, oid="a101"))
    events = book.submit(bid(P102, 3, owner=1, oid="b"))
    assert [f.maker_order_id for f in fills(events)] == ["a100", "a101", "a102"]


def test_price_priority_best_bid_fills_first() -> None:
    book = book_with(bid(P98, 1, oid="b98"), bid(P100, 1, oid="b100"), bid(P99, 1, oid="b99"))
    events = book.submit(ask(P98, 3, owner=2, oid="a"))
    assert [f.maker_order_id for f in fills(events)] == ["b100", "b99", "b98"]


def test_time_priority_within_a_price_level() -> None:
    book = book_with(
        ask(P100, 1, owner=2, oid="first"),
        ask(P100, 1, owner=3, oid="second"),
        ask(P100, 1, owner=4, oid="third"),
    )
    events = book.submit(bid(P100, 2, owner=1, oid="b"))
    assert [f.maker_order_id for f in fills(events)] == ["first", "second"]
    assert [o.order_id for o in book.orders_at(Side.ASK, P100)] == ["third"]


def test_fill_executes_at_resting_order_price_for_incoming_bid() -> None:
    book = book_with(ask(P100, 1))
    (fill,) = fills(book.submit(bid(P102, 1)))
    assert fill.price == P100


def test_fill_executes_at_resting_order_price_for_incoming_ask() -> None:
    book = book_with(bid(P102, 1))
    (fill,) = fills(book.submit(ask(P98, 1)))
    assert fill.price == P102


def test_fill_event_names_buyer_seller_and_remaining_quantities() -> None:
    book = book_with(ask(P100, 5, owner=7, oid="maker"))
    events = book.submit(bid(P100, 2, owner=9, oid="taker"))
    assert fills(events) == [
        Filled("taker", "maker", Side.BID, 9, 7, P100, 2, taker_remaining=0, maker_remaining=3)
    ]
    fill = fills(events)[0]
    assert (fill.buy_order_id, fill.sell_order_id, fill.notional) == ("taker", "maker", 2 * P100)


# ---------------------------------------------------------------- partial fills


def test_partial_fill_leaves_maker_at_head_of_its_level_with_remainder() -> None:
    book = book_with(ask(P100, 5, owner=2, oid="a1"), ask(P100, 5, owner=3, oid="a2"))
    book.submit(bid(P100, 3))
    assert [(o.order_id, o.remaining) for o in book.orders_at(Side.ASK, P100)] == [
        ("a1", 2),
        ("a2", 5),
    ]
    assert fill_view(book.submit(bid(P100, 4, oid="b2"))) == [
        ("b2", "a1", P100, 2),
        ("b2", "a2", P100, 2),
    ]


def test_partially_filled_limit_order_rests_its_remainder() -> None:
    book = book_with(ask(P100, 2))
    events = book.submit(bid(P101, 5, oid="b"))
    assert fills(events)[-1].taker_remaining == 3
    assert book.get("b") == RestingOrder("b", 1, Side.BID, P101, 5, 3, 2)
    assert book.best_bid() == P101 and book.best_ask() is None


def test_incoming_order_walks_the_book_up_to_its_limit_price() -> None:
    book = book_with(ask(P100, 1), ask(P101, 1), ask(P102, 1, oid="too-dear"))
    events = book.submit(bid(P101, 5, oid="b"))
    assert [f.price for f in fills(events)] == [P100, P101]
    assert book.best_ask() == P102 and book.get("b").remaining == 3  # type: ignore[union-attr]


# ---------------------------------------------------------------- order types


def test_ioc_remainder_is_cancelled_and_does_not_rest() -> None:
    book = book_with(ask(P100, 2))
    events = book.submit(bid(P100, 5, kind=OrderType.IOC, oid="ioc"))
    assert sum(f.quantity for f in fills(events)) == 2
    assert cancels(events) == [Cancelled("ioc", 1, Side.BID, P100, 3, CancelReason.IOC)]
    assert "ioc" not in book and book.best_bid() is None


def test_ioc_that_does_not_cross_is_cancelled_whole() -> None:
    book = book_with(ask(P101, 2))
    events = book.submit(bid(P100, 5, kind=OrderType.IOC, oid="ioc"))
    assert isinstance(events[0], Accepted)
    assert events[1:] == [Cancelled("ioc", 1, Side.BID, P100, 5, CancelReason.IOC)]


def test_fok_fills_completely_across_levels() -> None:
    book = book_with(ask(P100, 2), ask(P101, 3))
    events = book.submit(bid(P101, 5, kind=OrderType.FOK, oid="fok"))
    assert sum(f.quantity for f in fills(events)) == 5 and not cancels(events)
    assert len(book) == 0


def test_fok_that_cannot_fill_completely_does_nothing() -> None:
    book = book_with(ask(P100, 2, oid="a1"), ask(P101, 2, oid="a2"), ask(P102, 9))
    events = book.submit(bid(P101, 5, kind=OrderType.FOK, oid="fok"))
    assert not fills(events)
    assert cancels(events) == [Cancelled("fok", 1, Side.BID, P101, 5, CancelReason.FOK)]
    assert book.depth(Side.ASK) == [(P100, 2), (P101, 2), (P102, 9)]


def test_fok_counts_only_liquidity_before_the_owners_own_order() -> None:
    book = book_with(ask(P100, 2, owner=2), ask(P100, 5, owner=1, oid="mine"), ask(P101, 9))
    events = book.submit(bid(P101, 3, owner=1, kind=OrderType.FOK, oid="fok"))
    assert not fills(events) and cancels(events)[0].reason is CancelReason.FOK
    assert book.depth(Side.ASK) == [(P100, 7), (P101, 9)]


def test_post_only_rests_when_it_does_not_cross() -> None:
    book = book_with(ask(P101, 1))
    events = book.submit(bid(P100, 2, kind=OrderType.POST_ONLY, oid="po"))
    assert [type(e) for e in events] == [Accepted]
    assert book.best_bid() == P100


def test_post_only_is_rejected_when_it_would_take_liquidity() -> None:
    book = book_with(ask(P100, 1))
    events = book.submit(bid(P100, 2, kind=OrderType.POST_ONLY, oid="po"))
    assert events == [Rejected("po", RejectReason.POST_ONLY_WOULD_TAKE)]
    assert "po" not in book and book.depth(Side.ASK) == [(P100, 1)]


def test_post_only_crossing_only_own_order_is_rejected() -> None:
    book = book_with(bid(P100, 1, owner=5))
    events = book.submit(ask(P100, 1, owner=5, kind=OrderType.POST_ONLY, oid="po"))
    assert events == [Rejected("po", RejectReason.POST_ONLY_WOULD_TAKE)]


def test_buy_now_is_an_ioc_bid_at_the_lowest_ask_only() -> None:
    book = book_with(ask(P100, 2), ask(P101, 5))
    events = book.buy_now("bn", owner=1, quantity=3)
    assert isinstance(events[0], Accepted) and events[0].order_type is OrderType.IOC
    assert [(f.price, f.quantity) for f in fills(events)] == [(P100, 2)]
    assert cancels(events)[0].remaining == 1 and cancels(events)[0].reason is CancelReason.IOC
    assert book.best_ask() == P101


def test_sell_now_is_an_ioc_ask_at_the_highest_bid() -> None:
    book = book_with(bid(P100, 2), bid(P99, 5))
    events = book.sell_now("sn", owner=2, quantity=2)
    assert [(f.price, f.quantity) for f in fills(events)] == [(P100, 2)]
    assert not cancels(events) and book.best_bid() == P99


def test_buy_now_on_empty_book_is_rejected_for_no_liquidity() -> None:
    assert OrderBook().buy_now("bn", owner=1, quantity=1) == [
        Rejected("bn", RejectReason.NO_LIQUIDITY)
    ]


# ---------------------------------------------------------------- self-trade prevention


def test_no_self_trade_incoming_remainder_is_cancelled_at_own_order() -> None:
    book = book_with(ask(P100, 2, owner=2, oid="other"), ask(P100, 5, owner=1, oid="mine"))
    events = book.submit(bid(P101, 4, owner=1, oid="b"))
    assert fill_view(events) == [("b", "other", P100, 2)]
    assert cancels(events) == [Cancelled("b", 1, Side.BID, P101, 2, CancelReason.SELF_TRADE)]
    assert book.get("mine").remaining == 5  # type: ignore[union-attr]
    assert "b" not in book


def test_no_self_trade_when_own_order_is_best_nothing_trades() -> None:
    book = book_with(bid(P100, 3, owner=4, oid="mine"), bid(P99, 3, owner=5))
    events = book.submit(ask(P99, 2, owner=4, oid="a"))
    assert not fills(events)
    assert cancels(events)[0].reason is CancelReason.SELF_TRADE
    assert book.depth(Side.BID) == [(P100, 3), (P99, 3)]


def test_no_self_trade_keeps_the_book_uncrossed() -> None:
    book = book_with(ask(P100, 1, owner=1))
    book.submit(bid(P102, 1, owner=1))
    assert book.best_bid() is None and book.best_ask() == P100


# ---------------------------------------------------------------- cancel / expire


def test_cancel_removes_resting_order_and_reports_remaining() -> None:
    book = book_with(bid(P100, 4, owner=3, oid="c"))
    book.submit(ask(P100, 1))
    assert book.cancel("c") == [Cancelled("c", 3, Side.BID, P100, 3, CancelReason.USER)]
    assert "c" not in book and book.best_bid() is None and book.depth(Side.BID) == []


def test_cancel_of_unknown_or_finished_order_returns_no_events() -> None:
    book = book_with(bid(P100, 1, oid="c"))
    assert book.cancel("nope") == []
    assert book.cancel("c") and book.cancel("c") == []


def test_cancelled_order_in_the_middle_of_a_level_is_skipped_by_matching() -> None:
    book = book_with(
        ask(P100, 1, owner=2, oid="a1"),
        ask(P100, 1, owner=3, oid="gone"),
        ask(P100, 1, owner=4, oid="a3"),
    )
    book.cancel("gone")
    assert book.depth(Side.ASK) == [(P100, 2)]
    assert [f.maker_order_id for f in fills(book.submit(bid(P100, 3)))] == ["a1", "a3"]


def test_many_cancels_behind_a_resting_head_keep_time_priority() -> None:
    book = book_with(*(ask(P100, 1, owner=100 + i, oid=f"q{i}") for i in range(60)))
    kept = [f"q{i}" for i in range(60) if i % 7 in (0, 3)]
    for i in range(60):
        if f"q{i}" not in kept:
            book.cancel(f"q{i}")
    assert [o.order_id for o in book.orders_at(Side.ASK, P100)] == kept
    events = book.submit(bid(P100, 100, owner=1))
    assert [f.maker_order_id for f in fills(events)] == kept


def test_order_sides_and_types_given_as_text_become_enums() -> None:
    order = Order("t", 1, "bid", P100, 1, "ioc")  # type: ignore[arg-type]
    assert order.side is Side.BID and order.order_type is OrderType.IOC
    with pytest.raises(ValueError):
        Order("t", 1, "buy", P100, 1)  # type: ignore[arg-type]


def test_cancel_of_best_level_moves_best_price() -> None:
    book = book_with(ask(P100, 1, oid="best"), ask(P102, 1))
    book.cancel("best")
    assert book.best_ask() == P102


def test_cancel_owner_cancels_only_that_owners_orders_on_the_side() -> None:
    book = book_with(ask(P101, 1, owner=2, oid="a"), ask(P102, 1, owner=3), bid(P99, 1, owner=2))
    events = book.cancel_owner(2, side=Side.ASK)
    assert [e.order_id for e in cancels(events)] == ["a"]
    assert [o.side for o in book.open_orders(2)] == [Side.BID]


def test_expire_all_expires_every_resting_order_oldest_first() -> None:
    book = book_with(bid(P99, 2, owner=1, oid="b1"), ask(P101, 3, owner=2, oid="a1"))
    events = book.expire_all()
    assert events == [
        Expired("b1", 1, Side.BID, P99, 2),
        Expired("a1", 2, Side.ASK, P101, 3),
    ]
    assert all(isinstance(e, Cancelled) and e.reason is CancelReason.EXPIRED for e in events)
    assert len(book) == 0 and book.best_bid() is None and book.best_ask() is None
    assert book.open_orders(1) == []


# ---------------------------------------------------------------- queries


def test_depth_aggregates_quantity_per_price_level_best_first() -> None:
    book = book_with(
        bid(P98, 1), bid(P100, 2), bid(P100, 3), bid(P99, 4), ask(P101, 5), ask(P102, 6)
    )
    assert book.depth(Side.BID) == [(P100, 5), (P99, 4), (P98, 1)]
    assert book.depth(Side.BID, limit=2) == [(P100, 5), (P99, 4)]
    assert book.l2(limit=1) == ([(P100, 5)], [(P101, 5)])


def test_depth_excludes_filled_and_cancelled_quantity() -> None:
    book = book_with(ask(P100, 5, oid="x"), ask(P100, 5, owner=3))
    book.submit(bid(P100, 2))
    book.cancel("x")
    assert book.depth(Side.ASK) == [(P100, 5)]


def test_open_orders_lists_owners_resting_orders_oldest_first() -> None:
    book = book_with(bid(P98, 1, owner=8, oid="o1"), ask(P102, 1, owner=8, oid="o2"), bid(P99, 1))
    assert [o.order_id for o in book.open_orders(8)] == ["o1", "o2"]
    assert book.open_orders(12345) == []


def test_spread_is_best_ask_minus_best_bid() -> None:
    assert book_with(bid(P99, 1), ask(P101, 1)).spread() == 2 * TICK
    assert OrderBook().spread() is None


# ---------------------------------------------------------------- restore


def test_restore_keeps_stored_time_priority_and_continues_seq() -> None:
    stored = [
        RestingOrder("late", 3, Side.ASK, P100, 1, 1, seq=9),
        RestingOrder("early", 2, Side.ASK, P100, 4, 1, seq=4),
    ]
    book = OrderBook()
    book.restore(stored)
    assert [o.order_id for o in book.orders_at(Side.ASK, P100)] == ["early", "late"]
    events = book.submit(bid(P100, 1, oid="b"))
    assert isinstance(events[0], Accepted) and events[0].seq == 10
    assert fills(events)[0].maker_order_id == "early"


def test_restore_refuses_a_crossed_book() -> None:
    book = OrderBook()
    with pytest.raises(CrossedBookError):
        book.restore(
            [
                RestingOrder("b", 1, Side.BID, P101, 1, 1, 1),
                RestingOrder("a", 2, Side.ASK, P100, 1, 1, 2),
            ]
        )
    assert len(book) == 0


def test_restore_round_trips_resting_orders() -> None:
    book = book_with(bid(P99, 3), bid(P99, 2, owner=4), ask(P101, 7))
    book.submit(ask(P99, 4))
    copy = OrderBook()
    copy.restore(book.resting_orders(), next_seq=book.next_seq)
    assert copy.resting_orders() == book.resting_orders()
    assert copy.l2() == book.l2() and copy.next_seq == book.next_seq == 5


def test_restore_refuses_next_seq_not_above_restored_orders() -> None:
    with pytest.raises(ValueError, match="next_seq"):
        OrderBook().restore([RestingOrder("a", 2, Side.ASK, P100, 1, 1, 7)], next_seq=7)


# ---------------------------------------------------------------- invariants


def test_book_is_never_crossed_after_any_operation() -> None:
    book = OrderBook()
    prices = [P98, P99, P100, P101, P102]
    kinds = list(OrderType)
    for i in range(400):
        side_order = bid if i % 2 else ask
        order = side_order(prices[(i * 7) % 5], 1 + i % 4, owner=i % 3, kind=kinds[(i // 2) % 4])
        book.submit(order)
        assert_not_crossed(book)
        if i % 5 == 0:
            book.cancel(f"b{i}")
            assert_not_crossed(book)
