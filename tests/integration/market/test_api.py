"""The market over HTTP: instruments, books, orders, ladders, standing bids, the stream."""

from __future__ import annotations

import json
import threading
import time

import pytest

from nmrx.market import data as market_data
from nmrx.market import instruments
from nmrx.platform.bootstrap import Container
from nmrx.wallet import service as wallet
from nmrx.wallet.money import nmr
from tests.support.books import make_model, make_seller, seed_calendar
from tests.support.builders import api_client, bearer, make_token, make_user


@pytest.fixture
def api(container: Container):  # type: ignore[no-untyped-def]
    seller = make_seller(container)
    buyer = make_user(container, funds=nmr(100))
    seed_calendar(container)
    instruments.open_books(container)  # the system clock: books for the real coming rounds
    client = api_client(container)
    return (
        client,
        seller,
        bearer(make_token(container, seller.user)),
        buyer,
        bearer(make_token(container, buyer)),
    )


def _first_book(client, model_id: int, mode: str = "file") -> dict:  # type: ignore[no-untyped-def]
    found = client.get("/api/v1/instruments", params={"model_id": model_id, "mode": mode}).json()
    assert len(found) == 5
    return found[0]


def test_placing_matching_and_reading_orders_over_http(api) -> None:  # type: ignore[no-untyped-def]
    client, seller, seller_auth, buyer, buyer_auth = api
    book = _first_book(client, seller.model_id)
    ask = client.post(
        "/api/v1/orders",
        json={"instrument_id": book["id"], "side": "ask", "quantity": 2, "price": "1.5"},
        headers=seller_auth,
    )
    assert ask.status_code == 201, ask.text
    body = {
        "instrument_id": book["id"],
        "side": "bid",
        "quantity": 3,
        "price_units": nmr(2),
        "client_order_id": "bid-1",
    }
    bid = client.post("/api/v1/orders", json=body, headers=buyer_auth)
    assert bid.status_code == 201
    placed = bid.json()
    assert (placed["state"], placed["filled"], placed["duplicate"]) == ("open", 2, False)
    assert placed["fills"][0]["price"] == {"units": nmr("1.5"), "nmr": "1.50"}
    again = client.post("/api/v1/orders", json=body, headers=buyer_auth)
    assert (
        again.status_code == 200
        and again.json()["id"] == placed["id"]
        and again.json()["duplicate"]
    )
    assert (
        client.get("/api/v1/orders/by-client-id/bid-1", headers=buyer_auth).json()["id"]
        == placed["id"]
    )

    depth = client.get(f"/api/v1/instruments/{book['id']}/book").json()
    assert depth["bids"] == [{"price": {"units": nmr(2), "nmr": "2.00"}, "quantity": 1}]
    assert depth["asks"] == [] and depth["seq"] == 2
    tape = client.get(f"/api/v1/instruments/{book['id']}/trades").json()
    assert [(t["price"]["nmr"], t["quantity"], t["taker_side"]) for t in tape] == [
        ("1.50", 2, "bid")
    ]
    summary = client.get(f"/api/v1/instruments/{book['id']}").json()
    assert (summary["best_bid"]["nmr"], summary["best_ask"], summary["last_price"]["nmr"]) == (
        "2.00",
        None,
        "1.50",
    )
    history = client.get(f"/api/v1/models/{seller.model_id}/price-history", params={"mode": "file"})
    assert [(b["round_number"], b["volume"], b["close"]["nmr"]) for b in history.json()] == [
        (book["round_number"], 2, "1.50")
    ]
    mine = client.get("/api/v1/orders", params={"state": "open"}, headers=buyer_auth).json()
    assert [o["id"] for o in mine] == [placed["id"]]
    cancelled = client.delete(f"/api/v1/orders/{placed['id']}", headers=buyer_auth)
    assert cancelled.json()["state"] == "cancelled"
    wallet = client.get("/api/v1/wallet", headers=buyer_auth).json()
    assert wallet["held"]["units"] == 0 and wallet["available"]["units"] == nmr(97)


