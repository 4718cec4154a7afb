"""Several threads, through two containers (as two processes would), send crossing orders
to one instrument at once: no order fills beyond its quantity, the book never crosses,
the cached books stay true to the database, and every invariant holds. Runs on SQLite
(the single writer) and on PostgreSQL (row lock on the instrument)."""

from __future__ import annotations

import random
import threading
from collections import Counter

from sqlalchemy import select

from nmrx.market import data as market_data
from nmrx.market import service as orders
from nmrx.market.repo import MarketRepo
from nmrx.market.tables import Fill, MarketOrder
from nmrx.platform.bootstrap import Container, bootstrap
from nmrx.platform.errors import ServiceError
from nmrx.wallet import ledger
from nmrx.wallet.money import TICK, nmr
from tests.conftest import make_settings
from tests.support.books import NOW, instrument_id, make_seller, open_market
from tests.support.builders import make_user

BUYERS = 6
SELLER_THREADS = 2
ORDERS_PER_THREAD = 15


def test_concurrent_crossing_orders_never_double_fill_or_cross(
    container: Container, database_url, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    seller = make_seller(container, funds=nmr(100), locked=nmr(80))
    open_market(container)
    book = instrument_id(container, seller.model_id)
    buyers = [make_user(container, funds=nmr(200)) for _ in range(BUYERS)]
    other = bootstrap(make_settings(database_url, tmp_path))  # a second "process"
    errors: list[BaseException] = []
    refused = Counter[str]()
    lock = threading.Lock()
    start = threading.Barrier(BUYERS + SELLER_THREADS)

    def trade(c: Container, user_id: int, side: str, seed: int) -> None:
        rng = random.Random(seed)
        try:
            start.wait()
            for n in range(ORDERS_PER_THREAD):
                offset = rng.randint(-3, 3) * 1_000 * TICK
                price = nmr(1) + offset + (500 * TICK if side == "ask" else -500 * TICK)
                try:
                    orders.place_order(
                        c,
                        user_id=user_id,
                        instrument_id=book,
                        side=side,
                        quantity=rng.randint(1, 3),
                        price=price,
                        order_type=rng.choice(["limit", "limit", "ioc"]),
                        client_order_id=f"{user_id}-{seed}-{n}",
                        now=NOW,
                    )
                except ServiceError as exc:
                    with lock:
                        refused[exc.message[:30]] += 1
        except BaseException as exc:  # surface thread failures in the test
            errors.append(exc)

    threads = [
        threading.Thread(target=trade, args=(container if i % 2 else other, b.id, "bid", i))
        for i, b in enumerate(buyers)
    ] + [
        threading.Thread(
            target=trade, args=(container if i % 2 else other, seller.user.id, "ask", 100 + i)
        )
        for i in range(SELLER_THREADS)
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        other.close()
    assert errors == []
    assert not refused, refused  # every order was valid and funded

    with container.db.transaction() as s:
        all_orders = {o.id: o for o in s.scalars(select(MarketOrder))}
        fills = list(s.scalars(select(Fill)))
        instrument = MarketRepo.of(s).instrument(book, lock=False)
        assert instrument is not None
        rebuilt = MarketRepo.of(s).build_book(instrument)
    assert len(all_orders) == (BUYERS + SELLER_THREADS) * ORDERS_PER_THREAD
    assert fills, "the orders were meant to cross"
    traded = Counter[int]()
    for f in fills:
        traded[f.buy_order_id] += f.quantity
        traded[f.sell_order_id] += f.quantity
        buy, sell = all_orders[f.buy_order_id], all_orders[f.sell_order_id]
        assert buy.side == "bid" and sell.side == "ask"
        assert f.price == (sell.price if f.taker_side == "bid" else buy.price)
        assert buy.price >= f.price >= sell.price
    for order_id, order in all_orders.items():
        assert traded[order_id] == order.filled <= order.quantity  # never double-filled
    view = market_data.book(container, instrument_id=book)
    if view.bids and view.asks:
        assert view.bids[0][0] < view.asks[0][0]
    assert rebuilt.l2() == (view.bids, view.asks)
    assert (rebuilt.best_bid(), rebuilt.best_ask()) == (
        view.bids[0][0] if view.bids else None,
        view.asks[0][0] if view.asks else None,
    )
    assert ledger.check(container.db) == []


def test_one_client_order_id_sent_to_two_books_at_once_makes_one_order(
    container: Container,
) -> None:
    seller = make_seller(container)
    open_market(container)
    books = [instrument_id(container, seller.model_id, index=i) for i in range(2)]
    buyer = make_user(container, funds=nmr(10))
    start = threading.Barrier(2)
    placed: list[orders.Placement] = []

    def send(book: int) -> None:
        start.wait()
        placed.append(
            orders.place_order(
                container,
                user_id=buyer.id,
                instrument_id=book,
                side="bid",
                quantity=1,
                price=nmr(1),
                client_order_id="once",
                now=NOW,
            )
        )

    threads = [threading.Thread(target=send, args=(b,)) for b in books]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(placed) == 2 and placed[0].order.id == placed[1].order.id
    assert sorted(p.duplicate for p in placed) == [False, True]
    assert len(orders.list_orders(container, user_id=buyer.id)) == 1
