"""Verified reviews: only a buyer of a settled fill, one per purchase; one reply by the
seller; who may do what over the API."""

from __future__ import annotations

import threading

import pytest

from nmrx.platform.bootstrap import Container
from nmrx.platform.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceError
from nmrx.reputation import reviews
from numerai_emulator import EmulatorServer
from tests.support.builders import api_client, bearer, make_token
from tests.support.trading import Scenario


@pytest.fixture
def sc(market: Container, emulator: EmulatorServer) -> Scenario:
    s = Scenario.start(market, emulator)
    s.next_round()
    return s


def test_a_buyer_may_review_only_after_the_purchase_settled(sc: Scenario) -> None:
    market, model = sc.market, sc.seller.model()
    buyer = sc.buyer()
    fill = sc.sell_file(buyer)
    with pytest.raises(Forbidden, match="not settled yet"):
        reviews.create_review(market, user_id=buyer.id, model_id=model, rating=5, text="fast")
    assert reviews.reviewable(market, user_id=buyer.id, model_id=model) == []
    sc.upload()  # delivered, File Mode without slot: released
    [open_one] = reviews.reviewable(market, user_id=buyer.id, model_id=model)
    assert open_one.fill_id == fill and open_one.state == "released"
    review = reviews.create_review(
        market, user_id=buyer.id, model_id=model, rating=5, text="  fast and clean  "
    )
    assert (review.fill_id, review.rating, review.text, review.verified) == (
        fill,
        5,
        "fast and clean",
        True,
    )
    assert (review.outcome, review.round_number, review.mode) == ("released", sc.number, "file")
    assert (review.buyer, review.seller) == (buyer.user.username, sc.seller.user.username)
    assert reviews.reviewable(market, user_id=buyer.id, model_id=model) == []


def test_a_stranger_without_a_purchase_is_refused(sc: Scenario) -> None:
    stranger = sc.buyer()
    with pytest.raises(Forbidden, match="only the buyer"):
        reviews.create_review(
            sc.market, user_id=stranger.id, model_id=sc.seller.model(), rating=1, text="bad"
        )


def test_one_review_per_purchase(sc: Scenario) -> None:
    market, model = sc.market, sc.seller.model()
    buyer = sc.buyer()
    first = sc.sell_file(buyer)
    second = sc.sell_file(buyer)
    sc.upload()
    reviews.create_review(market, user_id=buyer.id, model_id=model, rating=4, text="one")
    with pytest.raises(Conflict, match="already reviewed"):
        reviews.create_review(
            market, user_id=buyer.id, model_id=model, rating=4, text="again", fill_id=first
        )
    again = reviews.create_review(market, user_id=buyer.id, model_id=model, rating=3, text="two")
    assert again.fill_id == second  # the next settled purchase not reviewed
    with pytest.raises(Conflict, match="already reviewed"):
        reviews.create_review(market, user_id=buyer.id, model_id=model, rating=3, text="three")
    assert [r.fill_id for r in reviews.of_model(market, model_id=model)] == [second, first]


def test_nobody_reviews_a_purchase_that_is_not_theirs_or_of_another_model(sc: Scenario) -> None:
    market, model = sc.market, sc.seller.model()
    buyer, other = sc.buyer(), sc.buyer()
    fill = sc.sell_file(buyer)
    sc.sell_file(other)
    sc.upload()
    with pytest.raises(Forbidden):
        reviews.create_review(
            market, user_id=other.id, model_id=model, rating=1, text="x", fill_id=fill
        )
    with pytest.raises(Forbidden):
        reviews.create_review(
            market, user_id=buyer.id, model_id=sc.seller.model(1), rating=1, text="x", fill_id=fill
        )
    with pytest.raises(NotFound):
        reviews.create_review(market, user_id=buyer.id, model_id=987654, rating=1, text="x")


@pytest.mark.parametrize(("rating", "text"), [(0, "ok"), (6, "ok"), (3, ""), (3, "x" * 2001)])
def test_ratings_and_texts_out_of_bounds_are_refused(sc: Scenario, rating: int, text: str) -> None:
    buyer = sc.buyer()
    sc.sell_file(buyer)
    sc.upload()
    with pytest.raises(InvalidInput):
        reviews.create_review(
            sc.market, user_id=buyer.id, model_id=sc.seller.model(), rating=rating, text=text
        )


