"""A buyer's slot is not a market (issue 14, finding 14; market-rules §5.1): only a model
its owner lists (an ask or an ask ladder) shows in the market list and /api/v1/markets."""

from __future__ import annotations

from nmrx.market import standing_orders
from nmrx.platform.bootstrap import Container
from nmrx.reputation import discovery, market_list
from nmrx.wallet.money import nmr
from numerai_emulator import EmulatorServer
from tests.support.builders import api_client
from tests.support.market import instrument, trader


def test_only_models_their_owner_lists_are_markets(
    market: Container, emulator: EmulatorServer
) -> None:
    emulator.world.advance_to_next_open()
    number = emulator.world.current_round().number
    seller = trader(market, emulator, collateral_nmr=30)
    buyer = trader(market, emulator)  # their key binds their models: slots, not markets
    asked = instrument(market, model_id=seller.model(0), round_number=number, mode="file")
    seller.place(asked, "ask", 1, "0.5")
    standing_orders.set_ladder(
        market,
        user_id=seller.id,
        model_id=seller.model(1),
        mode="stake",
        levels=[(10, nmr("0.05"))],
    )
    market_list.refresh(market)

    listed = {(m.model_id, m.mode) for m in discovery.list_markets(market, per_page=100).items}
    assert (seller.model(0), "file") in listed and (seller.model(1), "stake") in listed
    assert not {model for model, _ in listed} & set(buyer.models.values())
    page = api_client(market).get("/markets?per_page=100").text
    assert buyer.user.username not in page

    api = api_client(market).get("/api/v1/markets").json()
    models = {m["model_id"] for m in api}
    assert {seller.model(0), seller.model(1)} <= models
    assert not models & set(buyer.models.values())
    assert {m["owner"] for m in api} == {seller.user.username}
