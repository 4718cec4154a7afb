"""Open asks reserve collateral (issue 14, finding 10; market-rules §5.1): a seller with
100 NMR of collateral cannot have 900 NMR of asks filled; the requirement counts their
unsettled sales, their open asks and the new ask, and unlocking counts open asks too."""

from __future__ import annotations

import pytest

from nmrx.platform.bootstrap import Container
from nmrx.platform.errors import Conflict
from nmrx.sellers import collateral
from nmrx.wallet.money import nmr
from numerai_emulator import EmulatorServer
from tests.support.market import instrument, trader

# minimum 10 NMR + 20 %: 100 NMR of collateral covers 450 NMR of committed notional


def _books(market: Container, emulator: EmulatorServer, seller_collateral: int):  # type: ignore[no-untyped-def]
    emulator.world.advance_to_next_open()
    number = emulator.world.current_round().number
    seller = trader(market, emulator, funds=nmr(1000), collateral_nmr=seller_collateral)
    books = [
        instrument(market, model_id=seller.model(i), round_number=number, mode="file")
        for i in range(2)
    ]
    return seller, books


def test_asks_past_what_the_collateral_covers_are_refused_and_never_filled(
    market: Container, emulator: EmulatorServer
) -> None:
    seller, (book, other) = _books(market, emulator, 100)
    seller.place(book, "ask", 300, "1")  # 300 NMR: requirement 70 NMR
    with pytest.raises(Conflict, match=r"must keep 190\.00 NMR locked"):
        seller.place(other, "ask", 600, "1")  # 900 NMR in all: 190 NMR needed
    seller.place(other, "ask", 150, "1")  # 450 NMR in all: exactly 100 NMR
    with pytest.raises(Conflict, match="lock more collateral"):
        seller.place(other, "ask", 1, "0.0001")
    buyer = trader(market, emulator, funds=nmr(2000))
    buyer.place(book, "bid", 900, "1")
    buyer.place(other, "bid", 900, "1")
    status = collateral.status(market, user_id=seller.id)
    assert status.unsettled_notional == nmr(450)  # never past what 100 NMR covers
    assert status.requirement == nmr(100) and status.collateral == nmr(100)


def test_a_taker_ask_filled_above_its_price_counts_what_it_sold_for(
    market: Container, emulator: EmulatorServer
) -> None:
    seller, (book, _) = _books(market, emulator, 30)  # covers 100 NMR
    buyer = trader(market, emulator, funds=nmr(500))
    buyer.place(book, "bid", 100, "2")  # 200 NMR at 2
    with pytest.raises(Conflict, match="lock more collateral"):
        seller.place(book, "ask", 100, "0.5")  # 50 NMR at its price, 200 NMR sold
    assert collateral.status(market, user_id=seller.id).unsettled_notional == 0
    seller.place(book, "ask", 50, "0.5")  # 100 NMR sold at 2: covered
    assert collateral.status(market, user_id=seller.id).unsettled_notional == nmr(100)


def test_open_asks_keep_their_collateral_locked(
    market: Container, emulator: EmulatorServer
) -> None:
    seller, (book, _) = _books(market, emulator, 100)
    seller.place(book, "ask", 200, "1")  # requirement 10 + 40 NMR
    status = collateral.status(market, user_id=seller.id)
    assert status.open_ask_notional == nmr(200) and status.max_unlock == nmr(50)
    with pytest.raises(Conflict, match="counting your open asks of 200.00 NMR"):
        collateral.unlock(market, user_id=seller.id, amount=nmr(51))
    collateral.unlock(market, user_id=seller.id, amount=nmr(50))
