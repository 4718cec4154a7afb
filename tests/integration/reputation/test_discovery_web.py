"""The pages: the market list with filters, a track record with reviews, the seller page's
standing, and the review and reply forms (login and CSRF)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from nmrx.platform.bootstrap import Container
from nmrx.reputation import discovery, reviews
from nmrx.reputation import track_records as performance
from numerai_emulator import EmulatorServer
from tests.support.builders import UserRef, api_client, browser_login, csrf_token
from tests.support.trading import Scenario


def login(market: Container, user: UserRef) -> TestClient:
    return browser_login(market, user.username)


def sold(market: Container, emulator: EmulatorServer) -> tuple[Scenario, int]:
    """A seller who sold one copy (released) of their first model."""
    sc = Scenario.start(market, emulator)
    sc.next_round()
    fill = sc.sell_file(sc.buyer())
    sc.upload()
    return sc, fill


def test_the_market_list_page_filters_sorts_and_pages(
    market: Container, emulator: EmulatorServer
) -> None:
    sc, _ = sold(market, emulator)
    sc.seller.place(sc.book("stake"), "ask", 50, "0.07")
    sc.seller.place(sc.book("file", model=1), "ask", 1, "0.9")  # the seller's second market
    discovery.refresh(market)
    client = api_client(market)
    page = client.get("/markets")
    assert page.status_code == 200
    model = sc.seller.numerai.classic[0]
    assert f'href="/models/{sc.seller.model()}?mode=file">{model}</a>' in page.text
    # the two models the seller listed, in both modes; the buyer's slots are not markets
    assert "4 markets" in page.text and "Trending" in page.text
    stake = client.get(
        "/markets", params={"mode": "stake", "has_asks": "true", "sort": "lowest_ask"}
    )
    listed = stake.text.split('id="trending-title"')[0]
    assert "1 market ·" in listed and "0.07" in listed
    assert f'?mode=file">{model}' not in listed
    first = client.get("/markets", params={"sort": "name", "per_page": 1, "mode": "file"})
    assert "2 markets · page 1 of 2" in first.text and 'rel="prev"' not in first.text
    link = re.search(r'href="/markets\?([^"]*)" rel="next"', first.text)
    assert link and "mode=file" in link.group(1) and "page=2" in link.group(1)
    second = client.get("/markets?" + link.group(1).replace("&amp;", "&"))
    assert "page 2 of 2" in second.text and 'rel="next"' not in second.text
    whole = client.get("/markets", params={"sort": "name"})
    assert 'rel="next"' not in whole.text  # 4 markets fit one page of 25
    bad = client.get("/markets", params={"min_price": "cheap"})
    assert bad.status_code == 422 and "lowest ask from" in bad.text


def test_track_record_page_and_the_review_form(market: Container, emulator: EmulatorServer) -> None:
    sc, fill = sold(market, emulator)
    model = sc.seller.model()
    path = f"/models/{model}/track-record"
    anonymous = api_client(market)
    page = anonymous.get(path)
    assert (
        page.status_code == 200 and "Not synced yet" in page.text and "No reviews yet" in page.text
    )
    assert 'action="/models/' not in page.text  # no forms for visitors
    emulator.world.advance_days(5)
    performance.sync_model(market, model_id=model)
    page = anonymous.get(path)
    assert "Synced" in page.text and "last 20" in page.text and "<svg" in page.text

    buyer = login(market, sc.buyers[0].user)
    form_page = buyer.get(path)
    assert f'<option value="{fill}">' in form_page.text
    token = csrf_token(buyer, path)
    refused = buyer.post(path.replace("track-record", "reviews"), data={"rating": "5", "text": "x"})
    assert refused.status_code == 403  # no CSRF token
    posted = buyer.post(
        f"/models/{model}/reviews",
        data={
            "rating": "4",
            "text": "on time, good file",
            "fill_id": str(fill),
            "csrf_token": token,
            "back": path,
        },
    )
    assert posted.status_code == 200 and "verified purchase" in posted.text
    assert "on time, good file" in posted.text and "★★★★☆" in posted.text
    again = buyer.post(
        f"/models/{model}/reviews",
        data={
            "rating": "4",
            "text": "twice",
            "fill_id": str(fill),
            "csrf_token": token,
            "back": path,
        },
    )
    assert "already reviewed this purchase" in again.text

    stranger = api_client(market)
    r = stranger.post(
        f"/models/{model}/reviews",
        data={"rating": "1", "text": "x", "csrf_token": csrf_token(stranger, "/login")},
    )
    assert r.status_code == 200 and r.url.path == "/login"


def test_the_seller_page_shows_standing_and_the_seller_replies(
    market: Container, emulator: EmulatorServer
) -> None:
    sc, fill = sold(market, emulator)
    review = reviews.create_review(
        market, user_id=sc.buyers[0].id, model_id=sc.seller.model(), rating=3, text="fine"
    )
    name = sc.seller.user.username
    page = api_client(market).get(f"/sellers/{name}")
    assert page.status_code == 200
    assert "Standing" in page.text and "100 %" in page.text  # on time in its one round
    assert "1 of 1 rounds with sales" in page.text and "3.0 / 5" in page.text
    assert "fine" in page.text and "Your reply" not in page.text

    seller = login(market, sc.seller.user)
    mine = seller.get(f"/sellers/{name}")
    assert f'action="/reviews/{review.id}/reply"' in mine.text
    replied = seller.post(
        f"/reviews/{review.id}/reply",
        data={
            "text": "thank you",
            "csrf_token": csrf_token(seller, f"/sellers/{name}"),
            "back": f"/sellers/{name}",
        },
    )
    assert replied.status_code == 200 and "thank you" in replied.text and "replied" in replied.text
    assert f'action="/reviews/{review.id}/reply"' not in replied.text
    buyer = login(market, sc.buyers[0].user)
    r = buyer.post(
        f"/reviews/{review.id}/reply",
        data={"text": "me too", "csrf_token": csrf_token(buyer, f"/sellers/{name}")},
    )
    assert "only the seller" in r.text.lower()
