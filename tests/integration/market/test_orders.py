"""Placing and cancelling orders through the service layer: rules, refusals, money."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from nmrx.market import data as market_data
from nmrx.market import service as orders
from nmrx.market.tables import Fill, MarketOrder
from nmrx.platform.bootstrap import Container, bootstrap
from nmrx.platform.errors import Conflict, Forbidden, InvalidInput, ServiceError
from nmrx.platform.events import MessageBus, ModelOwnershipMoved
from nmrx.platform.numerai import ModelRef
from nmrx.sellers import collateral, ownership
from nmrx.sellers.tables import NumeraiModel
from nmrx.wallet import service as wallet
from nmrx.wallet.money import nmr
from nmrx.wallet.tables import LedgerHold
from tests.conftest import make_settings
from tests.support.books import NOW, instrument_id, make_model, make_seller, open_market
from tests.support.builders import make_user


@pytest.fixture
def book(container: Container):  # type: ignore[no-untyped-def]
    seller = make_seller(container)
    open_market(container)
    return (
        seller,
        instrument_id(container, seller.model_id),
        instrument_id(container, seller.model_id, "stake"),
    )


def _ask(c: Container, seller, instrument: int, qty: int, price: int, **kw):  # type: ignore[no-untyped-def]
    return orders.place_order(
        c,
        user_id=seller.user.id,
        instrument_id=instrument,
        side="ask",
        quantity=qty,
        price=price,
        now=NOW,
        **kw,
    )


def _bid(c: Container, user, instrument: int, qty: int, price: int, **kw):  # type: ignore[no-untyped-def]
    return orders.place_order(
        c,
        user_id=user.id,
        instrument_id=instrument,
        side="bid",
        quantity=qty,
        price=price,
        now=NOW,
        **kw,
    )


def _count(c: Container, table) -> int:  # type: ignore[no-untyped-def]
    with c.db.transaction() as s:
        return s.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_crossing_bid_fills_at_the_ask_and_releases_the_price_improvement(
    container, book
) -> None:  # type: ignore[no-untyped-def]
    seller, file_book, _ = book
    buyer = make_user(container, funds=nmr(50))
    _ask(container, seller, file_book, 2, nmr(3))
    placed = _bid(container, buyer, file_book, 3, nmr(4))
    order = placed.order
    assert (order.state, order.filled, order.remaining) == ("open", 2, 1)
    [fill] = order.fills
    assert (fill.price, fill.quantity, fill.notional, fill.state) == (
        nmr(3),
        2,
        nmr(6),
        "pending_delivery",
    )
    assert fill.fee_rate_bp == container.settings.platform_fee_rate_bp
    # 12 held at placement; 6 to escrow, 2 of improvement back; 4 still held for 1 @ 4
    assert wallet.balances(container.db, user_id=buyer.id) == wallet.Balances(nmr(40), nmr(4), 0)
    view = market_data.book(container, instrument_id=file_book)
    assert (view.bids, view.asks) == ([(nmr(4), 1)], [])


def test_a_resting_bid_filled_by_a_later_ask_trades_at_the_bid_price(container, book) -> None:  # type: ignore[no-untyped-def]
    seller, file_book, _ = book
    buyer = make_user(container, funds=nmr(10))
    _bid(container, buyer, file_book, 1, nmr(5))
    sold = _ask(container, seller, file_book, 1, nmr(2)).order
    assert sold.state == "filled" and sold.fills[0].price == nmr(5)
    assert wallet.balances(container.db, user_id=buyer.id) == wallet.Balances(nmr(5), 0, 0)


def test_resubmitting_a_client_order_id_returns_the_original_order(container, book) -> None:  # type: ignore[no-untyped-def]
    _, file_book, _ = book
    buyer = make_user(container, funds=nmr(10))
    first = _bid(container, buyer, file_book, 2, nmr(1), client_order_id="my-bid-1")
    again = _bid(container, buyer, file_book, 2, nmr(1), client_order_id="my-bid-1")
    different = _bid(container, buyer, file_book, 5, nmr(1), client_order_id="my-bid-1")
    assert not first.duplicate and again.duplicate and different.duplicate
    assert first.order.id == again.order.id == different.order.id
    assert wallet.balances(container.db, user_id=buyer.id).held == nmr(2)
    assert _count(container, MarketOrder) == 1


def test_a_stake_mode_bid_holds_collateral_and_a_fill_locks_it(container, book) -> None:  # type: ignore[no-untyped-def]
    seller, _, stake_book = book
    buyer = make_user(container, funds=nmr(100))
    slot = make_model(container, buyer)
    _ask(container, seller, stake_book, 100, nmr("0.05"))
    placed = _bid(container, buyer, stake_book, 120, nmr("0.06"), slot_model_id=slot)
    [fill] = placed.order.fills
    assert (fill.quantity, fill.price, fill.buyer_collateral, fill.slot_model_id) == (
        100,
        nmr("0.05"),
        nmr(5),
        slot,
    )
    # held: 20 × (0.06 + 0.05) still open; collateral: 100 × 0.05 locked
    assert wallet.balances(container.db, user_id=buyer.id) == wallet.Balances(
        nmr(100) - nmr(5) - nmr(5) - nmr("2.2"), nmr("2.2"), nmr(5)
    )
    status = collateral.status(container, user_id=buyer.id)
    assert (status.stake_bonds, status.max_unlock) == (nmr(5), 0)


def test_cancelling_voids_the_remaining_hold_and_is_idempotent(container, book) -> None:  # type: ignore[no-untyped-def]
    _, file_book, _ = book
    buyer = make_user(container, funds=nmr(10))
    order = _bid(container, buyer, file_book, 3, nmr(2)).order
    cancelled = orders.cancel_order(container, user_id=buyer.id, order_id=order.id, now=NOW)
    again = orders.cancel_order(container, user_id=buyer.id, order_id=order.id, now=NOW)
    assert cancelled.state == again.state == "cancelled" and cancelled.cancel_reason == "user"
    assert wallet.balances(container.db, user_id=buyer.id) == wallet.Balances(nmr(10), 0, 0)
    with pytest.raises(ServiceError, match="no order"):
        orders.cancel_order(container, user_id=buyer.id + 1000, order_id=order.id, now=NOW)


def test_ioc_and_fok_leave_nothing_resting_or_held(container, book) -> None:  # type: ignore[no-untyped-def]
    seller, file_book, _ = book
    buyer = make_user(container, funds=nmr(20))
    _ask(container, seller, file_book, 1, nmr(2))
    fok = _bid(container, buyer, file_book, 2, nmr(2), order_type="fok").order
    assert (fok.state, fok.cancel_reason, fok.filled) == ("cancelled", "fok", 0)
    ioc = _bid(container, buyer, file_book, 2, nmr(2), order_type="ioc").order
    assert (ioc.state, ioc.cancel_reason, ioc.filled) == ("cancelled", "ioc", 1)
    assert wallet.balances(container.db, user_id=buyer.id) == wallet.Balances(nmr(18), 0, 0)


def test_buy_now_and_sell_now_trade_at_the_best_price(container, book) -> None:  # type: ignore[no-untyped-def]
    seller, file_book, _ = book
    buyer = make_user(container, funds=nmr(20))
    _ask(container, seller, file_book, 1, nmr(3))
    _ask(container, seller, file_book, 1, nmr(4))
    bought = orders.buy_now(
        container, user_id=buyer.id, instrument_id=file_book, quantity=2, now=NOW
    )
    assert bought.order.filled == 1 and bought.order.fills[0].price == nmr(3)
    _bid(container, buyer, file_book, 1, nmr(2))
    sold = orders.sell_now(
        container, user_id=seller.user.id, instrument_id=file_book, quantity=1, now=NOW
    )
    assert sold.order.state == "filled" and sold.order.fills[0].price == nmr(2)


def test_buy_now_at_a_confirmed_price_never_pays_more_than_confirmed(container, book) -> None:  # type: ignore[no-untyped-def]
    seller, file_book, _ = book
    buyer = make_user(container, funds=nmr(20))
    _ask(container, seller, file_book, 1, nmr(4))
    # the page confirmed 3 NMR, but the lowest ask is now 4: nothing trades, nothing is held
    missed = orders.at_market(
        container,
        user_id=buyer.id,
        instrument_id=file_book,
        side="bid",
        quantity=1,
        price=nmr(3),
        client_order_id="web-confirmed-1",
        now=NOW,
    )
    assert (missed.order.state, missed.order.cancel_reason, missed.order.filled) == (
        "cancelled",
        "ioc",
        0,
    )
    assert wallet.balances(container.db, user_id=buyer.id).available == nmr(20)
    _ask(container, seller, file_book, 1, nmr(2))
    # the book moved down meanwhile: the confirmed price is a limit, the fill is at the ask
    bought = orders.at_market(
        container,
        user_id=buyer.id,
        instrument_id=file_book,
        side="bid",
        quantity=2,
        price=nmr(3),
        client_order_id="web-confirmed-2",
        now=NOW,
    )
    assert [f.price for f in bought.order.fills] == [nmr(2)]
    assert (bought.order.state, bought.order.filled) == ("cancelled", 1)
    again = orders.at_market(
        container,
        user_id=buyer.id,
        instrument_id=file_book,
        side="bid",
        quantity=2,
        price=nmr(3),
        client_order_id="web-confirmed-2",
        now=NOW,
    )
    assert again.duplicate and again.order.id == bought.order.id


def test_the_book_survives_a_restart(container, book, database_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    seller, file_book, _ = book
    buyer = make_user(container, funds=nmr(20))
    _ask(container, seller, file_book, 2, nmr(3))
    _ask(container, seller, file_book, 2, nmr(3))
    restarted = bootstrap(make_settings(database_url, tmp_path))
    try:
        placed = _bid(restarted, buyer, file_book, 3, nmr(3))
        [first, second] = placed.order.fills
        assert (first.quantity, second.quantity) == (2, 1)  # time priority kept
        assert first.sell_order_id < second.sell_order_id
    finally:
        restarted.close()
    # the first process's cached book is stale; it must notice and rebuild
    again = _bid(container, buyer, file_book, 1, nmr(3)).order
    assert again.filled == 1
    assert market_data.book(container, instrument_id=file_book).asks == []


def test_unsettled_sales_raise_the_sellers_collateral_requirement(container, book) -> None:  # type: ignore[no-untyped-def]
    seller, file_book, _ = book
    buyer = make_user(container, funds=nmr(50))
    before = collateral.status(container, user_id=seller.user.id).requirement
    _ask(container, seller, file_book, 1, nmr(10))
    _bid(container, buyer, file_book, 1, nmr(10))
    status = collateral.status(container, user_id=seller.user.id)
    assert status.unsettled_notional == nmr(10)
    assert (
        status.requirement
        == before + nmr(10) * container.settings.seller_collateral_rate_bp // 10_000
    )


def _move_model(c: Container, model_id: int, to_user_id: int) -> None:
    with c.db.transaction() as s:
        m = s.get(NumeraiModel, model_id)
        ref = ModelRef(m.numerai_id, m.name, m.tournament)  # type: ignore[union-attr]
        ownership.bind_model(c, s, user_id=to_user_id, ref=ref, via="bio", api_key_id=None)


def test_a_moved_model_cancels_the_previous_owners_asks(container, book) -> None:  # type: ignore[no-untyped-def]
    seller, file_book, _ = book
    ask = _ask(container, seller, file_book, 1, nmr(3)).order
    newcomer = make_user(container)
    _move_model(container, seller.model_id, newcomer.id)
    assert orders.get_order(container, user_id=seller.user.id, order_id=ask.id).state == "cancelled"
    assert market_data.book(container, instrument_id=file_book).asks == []


def test_the_ownership_event_is_what_cancels_the_old_owners_asks(container, book) -> None:  # type: ignore[no-untyped-def]
    """The move publishes ModelOwnershipMoved; its handler, registered by bootstrap, cancels."""
    seller, file_book, _ = book
    ask = _ask(container, seller, file_book, 1, nmr(3)).order
    newcomer = make_user(container)
    wired, container.bus = container.bus, MessageBus()  # nobody listens: the move alone
    _move_model(container, seller.model_id, newcomer.id)
    assert orders.get_order(container, user_id=seller.user.id, order_id=ask.id).state == "open"

    with container.db.transaction() as s:  # the event, through bootstrap's handlers
        moved = ModelOwnershipMoved(seller.model_id, seller.user.id, newcomer.id, NOW)
        wired.publish(moved, session=s)
    assert orders.get_order(container, user_id=seller.user.id, order_id=ask.id).state == "cancelled"
    assert market_data.book(container, instrument_id=file_book).asks == []


# ------------------------------------------------------------------ refusals


def _refusals(c: Container, seller, file_book: int, stake_book: int):  # type: ignore[no-untyped-def]
    """(description, call, error type, message) for every refusal the issue lists and more."""
    buyer = make_user(c, funds=nmr(5))
    poor = make_user(c, funds=nmr(1))
    other_seller = make_seller(c, locked=0)
    signals_slot = make_model(c, buyer, tournament="signals")
    keyless_slot = make_model(c, buyer, scopes=None)
    readonly_slot = make_model(c, buyer, scopes="read_user_info")
    strangers_slot = make_model(c, other_seller.user)
    _ask(c, seller, file_book, 1, nmr(2))
    after_close = NOW.replace(hour=13, minute=40)

    def bid(qty: int = 1, price: int = nmr(1), instrument: int = file_book, user=buyer, **kw):  # type: ignore[no-untyped-def]
        return lambda: _bid(c, user, instrument, qty, price, **kw)

    return [
        ("off tick", bid(price=nmr(1) + 1), InvalidInput, "not on the tick"),
        ("zero quantity", bid(qty=0), InvalidInput, "greater than zero"),
        ("zero price", bid(price=0), InvalidInput, "price must be greater than zero"),
        (
            "ask by a non-owner",
            lambda: _ask(c, other_seller, file_book, 1, nmr(5)),
            Forbidden,
            "only the verified owner",
        ),
        ("bid without funds", bid(user=poor, qty=3), Conflict, "insufficient funds"),
        ("owner bids", lambda: _bid(c, seller.user, file_book, 1, nmr(1)), Forbidden, "you own"),
        ("stake bid without slot", bid(instrument=stake_book), InvalidInput, "must name a slot"),
        (
            "slot of another tournament",
            bid(instrument=stake_book, slot_model_id=signals_slot),
            InvalidInput,
            "signals model",
        ),
        (
            "slot without key",
            bid(instrument=stake_book, slot_model_id=keyless_slot),
            InvalidInput,
            "no Numerai API key",
        ),
        (
            "slot key cannot upload",
            bid(instrument=stake_book, slot_model_id=readonly_slot),
            InvalidInput,
            "upload_submission",
        ),
        (
            "someone else's slot",
            bid(instrument=stake_book, slot_model_id=strangers_slot),
            InvalidInput,
            "not one of your Numerai models",
        ),
        ("post-only crossing", bid(price=nmr(2), order_type="post_only"), Conflict, "post-only"),
        (
            "trading closed",
            lambda: orders.place_order(
                c,
                user_id=buyer.id,
                instrument_id=file_book,
                side="bid",
                quantity=1,
                price=nmr(1),
                now=after_close,
            ),
            Conflict,
            "closed at",
        ),
        (
            "sell now into an empty bid side",
            lambda: orders.sell_now(
                c, user_id=seller.user.id, instrument_id=file_book, quantity=1, now=NOW
            ),
            Conflict,
            "no bids",
        ),
        ("unknown order type", bid(order_type="stop"), InvalidInput, "order_type must be one of"),
        (
            "bad client order id",
            bid(client_order_id="no spaces please"),
            InvalidInput,
            "client_order_id",
        ),
        ("unknown instrument", bid(instrument=10**6), ServiceError, "no instrument"),
    ]


def test_every_refused_order_says_why_and_writes_and_holds_nothing(container, book) -> None:  # type: ignore[no-untyped-def]
    seller, file_book, stake_book = book
    cases = _refusals(container, seller, file_book, stake_book)
    with container.db.transaction() as s:
        orders_before = s.execute(select(func.count()).select_from(MarketOrder)).scalar_one()
        holds_before = s.execute(select(func.count()).select_from(LedgerHold)).scalar_one()
    balances_before = {u: wallet.balances(container.db, user_id=u) for u in range(1, 12)}
    for name, call, error, message in cases:
        with pytest.raises(error) as caught:
            call()
        assert message in caught.value.message, name
    assert _count(container, MarketOrder) == orders_before
    assert _count(container, LedgerHold) == holds_before
    assert _count(container, Fill) == 0
    assert {u: wallet.balances(container.db, user_id=u) for u in range(1, 12)} == balances_before


def test_asks_need_the_collateral_requirement_met(container) -> None:  # type: ignore[no-untyped-def]
    seller = make_seller(container, locked=nmr(5))
    open_market(container)
    with pytest.raises(Conflict, match="lock more collateral"):
        _ask(container, seller, instrument_id(container, seller.model_id), 1, nmr(1))
    collateral.lock(container, user_id=seller.user.id, amount=nmr(5))
    with pytest.raises(Conflict, match=r"must keep 10\.20 NMR locked"):  # + 20 % of the ask
        _ask(container, seller, instrument_id(container, seller.model_id), 1, nmr(1))
    collateral.lock(container, user_id=seller.user.id, amount=nmr("0.2"))
    assert (
        _ask(container, seller, instrument_id(container, seller.model_id), 1, nmr(1)).order.state
        == "open"
    )
