"""A Numerai key's scopes against what NMRX does with it (issue 14, finding 13): a slot's key
must upload *and* read the slot back, checked before the buyer pays; keys that can stake
are flagged."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nmrx.market import service as orders
from nmrx.market.tables import MarketOrder
from nmrx.platform.bootstrap import Container
from nmrx.platform.errors import InvalidInput
from nmrx.sellers import numerai_keys
from nmrx.sellers.tables import NumeraiModel
from nmrx.wallet import service as wallet
from nmrx.wallet.money import nmr
from numerai_emulator import EmulatorServer
from tests.support.builders import (
    api_client,
    bearer,
    browser_login,
    csrf_token,
    make_token,
    make_user,
)
from tests.support.emulator import key_with_scopes, numerai_player
from tests.support.market import instrument, trader

LEAST = ["read_user_info", "upload_submission"]


def test_adding_a_key_says_what_it_cannot_do_and_flags_stake(
    market: Container, emulator: EmulatorServer
) -> None:
    client = api_client(market)
    user = make_user(market)
    headers = bearer(make_token(market, user))
    player = numerai_player(emulator.world)

    def add(scopes: list[str]) -> list[str]:
        key = key_with_scopes(emulator.world, player.username, scopes)
        r = client.post(
            "/api/v1/numerai-keys",
            json={"public_id": key.public_id, "secret": key.secret},
            headers=headers,
        )
        assert r.status_code == 201, r.text
        return r.json()["warnings"]

    [missing] = add(LEAST)
    assert "lacks the read_submission_info scope" in missing
    assert add([*LEAST, "read_submission_info"]) == []
    [stake] = add([*LEAST, "read_submission_info", "stake"])
    assert "stake scope" in stake


def test_a_stake_bid_naming_a_slot_whose_key_cannot_read_back_is_refused_before_paying(
    market: Container, emulator: EmulatorServer
) -> None:
    emulator.world.advance_to_next_open()
    number = emulator.world.current_round().number
    seller = trader(market, emulator, collateral_nmr=30)
    book = instrument(market, model_id=seller.model(), round_number=number, mode="stake")
    seller.place(book, "ask", 10, "0.05")
    buyer = make_user(market, funds=nmr(50))
    player = numerai_player(emulator.world)
    key = key_with_scopes(emulator.world, player.username, LEAST)
    numerai_keys.add_key(market, user_id=buyer.id, public_id=key.public_id, secret=key.secret)
    with market.db.transaction() as s:
        slot = s.scalars(
            select(NumeraiModel.id).where(
                NumeraiModel.owner_user_id == buyer.id, NumeraiModel.tournament == "classic"
            )
        ).first()
    assert slot is not None
    with pytest.raises(InvalidInput, match="lacks the read_submission_info scope"):
        orders.place_order(
            market,
            user_id=buyer.id,
            instrument_id=book,
            side="bid",
            quantity=10,
            price=nmr("0.05"),
            slot_model_id=slot,
        )
    with market.db.transaction() as s:
        assert s.scalars(select(MarketOrder).where(MarketOrder.user_id == buyer.id)).all() == []
    assert wallet.balances(market.db, user_id=buyer.id).available == nmr(50)


def test_the_keys_page_warns_without_refusing(market: Container, emulator: EmulatorServer) -> None:
    user = make_user(market)
    client: TestClient = browser_login(market, user.username)
    player = numerai_player(emulator.world)
    key = key_with_scopes(emulator.world, player.username, [*LEAST, "stake"])
    token = csrf_token(client, "/numerai-keys")
    r = client.post(
        "/numerai-keys",
        data={"public_id": key.public_id, "secret": key.secret, "csrf_token": token},
    )
    assert r.status_code == 200 and r.url.path == "/numerai-keys"
    shown = r.text
    assert "Key saved" in shown
    assert "lacks the read_submission_info scope" in shown and "stake scope" in shown