def test_refusals_come_back_as_errors_with_their_reason(api) -> None:  # type: ignore[no-untyped-def]
    client, seller, seller_auth, buyer, buyer_auth = api
    book = _first_book(client, seller.model_id)
    cases = [
        ({"side": "bid", "quantity": 1, "price": "1.00005"}, buyer_auth, 422, "not on the tick"),
        ({"side": "bid", "quantity": 0, "price": "1"}, buyer_auth, 422, "greater than zero"),
        ({"side": "bid", "quantity": 1, "price": 1.5}, buyer_auth, 422, "never floats"),
        (
            {"side": "bid", "quantity": 1.0, "price": "1"},
            buyer_auth,
            422,
            "quantity: must be a whole number, not 1.0",
        ),
        ({"side": "ask", "quantity": 1, "price": "1"}, buyer_auth, 403, "only the verified owner"),
        ({"side": "bid", "quantity": 500, "price": "1"}, buyer_auth, 409, "insufficient funds"),
    ]
    for fields, auth, status, message in cases:
        r = client.post(
            "/api/v1/orders", json={"instrument_id": book["id"], **fields}, headers=auth
        )
        assert r.status_code == status, (fields, r.text)
        assert message in r.json()["error"], fields
    stake = _first_book(client, seller.model_id, "stake")
    r = client.post(
        "/api/v1/orders",
        json={"instrument_id": stake["id"], "side": "bid", "quantity": 1, "price": "0.01"},
        headers=buyer_auth,
    )
    assert r.status_code == 422 and "must name a slot" in r.json()["error"]
    assert client.get("/api/v1/orders", headers=buyer_auth).json() == []
    assert client.post("/api/v1/orders", json={}, headers={}).status_code in (401, 422)


def test_buy_now_and_sell_now_over_http(api) -> None:  # type: ignore[no-untyped-def]
    client, seller, seller_auth, buyer, buyer_auth = api
    book = _first_book(client, seller.model_id)
    empty = client.post(
        "/api/v1/orders/buy-now",
        json={"instrument_id": book["id"], "quantity": 1},
        headers=buyer_auth,
    )
    assert empty.status_code == 409 and "no asks" in empty.json()["error"]
    client.post(
        "/api/v1/orders",
        json={"instrument_id": book["id"], "side": "ask", "quantity": 1, "price": "3"},
        headers=seller_auth,
    )
    bought = client.post(
        "/api/v1/orders/buy-now",
        json={"instrument_id": book["id"], "quantity": 1},
        headers=buyer_auth,
    )
    assert bought.status_code == 201 and bought.json()["state"] == "filled"
    client.post(
        "/api/v1/orders",
        json={"instrument_id": book["id"], "side": "bid", "quantity": 1, "price": "2"},
        headers=buyer_auth,
    )
    sold = client.post(
        "/api/v1/orders/sell-now",
        json={"instrument_id": book["id"], "quantity": 1},
        headers=seller_auth,
    )
    assert sold.json()["fills"][0]["price"]["nmr"] == "2.00"


def test_ladders_and_standing_bids_over_http(api, container) -> None:  # type: ignore[no-untyped-def]
    client, seller, seller_auth, buyer, buyer_auth = api
    ladder = client.put(
        "/api/v1/ladders",
        json={
            "model_id": seller.model_id,
            "mode": "stake",
            "levels": [
                {"quantity": 100, "price": "0.05"},
                {"quantity": 400, "price_units": nmr("0.1")},
            ],
        },
        headers=seller_auth,
    )
    assert ladder.status_code == 200, ladder.text
    view = ladder.json()
    assert (view["state"], view["open_orders"], [lv["quantity"] for lv in view["levels"]]) == (
        "active",
        10,
        [100, 400],
    )
    assert [x["id"] for x in client.get("/api/v1/ladders", headers=seller_auth).json()] == [
        view["id"]
    ]
    paused = client.post(f"/api/v1/ladders/{view['id']}/pause", headers=seller_auth).json()
    assert paused["open_orders"] == 0
    resumed = client.post(f"/api/v1/ladders/{view['id']}/resume", headers=seller_auth).json()
    assert resumed["open_orders"] == 10
    assert (
        client.delete(f"/api/v1/ladders/{view['id']}", headers=seller_auth).json()["state"]
        == "cancelled"
    )

    slot = make_model(container, buyer)
    standing = client.post(
        "/api/v1/standing-bids",
        json={
            "model_id": seller.model_id,
            "mode": "stake",
            "quantity": 10,
            "price": "0.02",
            "rounds": 3,
            "slot_model_id": slot,
        },
        headers=buyer_auth,
    )
    assert standing.status_code == 201, standing.text
    assert standing.json()["open_orders"] == 3
    sid = standing.json()["id"]
    assert [x["id"] for x in client.get("/api/v1/standing-bids", headers=buyer_auth).json()] == [
        sid
    ]
    assert (
        client.delete(f"/api/v1/standing-bids/{sid}", headers=buyer_auth).json()["open_orders"] == 0
    )
    markets = client.get("/api/v1/markets").json()
    assert {(m["model_id"], m["mode"]) for m in markets} == {
        (seller.model_id, "file"),
        (seller.model_id, "stake"),
    }


