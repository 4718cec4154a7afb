"""What `nmrx demo` seeds, read through the public JSON API of the running demo: a living
market a newcomer can trade in at once (issue: a demo that sells itself)."""

from __future__ import annotations

import httpx

SELLERS = ["alice", "carol", "dora", "erik", "fatima", "gus"]


def test_the_demo_seeds_twenty_models_of_several_sellers_with_books_on_five_rounds(
    demo_server: str,
) -> None:
    markets = httpx.get(f"{demo_server}/api/v1/markets", timeout=60).json()
    # the demo's own sellers (other browser tests add sellers of their own to the same demo)
    seeded = [m for m in markets if m["owner"] in SELLERS]
    listed = [m for m in seeded if any(i["best_ask"] for i in m["instruments"])]
    models = {m["model_id"]: m["owner"] for m in listed}
    assert len(models) >= 20, models
    assert set(models.values()) >= set(SELLERS), models
    for market in listed:  # the open round and the next four, every one of them asked
        rounds = [i["round_number"] for i in market["instruments"] if i["best_ask"]]
        assert len(rounds) == 5 and rounds == list(range(rounds[0], rounds[0] + 5)), market
    bids = [i for m in markets for i in m["instruments"] if i["best_bid"]]
    assert bids, "no resting bid anywhere: the demo should show both sides of a book"


def test_the_demo_has_a_settled_round_with_verified_reviews_from_its_buyers(
    demo_server: str,
) -> None:
    reviews = [
        r
        for seller in SELLERS
        for r in httpx.get(f"{demo_server}/api/v1/sellers/{seller}/reviews", timeout=60).json()
    ]
    assert len({r["seller"] for r in reviews}) >= 3, reviews
    assert all(r["verified"] and r["outcome"] in {"released", "refunded"} for r in reviews)
    assert all(1 <= r["rating"] <= 5 and r["text"] for r in reviews)
    assert {r["buyer"] for r in reviews} <= {"bob", "hank", "iris"}
