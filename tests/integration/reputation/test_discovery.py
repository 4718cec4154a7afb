"""The market list and trending, over real books, trades, track records and reviews."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from nmrx.market import instruments
from nmrx.platform.bootstrap import Container
from nmrx.platform.errors import InvalidInput
from nmrx.reputation import discovery, reviews
from nmrx.reputation import track_records as performance
from nmrx.reputation.tables import InstrumentStats
from nmrx.wallet.money import nmr
from numerai_emulator import EmulatorServer
from tests.support.builders import api_client
from tests.support.market import Trader, instrument, trader
from tests.support.trading import run


def book(market: Container, seller: Trader, number: int, mode: str, index: int = 0) -> int:
    return instrument(market, model_id=seller.model(index), round_number=number, mode=mode)


def keys(page: discovery.MarketPage | list[discovery.Listing]) -> list[tuple[str, str]]:
    items = page.items if isinstance(page, discovery.MarketPage) else page
    return [(i.model_name, i.mode) for i in items]


@pytest.fixture
def world(market: Container, emulator: EmulatorServer) -> dict[str, object]:
    """Two sellers; A's first model trades well and scores, B's sells out cheaply."""
    emulator.world.advance_to_next_open()
    number = emulator.world.current_round().number
    a = trader(market, emulator, funds=nmr(100), collateral_nmr=20)
    b = trader(market, emulator, funds=nmr(100), collateral_nmr=20)
    buyer = trader(market, emulator, funds=nmr(100))
    a.place(book(market, a, number, "file"), "ask", 3, "0.5")
    a.place(book(market, a, number, "stake"), "ask", 100, "0.05")
    b.place(book(market, b, number, "file"), "ask", 1, "0.3")
    b.place(book(market, b, number, "file", 1), "ask", 1, "0.8")
    a_signals = instrument(
        market, model_id=a.models[a.numerai.signals], round_number=number, mode="stake"
    )
    listed = a.place(a_signals, "ask", 10, "0.9").order.id  # A lists their Signals model
    from nmrx.market import service as orders

    orders.cancel_order(market, user_id=a.id, order_id=listed)  # and sells out: still a market
    buyer.place(book(market, a, number, "file"), "bid", 2, "0.5")
    buyer.place(book(market, b, number, "file"), "bid", 1, "0.3")
    from nmrx.delivery import uploads
    from tests.support.market import predictions

    uploads.upload_predictions(
        market,
        user_id=a.id,
        model_id=a.model(0),
        content=predictions(emulator, number, seed=5),
        filename="p.csv",
        submit_to_own_model=True,
    )
    run(market)  # A's copies are delivered and released
    reviews.create_review(market, user_id=buyer.id, model_id=a.model(0), rating=5, text="good")
    emulator.world.advance_days(5)
    for trader_ in (a, b):
        for model_id in trader_.models.values():
            performance.sync_model(market, model_id=model_id)
    discovery.refresh(market)
    names = {
        "a0": a.numerai.classic[0],
        "a1": a.numerai.classic[1],
        "b0": b.numerai.classic[0],
        "b1": b.numerai.classic[1],
        "as": a.numerai.signals,
        "bs": b.numerai.signals,
    }
    return {"a": a, "b": b, "buyer": buyer, "number": number, **names}


def test_filters_sorts_and_search(market: Container, world: dict[str, object]) -> None:
    a0, b0, b1 = world["a0"], world["b0"], world["b1"]
    asks = discovery.list_markets(market, mode="file", has_asks=True, sort="lowest_ask")
    assert keys(asks) == [(a0, "file"), (b1, "file")]
    assert [i.lowest_ask for i in asks.items] == [nmr("0.5"), nmr("0.8")]
    assert asks.items[0].ask_quantity == 1 and asks.items[0].lowest_ask_round == world["number"]
    cheap = discovery.list_markets(market, max_price=nmr("0.6"), sort="lowest_ask")
    assert keys(cheap) == [(a0, "stake"), (a0, "file")]
    assert [i.lowest_ask for i in cheap.items] == [nmr("0.05"), nmr("0.5")]
    assert keys(discovery.list_markets(market, min_price=nmr("0.6"))) == [(b1, "file")]
    sold_out = discovery.list_markets(market, mode="file", has_asks=False)
    assert (b0, "file") in keys(sold_out) and (a0, "file") not in keys(sold_out)

    by_volume = discovery.list_markets(market, sort="volume")
    assert keys(by_volume)[:2] == [(a0, "file"), (b0, "file")]
    assert [i.notional for i in by_volume.items[:2]] == [nmr(1), nmr("0.3")]
    # only the models their owner listed (A's first and Signals, B's two) × 2 modes: not the
    # buyer's slots nor A's unlisted model (market-rules §5.1)
    assert by_volume.total == 8
    by_sale = discovery.list_markets(market, sort="last_sale")
    assert [i.last_price for i in by_sale.items[:3]] == [nmr("0.5"), nmr("0.3"), None]
    cheapest_sale = discovery.list_markets(market, sort="last_sale", order="asc")
    assert [i.last_price for i in cheapest_sale.items[:3]] == [nmr("0.3"), nmr("0.5"), None]

    by_score = discovery.list_markets(market, sort="score")
    assert {keys(by_score)[0][0]} == {a0} and by_score.items[0].score_mean_20 is not None
    assert all(i.score_mean_20 is None for i in by_score.items[2:])
    by_stake = discovery.list_markets(market, sort="stake", tournament="classic")
    assert [i.stake for i in by_stake.items][:5] == [nmr(10)] * 4 + [None]  # A and B "_a" models
    assert by_stake.items[-1].stake is None
    by_rating = discovery.list_markets(market, sort="rating")
    assert by_rating.items[0].seller == world["a"].user.username  # type: ignore[attr-defined]
    assert by_rating.items[0].seller_rating == 5.0 and by_rating.items[0].seller_reviews == 1

    seller_b = world["b"].user.username  # type: ignore[attr-defined]
    assert {i.seller for i in discovery.list_markets(market, q=seller_b.upper()).items} == {
        seller_b
    }
    assert keys(discovery.list_markets(market, q=str(b1), sort="name")) == [
        (b1, "file"),
        (b1, "stake"),
    ]
    assert discovery.list_markets(market, q="100%_no_such").total == 0
    signals = discovery.list_markets(market, tournament="signals", sort="name")
    assert {n for n, _ in keys(signals)} == {world["as"]} and signals.total == 2  # B's unlisted

    first = discovery.list_markets(market, sort="name", per_page=3)
    second = discovery.list_markets(market, sort="name", per_page=3, page=2)
    third = discovery.list_markets(market, sort="name", per_page=3, page=3)
    assert first.pages == 3 and len(third.items) == 2
    assert len(set(keys(first) + keys(second) + keys(third))) == 8
    with pytest.raises(InvalidInput):
        discovery.list_markets(market, sort="hype")
    with pytest.raises(InvalidInput):
        discovery.list_markets(market, per_page=1000)


def test_the_list_api_and_trending(market: Container, world: dict[str, object]) -> None:
    client = api_client(market)
    page = client.get(
        "/api/v1/discover", params={"mode": "file", "has_asks": "true", "sort": "lowest_ask"}
    ).json()
    assert [(i["model_name"], i["lowest_ask"]["nmr"]) for i in page["items"]] == [
        (world["a0"], "0.50"),
        (world["b1"], "0.80"),
    ]
    assert page["total"] == 2 and page["as_of"] is not None
    cheap = client.get("/api/v1/discover", params={"max_price": "0.1"}).json()
    assert [(i["model_name"], i["mode"]) for i in cheap["items"]] == [(world["a0"], "stake")]
    assert client.get("/api/v1/discover", params={"sort": "hype"}).status_code == 422
    assert client.get("/api/v1/discover", params={"min_price": "1e3"}).status_code == 422
    trend = client.get("/api/v1/discover/trending").json()
    assert [(t["model_name"], t["recent_notional"]["nmr"]) for t in trend] == [
        (world["a0"], "1.00"),
        (world["b0"], "0.30"),
    ]
    assert trend[0]["price_change_bp"] is None  # nothing traded in the window before


def test_trending_compares_windows_and_closed_books_are_final(
    market: Container, emulator: EmulatorServer
) -> None:
    market.settings.trending_rounds = 1
    seller = trader(market, emulator, funds=nmr(100), collateral_nmr=20)
    buyer = trader(market, emulator, funds=nmr(100))
    emulator.world.advance_to_next_open()
    first = emulator.world.current_round().number
    seller.place(book(market, seller, first, "stake"), "ask", 10, "0.04")
    buyer.place(
        book(market, seller, first, "stake"), "bid", 10, "0.04", slot_model_id=buyer.model(0)
    )
    report = discovery.refresh(market)
    assert report.reference_round == first
    emulator.world.advance_to_next_open()
    instruments.close_books(market)
    second = emulator.world.current_round().number
    seller.place(book(market, seller, second, "stake"), "ask", 20, "0.05")
    buyer.place(
        book(market, seller, second, "stake"), "bid", 20, "0.05", slot_model_id=buyer.model(0)
    )
    report = discovery.refresh(market)
    assert report.reference_round == second
    [top] = discovery.trending(market)
    assert top.model_name == seller.numerai.classic[0] and top.mode == "stake"
    assert (top.recent_notional, top.prior_notional) == (nmr(1), nmr("0.4"))
    assert top.price_change_bp == 2_500  # 0.04 → 0.05
    assert top.volume_change_bp == 15_000
    assert top.notional == nmr("1.4") and top.trades == 2 and top.last_price == nmr("0.05")
    with market.db.transaction() as s:
        closed = s.scalars(
            select(InstrumentStats).where(InstrumentStats.round_number == first)
        ).all()
    assert closed and all(row.final for row in closed)
    assert {row.notional for row in closed if row.trades} == {nmr("0.4")}
    again = discovery.refresh(market)
    assert again.stats_updated < report.stats_updated + len(closed)


def test_the_worker_tick_syncs_track_records_and_refreshes_the_list(
    market: Container, emulator: EmulatorServer
) -> None:
    from nmrx.worker import tick

    emulator.world.advance_to_next_open()
    seller = trader(market, emulator, funds=nmr(100), collateral_nmr=20)
    number = emulator.world.current_round().number
    seller.place(book(market, seller, number, "file"), "ask", 1, "0.7")
    assert discovery.list_markets(market).total == 0  # not refreshed yet
    report = tick(market)
    assert "listings: 2 markets" in report["reputation"], report  # the listed model
    page = discovery.list_markets(market, has_asks=True)
    assert keys(page) == [(seller.numerai.classic[0], "file")]
    assert page.items[0].stake == nmr(10)  # the track record was synced by the same tick
