"""The buy flow over HTTP (issue 21): a logged-out visitor comes back to their order, the
review step shows exactly what will fill and refuses doomed orders before Confirm, says what
is bought and when, a Buy/Bid toggle with the bid prefilled, and errors keep the place."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from nmrx.platform.bootstrap import Container
from nmrx.wallet import service as wallet
from nmrx.wallet.money import nmr
from numerai_emulator import EmulatorServer
from tests.integration.market.test_web import login
from tests.support.builders import PASSWORD, api_client, make_user
from tests.support.market import fills_of, instrument, trader

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def hidden_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', html))


def anonymous_csrf(client: TestClient) -> str:
    return CSRF.search(client.get("/login").text).group(1)  # type: ignore[union-attr]


def test_a_logged_out_bid_comes_back_to_its_review_after_registering(
    market: Container, emulator: EmulatorServer
) -> None:
    emulator.world.advance_to_next_open()
    r = emulator.world.current_round().number
    seller = trader(market, emulator, collateral_nmr=20)
    book = instrument(market, model_id=seller.model(), round_number=r, mode="file")
    seller.place(book, "ask", 5, "0.5")
    client = api_client(market)
    form = {
        "csrf_token": anonymous_csrf(client),
        "instrument_id": str(book),
        "side": "bid",
        "kind": "limit",
        "quantity": "7",
        "price": "0.04",
    }
    sent = client.post(f"/models/{seller.model()}/order/preview", data=form, follow_redirects=False)
    assert sent.status_code == 303  # not a 405 after logging in: the order goes along
    target = parse_qs(urlsplit(sent.headers["location"]).query)["next"][0]
    assert target.startswith(f"/models/{seller.model()}/order/preview?")
    kept = parse_qs(urlsplit(target).query)
    assert kept["kind"] == ["limit"] and kept["quantity"] == ["7"] and kept["price"] == ["0.04"]
    login_page = client.get(sent.headers["location"])
    assert 'name="next"' in login_page.text and "register?next=" in login_page.text
    # a newcomer registers from there: the return address goes through registration
    register_page = client.get("/register", params={"next": target})
    token = CSRF.search(register_page.text).group(1)  # type: ignore[union-attr]
    done = client.post(
        "/register",
        data={"username": "newbuyer", "password": PASSWORD, "csrf_token": token, "next": target},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == target
    review = client.get(target)
    assert review.status_code == 200 and "Review your bid" in review.text
    assert 'id="confirm-order">7 copies at 0.04 NMR each' in review.text


def test_logging_in_returns_to_a_safe_address_only(
    market: Container, emulator: EmulatorServer
) -> None:
    buyer = make_user(market, funds=nmr(1))
    for target, lands in [
        ("/models/1?mode=stake&round=5&quantity=3", "/models/1?mode=stake&round=5&quantity=3"),
        ("//evil.example/x", "/wallet"),
        ("/\\evil.example", "/wallet"),
        ("https://evil.example/", "/wallet"),
    ]:
        client = api_client(market)
        token = anonymous_csrf(client)
        sent = client.post(
            "/login",
            data={
                "username": buyer.username,
                "password": PASSWORD,
                "csrf_token": token,
                "next": target,
            },
            follow_redirects=False,
        )
        assert sent.headers["location"] == lands


def test_unknown_pages_are_styled_html_and_the_api_keeps_json(market: Container) -> None:
    client = api_client(market)
    for path in ("/foo", "/models/abc", "/models/999999"):
        page = client.get(path)
        assert page.status_code == 404, path
        assert page.headers["content-type"].startswith("text/html")
        assert "<!doctype html>" in page.text.lower() and "not found" in page.text.lower()
    api = client.get("/api/v1/nothing-here")
    assert api.status_code == 404 and api.headers["content-type"] == "application/json"
    assert "no such API route" in api.json()["error"]
    bad = client.get("/api/v1/instruments/abc/book")
    assert bad.status_code == 422 and "error" in bad.json()


def test_the_review_walks_the_book_and_a_partial_fill_is_reported_plainly(
    market: Container, emulator: EmulatorServer
) -> None:
    emulator.world.advance_to_next_open()
    r = emulator.world.current_round().number
    seller = trader(market, emulator, collateral_nmr=50)
    buyer = trader(market, emulator, funds=nmr(100))
    book = instrument(market, model_id=seller.model(), round_number=r, mode="stake")
    seller.place(book, "ask", 50, "0.05")
    seller.place(book, "ask", 30, "0.07")
    client = api_client(market)
    csrf = login(client, buyer.user.username)
    form = {
        "csrf_token": csrf,
        "instrument_id": str(book),
        "side": "bid",
        "kind": "buy_now",
        "quantity": "150",
        "slot_model_id": str(buyer.model(0)),
    }
    review = client.post(f"/models/{seller.model()}/order/preview", data=form)
    assert review.status_code == 200
    assert "80 of 150 available at these prices" in review.text
    assert "50 × 0.05 NMR, 30 × 0.07 NMR (avg 0.0575 NMR)" in review.text
    assert 'id="confirm-notional"><strong>4.60 NMR' in review.text  # 2.50 + 2.10, not 150 ×
    assert 'id="confirm-collateral">4.00 NMR' in review.text  # 5 % of the 80 that fill
    assert "disabled" not in re.search(r'<button[^>]*id="confirm-button"[^>]*>', review.text).group(
        0
    )  # type: ignore[union-attr]
    hidden = hidden_fields(review.text)
    assert hidden["quantity"] == "80" and hidden["requested"] == "150"
    done = client.post(f"/models/{seller.model()}/order/confirm", data=hidden)
    assert (
        "Bought 80 NMR of allowance at avg 0.0575 NMR; the remaining 70 were not filled "
        "and nothing is held for them." in done.text
    )
    assert "cancelled" not in done.text
    assert sum(f.quantity for f in fills_of(market, book)) == 80
    balances = wallet.balances(market.db, user_id=buyer.id)
    assert balances.held == 0 and balances.available == nmr(100) - nmr("4.6") - nmr(4)


def test_the_review_refuses_an_unaffordable_or_slotless_order_before_confirm(
    market: Container, emulator: EmulatorServer
) -> None:
    emulator.world.advance_to_next_open()
    r = emulator.world.current_round().number
    seller = trader(market, emulator, collateral_nmr=50)
    poor = trader(market, emulator, funds=nmr(1))
    book = instrument(market, model_id=seller.model(), round_number=r, mode="stake")
    seller.place(book, "ask", 100, "0.05")
    client = api_client(market)
    csrf = login(client, poor.user.username)
    form = {
        "csrf_token": csrf,
        "instrument_id": str(book),
        "side": "bid",
        "kind": "buy_now",
        "quantity": "100000",
        "slot_model_id": str(poor.model(0)),
    }
    review = client.post(f"/models/{seller.model()}/order/preview", data=form)
    assert "100 of 100000 available" in review.text
    assert "You need 10.00 NMR available for this order and have 1.00 NMR." in review.text
    assert '<a class="button" href="/wallet">Add NMR</a>' in review.text
    assert re.search(r'<button type="submit" id="confirm-button" disabled', review.text)
    # no Numerai models connected: Stake Mode has nowhere to submit
    keyless = make_user(market, funds=nmr(100))
    other = api_client(market)
    csrf = login(other, keyless.username)
    form = {**form, "csrf_token": csrf, "quantity": "10", "slot_model_id": ""}
    review = other.post(f"/models/{seller.model()}/order/preview", data=form)
    assert '<a class="button" href="/numerai-keys">Connect Numerai</a>' in review.text
    assert re.search(r'<button type="submit" id="confirm-button" disabled', review.text)
    assert fills_of(market, book) == []


def test_the_review_says_what_is_bought_and_when(
    market: Container, emulator: EmulatorServer
) -> None:
    emulator.world.advance_to_next_open()
    r = emulator.world.current_round().number
    seller = trader(market, emulator, collateral_nmr=20)
    buyer = trader(market, emulator, funds=nmr(10))
    book = instrument(market, model_id=seller.model(), round_number=r, mode="file")
    seller.place(book, "ask", 3, "0.05")
    client = api_client(market)
    csrf = login(client, buyer.user.username)
    form = {
        "csrf_token": csrf,
        "instrument_id": str(book),
        "side": "bid",
        "kind": "limit",
        "quantity": "1",
        "price": "0.06",
    }
    review = client.post(f"/models/{seller.model()}/order/preview", data=form)
    text = review.text
    assert "Review your bid" in text and "Confirm your purchase" not in text
    model_name = seller.numerai.classic[0]
    assert f"<strong>{model_name}</strong> · File Mode · Round {r}" in text
    assert f'<a href="/sellers/{seller.user.username}">' in text
    assert 'id="confirm-order">1 copy at 0.06 NMR each' in text and "1 copies" not in text
    assert "Expires</dt>" in text and "Trading closes" in text and "Seller uploads by" in text
    assert "Your download" in text and text.count(" UTC") >= 4
    assert "Collateral" not in text  # File Mode has none
    assert "This bid would buy at once at 0.05 NMR" in text
    assert 'class="cancel-link">Cancel</a>' in text and "button secondary" not in text


def test_the_model_page_has_a_buy_bid_toggle_with_the_bid_one_tick_above_the_best(
    market: Container, emulator: EmulatorServer
) -> None:
    emulator.world.advance_to_next_open()
    r = emulator.world.current_round().number
    seller = trader(market, emulator, collateral_nmr=20)
    bidder = trader(market, emulator, funds=nmr(10))
    book = instrument(market, model_id=seller.model(), round_number=r, mode="file")
    seller.place(book, "ask", 3, "0.05")
    bidder.place(book, "bid", 2, "0.04")
    page = api_client(market).get(f"/models/{seller.model()}?mode=file&round={r}")
    assert 'id="kind-buy" name="kind" value="buy_now" checked' in page.text
    assert 'id="kind-bid" name="kind" value="limit" >' in page.text
    assert 'id="buy-price" name="price" value="0.0401"' in page.text
    assert '<div class="bid-only">' in page.text  # shown only while Bid is chosen (style.css)
    assert "<script>" not in page.text  # no inline script: a strict CSP can forbid them


def test_a_bad_quantity_in_stake_mode_keeps_the_mode_round_and_typed_values(
    market: Container, emulator: EmulatorServer
) -> None:
    emulator.world.advance_to_next_open()
    r = emulator.world.current_round().number
    seller = trader(market, emulator, collateral_nmr=20)
    buyer = trader(market, emulator, funds=nmr(10))
    instrument(market, model_id=seller.model(), round_number=r, mode="file")
    book = instrument(market, model_id=seller.model(), round_number=r, mode="stake")
    client = api_client(market)
    csrf = login(client, buyer.user.username)
    form = {
        "csrf_token": csrf,
        "instrument_id": str(book),
        "side": "bid",
        "kind": "limit",
        "quantity": "ten",
        "price": "",
        "slot_model_id": str(buyer.model(0)),
    }
    page = client.post(f"/models/{seller.model()}/order/preview", data=form)
    assert page.status_code == 422
    assert 'aria-current="page">Stake Mode' in page.text
    assert f'round={r}" aria-current="page">Round {r}' in page.text
    assert 'id="buy-qty" name="quantity" value="ten"' in page.text
    assert 'id="kind-bid" name="kind" value="limit" checked' in page.text
    assert "Enter how many NMR of allowance you want as a whole number above zero" in page.text
    assert "Enter your bid price in NMR per NMR staked, e.g. 0.05." in page.text
    assert "not a decimal NMR amount" not in page.text


def test_a_failure_is_a_styled_500_page_and_the_api_answer_is_unchanged(
    market: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nmrx.app import create_app
    from nmrx.market import data as market_data

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(market_data, "list_instruments", broken)
    client = TestClient(create_app(market), raise_server_exceptions=False)
    page = client.get("/")
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert "Something went wrong" in page.text and "database went away" not in page.text
    api = client.get("/api/v1/markets")
    assert api.status_code == 500 and api.text == "Internal Server Error"
