"""The model page and the trade flow over HTTP: nothing moves before the confirmation,
refusals (insufficient funds, trading closed) are shown, the demo clock runs the duties."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient

from nmrx.platform.bootstrap import Container
from nmrx.wallet import service as wallet
from nmrx.wallet.money import nmr
from numerai_emulator import EmulatorServer
from tests.support.builders import PASSWORD, api_client
from tests.support.market import fills_of, instrument, trader


def login(client: TestClient, username: str) -> str:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/wallet").text).group(1)  # type: ignore[union-attr]


def test_buy_now_shows_a_confirmation_before_anything_moves(
    market: Container, emulator: EmulatorServer
) -> None:
    emulator.world.advance_to_next_open()
    r = emulator.world.current_round().number
    seller = trader(market, emulator, collateral_nmr=20)
    buyer = trader(market, emulator, funds=nmr(10))
    book = instrument(market, model_id=seller.model(), round_number=r, mode="stake")
    seller.place(book, "ask", 100, "0.05")
    client = api_client(market)
    csrf = login(client, buyer.user.username)
    page = client.get(f"/models/{seller.model()}?mode=stake&round={r}")
    assert page.status_code == 200 and "Lowest ask" in page.text and "0.05 NMR" in page.text
    form = {
        "csrf_token": csrf,
        "instrument_id": book,
        "side": "bid",
        "kind": "buy_now",
        "quantity": "10",
        "slot_model_id": str(buyer.model(0)),
    }
    preview = client.post(f"/models/{seller.model()}/order/preview", data=form)
    assert preview.status_code == 200
    assert 'id="confirm-notional"><strong>0.50 NMR' in preview.text
    assert 'id="confirm-collateral">0.50 NMR' in preview.text
    assert 'id="confirm-hold"><strong>1.00 NMR' in preview.text
    assert wallet.balances(market.db, user_id=buyer.id).available == nmr(10)  # nothing moved yet
    hidden = dict(
        re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', preview.text)
    )
    done = client.post(f"/models/{seller.model()}/order/confirm", data=hidden)
    assert "Bought 10 NMR of allowance at avg 0.05 NMR." in done.text
    assert len(fills_of(market, book)) == 1
    assert wallet.balances(market.db, user_id=buyer.id) == wallet.Balances(nmr(9), 0, nmr("0.5"))
    again = client.post(f"/models/{seller.model()}/order/confirm", data=hidden)  # double submit
    assert again.status_code == 200 and len(fills_of(market, book)) == 1


def test_refusals_are_shown_and_change_nothing(market: Container, emulator: EmulatorServer) -> None:
    emulator.world.advance_to_next_open()
    r = emulator.world.current_round().number
    seller = trader(market, emulator, collateral_nmr=20)
    poor = trader(market, emulator, funds=nmr("0.1"))
    book = instrument(market, model_id=seller.model(), round_number=r, mode="file")
    seller.place(book, "ask", 3, "0.5")
    client = api_client(market)
    csrf = login(client, poor.user.username)
    form = {
        "csrf_token": csrf,
        "instrument_id": book,
        "side": "bid",
        "kind": "limit",
        "quantity": "1",
        "price": "0.5",
    }
    preview = client.post(f"/models/{seller.model()}/order/preview", data=form)
    hidden = dict(
        re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', preview.text)
    )
    refused = client.post(f"/models/{seller.model()}/order/confirm", data=hidden)
    assert "insufficient funds" in refused.text
    assert wallet.balances(market.db, user_id=poor.id).available == nmr("0.1")
    emulator.world.clock.set(emulator.world.current_round().close - timedelta(minutes=15))
    hidden["client_order_id"] = "late-one"
    late = client.post(f"/models/{seller.model()}/order/confirm", data=hidden)
    assert "trading" in late.text.lower() and "closed" in late.text.lower()
    assert fills_of(market, book) == []


def test_the_model_page_shows_track_record_and_offers_a_review_after_settlement(
    market: Container, emulator: EmulatorServer
) -> None:
    from nmrx.delivery import service as delivery
    from nmrx.delivery import uploads
    from nmrx.settlement import service as settlement
    from tests.support.market import predictions

    emulator.world.advance_to_next_open()
    r = emulator.world.current_round().number
    seller = trader(market, emulator, collateral_nmr=20)
    buyer = trader(market, emulator)
    book = instrument(market, model_id=seller.model(), round_number=r, mode="file")
    seller.place(book, "ask", 2, "0.5")
    buyer.place(book, "bid", 1, "0.5")
    uploads.upload_predictions(
        market,
        user_id=seller.id,
        model_id=seller.model(),
        content=predictions(emulator, r, seed=3),
        filename="p.csv",
    )
    delivery.run_once(market)
    settlement.reconcile(market)
    client = api_client(market)
    login(client, buyer.user.username)
    page = client.get(f"/models/{seller.model()}?mode=file")
    assert page.status_code == 200, page.text[:500]
    assert "Track record" in page.text and "Reviews" in page.text


def test_a_seller_sets_a_ladder_on_the_model_page_and_a_bad_line_changes_nothing(
    market: Container, emulator: EmulatorServer
) -> None:
    from nmrx.market import data as market_data
    from nmrx.market import standing_orders as listings

    emulator.world.advance_to_next_open()
    r = emulator.world.current_round().number
    seller = trader(market, emulator, collateral_nmr=20)
    book = instrument(market, model_id=seller.model(), round_number=r, mode="file")
    client = api_client(market)
    csrf = login(client, seller.user.username)
    url = f"/models/{seller.model()}/ladder"
    form = {"csrf_token": csrf, "mode": "file", "apply_to_open": "on"}
    bad = client.post(url, data={**form, "levels": "2 @ 0.4\nthree @ 0.6"})
    assert "line 2 &#39;three @ 0.6&#39;: write &#39;quantity @ price&#39;" in bad.text
    assert listings.list_standing(market, user_id=seller.id) == []
    assert market_data.book(market, instrument_id=book).asks == []

    good = client.post(url, data={**form, "levels": "2 @ 0.4\n3 @ 0.6"})
    assert "Ladder saved: 2 level(s)" in good.text
    asks = market_data.book(market, instrument_id=book).asks
    assert asks == [(nmr("0.4"), 2), (nmr("0.6"), 3)]