def test_the_stream_sends_the_book_then_changes_and_trades(api) -> None:  # type: ignore[no-untyped-def]
    client, seller, seller_auth, buyer, buyer_auth = api
    book = _first_book(client, seller.model_id)
    client.post(
        "/api/v1/orders",
        json={"instrument_id": book["id"], "side": "ask", "quantity": 1, "price": "3"},
        headers=seller_auth,
    )
    received: list[str] = []

    def listen() -> None:
        with client.stream(
            "GET",
            f"/api/v1/instruments/{book['id']}/stream",
            params={"max_events": 3, "poll": 0.05},
        ) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            received.append("".join(r.iter_text()))

    listener = threading.Thread(target=listen)
    listener.start()
    time.sleep(0.5)
    client.post(
        "/api/v1/orders",
        json={"instrument_id": book["id"], "side": "bid", "quantity": 1, "price": "3"},
        headers=buyer_auth,
    )
    listener.join(timeout=10)
    events = [block.split("\n") for block in received[0].strip().split("\n\n")]
    assert [e[0] for e in events] == ["event: book", "event: book", "event: trade"]
    first, after, trade = (json.loads(e[2].removeprefix("data: ")) for e in events)
    assert (first["seq"], len(first["asks"])) == (1, 1)
    assert (after["seq"], after["asks"], after["bids"]) == (2, [], [])
    assert (trade["price"]["nmr"], trade["quantity"], trade["taker_side"]) == ("3.00", 1, "bid")


def _trade(client, book_id: int, seller_auth, buyer_auth, quantity: int, price: str) -> None:  # type: ignore[no-untyped-def]
    """One fill of ``quantity`` at ``price``: the seller rests an ask, the buyer takes it."""
    ask = client.post(
        "/api/v1/orders",
        json={"instrument_id": book_id, "side": "ask", "quantity": quantity, "price": price},
        headers=seller_auth,
    )
    assert ask.status_code == 201, ask.text
    bid = client.post(
        "/api/v1/orders",
        json={"instrument_id": book_id, "side": "bid", "quantity": quantity, "price": price},
        headers=buyer_auth,
    )
    assert bid.status_code == 201, bid.text
    assert (bid.json()["state"], bid.json()["filled"]) == ("filled", quantity)


def test_an_order_is_visible_and_cancellable_only_by_its_owner(api, container) -> None:  # type: ignore[no-untyped-def]
    client, seller, seller_auth, buyer, buyer_auth = api
    book = _first_book(client, seller.model_id)
    client.post(
        "/api/v1/orders",
        json={"instrument_id": book["id"], "side": "ask", "quantity": 1, "price": "1"},
        headers=seller_auth,
    )
    placed = client.post(
        "/api/v1/orders",
        json={
            "instrument_id": book["id"],
            "side": "bid",
            "quantity": 3,
            "price": "1.25",
            "client_order_id": "mine-1",
        },
        headers=buyer_auth,
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]

    own = client.get(f"/api/v1/orders/{order_id}", headers=buyer_auth)
    assert own.status_code == 200, own.text
    got = own.json()
    assert {
        k: got[k]
        for k in (
            "id",
            "client_order_id",
            "instrument_id",
            "side",
            "order_type",
            "quantity",
            "filled",
            "remaining",
            "state",
            "cancel_reason",
            "slot_model_id",
            "standing_order_id",
        )
    } == {
        "id": order_id,
        "client_order_id": "mine-1",
        "instrument_id": book["id"],
        "side": "bid",
        "order_type": "limit",
        "quantity": 3,
        "filled": 1,
        "remaining": 2,
        "state": "open",
        "cancel_reason": None,
        "slot_model_id": None,
        "standing_order_id": None,
    }
    assert got["price"] == {"units": nmr("1.25"), "nmr": "1.25"}
    assert [(f["price"]["units"], f["quantity"]) for f in got["fills"]] == [(nmr(1), 1)]

    # The rest of the bid (2 × 1.25) is held; a stranger must not see or touch it.
    held_before = wallet.balances(container.db, user_id=buyer.id)
    assert held_before.held == nmr("2.5")
    stranger = make_user(container, funds=nmr(5))
    strangers = [seller_auth, bearer(make_token(container, stranger))]
    for auth in strangers:
        seen = client.get(f"/api/v1/orders/{order_id}", headers=auth)
        assert seen.status_code == 404, seen.text
        assert "no order" in seen.json()["error"]
        cancel = client.delete(f"/api/v1/orders/{order_id}", headers=auth)
        assert cancel.status_code == 404, cancel.text
        assert "no order" in cancel.json()["error"]
        assert all(o["id"] != order_id for o in client.get("/api/v1/orders", headers=auth).json())

    after = client.get(f"/api/v1/orders/{order_id}", headers=buyer_auth).json()
    assert (after["state"], after["remaining"], after["cancel_reason"]) == ("open", 2, None)
    assert wallet.balances(container.db, user_id=buyer.id) == held_before
    api_wallet = client.get("/api/v1/wallet", headers=buyer_auth).json()
    assert api_wallet["held"]["units"] == nmr("2.5")
    depth = client.get(f"/api/v1/instruments/{book['id']}/book").json()
    assert depth["bids"] == [{"price": {"units": nmr("1.25"), "nmr": "1.25"}, "quantity": 2}]

    # The owner still can cancel it, and that releases the hold.
    mine = client.delete(f"/api/v1/orders/{order_id}", headers=buyer_auth)
    assert mine.status_code == 200 and mine.json()["state"] == "cancelled"
    assert wallet.balances(container.db, user_id=buyer.id).held == 0