def test_the_seller_replies_once_and_nobody_else_does(sc: Scenario) -> None:
    market, model = sc.market, sc.seller.model()
    buyer = sc.buyer()
    sc.sell_file(buyer)
    sc.upload()
    review = reviews.create_review(market, user_id=buyer.id, model_id=model, rating=2, text="meh")
    for who in (buyer, sc.buyer()):
        with pytest.raises(Forbidden, match="only the seller"):
            reviews.reply(market, user_id=who.id, review_id=review.id, text="hi")
    answered = reviews.reply(market, user_id=sc.seller.id, review_id=review.id, text="sorry!")
    assert answered.reply == "sorry!" and answered.replied_at is not None
    with pytest.raises(Conflict, match="already replied"):
        reviews.reply(market, user_id=sc.seller.id, review_id=review.id, text="again")
    with pytest.raises(NotFound):
        reviews.reply(market, user_id=sc.seller.id, review_id=review.id + 999, text="x")
    [shown] = reviews.of_seller(market, username=sc.seller.user.username)
    assert shown.reply == "sorry!"


def test_two_reviews_of_one_purchase_at_once_land_once(sc: Scenario) -> None:
    market, model = sc.market, sc.seller.model()
    buyer = sc.buyer()
    fill = sc.sell_file(buyer)
    sc.upload()
    outcomes: list[object] = []

    def post() -> None:
        try:
            outcomes.append(
                reviews.create_review(
                    market, user_id=buyer.id, model_id=model, rating=5, text="x", fill_id=fill
                )
            )
        except ServiceError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(o, reviews.ReviewView) for o in outcomes) == 1
    assert sum(isinstance(o, Conflict) for o in outcomes) == 3
    assert len(reviews.of_model(market, model_id=model)) == 1


def test_review_api_authorisation(sc: Scenario) -> None:
    market, model = sc.market, sc.seller.model()
    buyer = sc.buyer()
    fill = sc.sell_file(buyer)
    sc.upload()
    client = api_client(market)
    path = f"/api/v1/models/{model}/reviews"
    body = {"rating": 5, "text": "great", "fill_id": fill}
    assert client.post(path, json=body).status_code == 401
    read_only = bearer(make_token(market, buyer.user, scopes="read"))
    assert client.post(path, json=body, headers=read_only).status_code == 403
    as_buyer = bearer(make_token(market, buyer.user, scopes="read trade"))
    open_ones = client.get(f"/api/v1/models/{model}/reviewable", headers=read_only).json()
    assert [(r["fill_id"], r["state"]) for r in open_ones] == [(fill, "released")]
    assert client.get(f"/api/v1/models/{model}/reviewable").status_code == 401
    assert client.post(path, json={**body, "rating": 4.5}, headers=as_buyer).status_code == 422
    assert client.post(path, json={**body, "rating": 0}, headers=as_buyer).status_code == 422
    created = client.post(path, json=body, headers=as_buyer)
    assert created.status_code == 201, created.text
    review = created.json()
    assert review["verified"] is True and review["fill_id"] == fill
    assert client.post(path, json=body, headers=as_buyer).status_code == 409
    stranger = bearer(make_token(market, sc.buyer().user))
    assert client.post(path, json={"rating": 1, "text": "x"}, headers=stranger).status_code == 403

    reply = f"/api/v1/reviews/{review['id']}/reply"
    assert client.post(reply, json={"text": "thanks"}).status_code == 401
    assert client.post(reply, json={"text": "thanks"}, headers=as_buyer).status_code == 403
    seller_read = bearer(make_token(market, sc.seller.user, scopes="read"))
    assert client.post(reply, json={"text": "thanks"}, headers=seller_read).status_code == 403
    as_seller = bearer(make_token(market, sc.seller.user))
    answered = client.post(reply, json={"text": "thanks"}, headers=as_seller)
    assert answered.status_code == 200 and answered.json()["reply"] == "thanks"
    assert client.post(reply, json={"text": "again"}, headers=as_seller).status_code == 409

    public = client.get(path).json()
    assert [(r["id"], r["reply"]) for r in public] == [(review["id"], "thanks")]
    seller_page = client.get(f"/api/v1/sellers/{sc.seller.user.username}/reviews").json()
    assert [r["id"] for r in seller_page] == [review["id"]]