def test_price_history_gives_each_rounds_open_high_low_close_and_volume(api, container) -> None:  # type: ignore[no-untyped-def]
    client, seller, seller_auth, buyer, buyer_auth = api
    books = client.get(
        "/api/v1/instruments", params={"model_id": seller.model_id, "mode": "file"}
    ).json()
    early, late = books[0], books[1]
    assert early["round_number"] < late["round_number"]
    # The later round trades first: the history must still be ordered by round.
    for quantity, price in [(2, "0.5"), (1, "0.4"), (1, "0.9")]:
        _trade(client, late["id"], seller_auth, buyer_auth, quantity, price)
    for quantity, price in [(1, "2"), (2, "3.5"), (1, "1.25"), (3, "1.75")]:
        _trade(client, early["id"], seller_auth, buyer_auth, quantity, price)
    # A resting order that never traded is no part of the history.
    client.post(
        "/api/v1/orders",
        json={"instrument_id": early["id"], "side": "ask", "quantity": 1, "price": "9"},
        headers=seller_auth,
    )
    # Another model's trades stay in that model's history.
    other = make_seller(container)
    instruments.open_books(container)
    other_book = _first_book(client, other.model_id)
    _trade(client, other_book["id"], bearer(make_token(container, other.user)), buyer_auth, 1, "7")

    expected = [
        market_data.RoundBar(
            round_number=early["round_number"],
            open=nmr(2),
            high=nmr("3.5"),
            low=nmr("1.25"),
            close=nmr("1.75"),
            volume=7,
            notional=nmr("15.5"),
            trades=4,
        ),
        market_data.RoundBar(
            round_number=late["round_number"],
            open=nmr("0.5"),
            high=nmr("0.9"),
            low=nmr("0.4"),
            close=nmr("0.9"),
            volume=4,
            notional=nmr("2.3"),
            trades=3,
        ),
    ]
    assert market_data.price_history(container, model_id=seller.model_id, mode="file") == expected
    assert market_data.price_history(container, model_id=seller.model_id, mode="stake") == []

    r = client.get(f"/api/v1/models/{seller.model_id}/price-history", params={"mode": "file"})
    assert r.status_code == 200, r.text
    bars = r.json()
    assert [b["round_number"] for b in bars] == [early["round_number"], late["round_number"]]
    assert [
        (
            b["open"]["units"],
            b["high"]["units"],
            b["low"]["units"],
            b["close"]["units"],
            b["volume"],
            b["notional"]["units"],
            b["trades"],
        )
        for b in bars
    ] == [(e.open, e.high, e.low, e.close, e.volume, e.notional, e.trades) for e in expected]
    assert [(b["open"]["nmr"], b["close"]["nmr"]) for b in bars] == [
        ("2.00", "1.75"),
        ("0.50", "0.90"),
    ]
    assert (
        client.get(
            f"/api/v1/models/{seller.model_id}/price-history", params={"mode": "stake"}
        ).json()
        == []
    )
    others = client.get(f"/api/v1/models/{other.model_id}/price-history").json()
    assert [(b["round_number"], b["open"]["units"], b["volume"]) for b in others] == [
        (other_book["round_number"], nmr(7), 1)
    ]
