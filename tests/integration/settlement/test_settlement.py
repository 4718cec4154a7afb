"""Settlement scenarios against the emulator: the exact final balance of every party.

Every scenario ends with the ledger invariants checked by the ``market`` fixture."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from nmrx.delivery import service as delivery
from nmrx.delivery import uploads
from nmrx.market.tables import Fill
from nmrx.platform.bootstrap import Container
from nmrx.settlement import service as settlement
from nmrx.settlement.tables import FillEvent
from nmrx.wallet import service as wallet
from nmrx.wallet.ledger import check
from nmrx.wallet.money import nmr
from numerai_emulator import EmulatorServer
from tests.support.market import Trader, fills_of, instrument, predictions, trader

SELLER_FUNDS, SELLER_COLLATERAL, BUYER_FUNDS = nmr(200), 30, nmr(200)


def balances(market: Container, who: Trader) -> tuple[int, int, int]:
    b = wallet.balances(market.db, user_id=who.id)
    return b.available, b.held, b.collateral


def fees(market: Container) -> int:
    from nmrx.wallet.tables import LedgerAccount

    with market.db.transaction() as s:
        row = s.scalars(select(LedgerAccount).where(LedgerAccount.key == "platform:fees")).one()
        return row.credits - row.debits


def state(market: Container, fill_id: int) -> str:
    with market.db.transaction() as s:
        return s.get(Fill, fill_id).state


def run(market: Container) -> None:
    """One worker tick's delivery and settlement duties."""
    delivery.run_once(market)
    settlement.reconcile(market)


class Round:
    def __init__(self, market: Container, emulator: EmulatorServer) -> None:
        self.market, self.emulator, self.world = market, emulator, emulator.world
        self.world.advance_to_next_open()
        self.number = self.world.current_round().number
        self.seller = trader(market, emulator, funds=SELLER_FUNDS, collateral_nmr=SELLER_COLLATERAL)
        self.fees_before = fees(market)

    def market_of(self, mode: str) -> int:
        return instrument(
            self.market, model_id=self.seller.model(), round_number=self.number, mode=mode
        )

    def upload(self, seed: int = 1, *, own: bool = True) -> bytes:
        content = predictions(self.emulator, self.number, seed=seed)
        uploads.upload_predictions(
            self.market,
            user_id=self.seller.id,
            model_id=self.seller.model(),
            content=content,
            filename="p.csv",
            submit_to_own_model=own,
        )
        run(self.market)
        return content

    def close_and_score(self) -> None:
        self.world.advance_to_next_close()
        run(self.market)
        self.world.advance_days(4)
        run(self.market)


def stake_buy(r: Round, qty: int = 10, price: str = "0.05") -> tuple[Trader, int]:
    buyer = trader(r.market, r.emulator, funds=BUYER_FUNDS)
    stake = r.market_of("stake")
    r.seller.place(stake, "ask", 100, price)
    buyer.place(stake, "bid", qty, price, slot_model_id=buyer.model(0))
    return buyer, fills_of(r.market, stake)[-1].id


def test_honest_seller_file_mode_is_paid_at_delivery(
    market: Container, emulator: EmulatorServer
) -> None:
    r = Round(market, emulator)
    buyer = trader(market, emulator, funds=BUYER_FUNDS)
    files = r.market_of("file")
    r.seller.place(files, "ask", 2, "0.5")
    buyer.place(files, "bid", 1, "0.5")
    fill_id = fills_of(market, files)[0].id
    run(market)
    assert state(market, fill_id) == "pending_delivery"
    r.upload()
    assert state(market, fill_id) == "released"
    assert balances(market, buyer) == (nmr("199.5"), 0, 0)
    assert balances(market, r.seller) == (nmr("170.49"), 0, nmr(30))
    assert fees(market) - r.fees_before == nmr("0.01")


def test_honest_seller_stake_mode_is_paid_after_matching_scores(
    market: Container, emulator: EmulatorServer
) -> None:
    r = Round(market, emulator)
    buyer, fill_id = stake_buy(r)
    assert balances(market, buyer) == (
        nmr("199.0"),
        0,
        nmr("0.5"),
    )  # 0.5 notional in escrow, 0.5 collateral
    r.upload()
    assert state(market, fill_id) == "delivered"
    r.world.advance_to_next_close()
    run(market)
    assert state(market, fill_id) == "awaiting_scores"
    r.world.advance_days(4)
    run(market)
    assert state(market, fill_id) == "released"
    assert balances(market, buyer) == (nmr("199.5"), 0, 0)
    assert balances(market, r.seller) == (nmr("170.49"), 0, nmr(30))


def test_honest_seller_file_mode_with_a_verification_slot(
    market: Container, emulator: EmulatorServer
) -> None:
    r = Round(market, emulator)
    buyer = trader(market, emulator, funds=BUYER_FUNDS)
    files = r.market_of("file")
    r.seller.place(files, "ask", 2, "0.5")
    buyer.place(files, "bid", 1, "0.5", slot_model_id=buyer.model(0))
    fill_id = fills_of(market, files)[0].id
    r.upload()
    assert state(market, fill_id) == "delivered"  # protected: not paid at delivery
    r.close_and_score()
    assert state(market, fill_id) == "released"
    assert balances(market, buyer) == (nmr("199.5"), 0, 0)
    assert balances(market, r.seller) == (nmr("170.49"), 0, nmr(30))


def test_cheating_seller_sells_a_but_submits_b_and_is_penalised(
    market: Container, emulator: EmulatorServer
) -> None:
    r = Round(market, emulator)
    buyer, fill_id = stake_buy(r)
    r.upload(seed=1, own=False)
    other = predictions(emulator, r.number, seed=99)
    key = r.seller.numerai.key
    market.numerai.upload(
        key,
        model_id=r.seller.numerai.model_id(r.seller.numerai.classic[0]),
        tournament="classic",
        content=other,
        filename="b.csv",
    )
    r.close_and_score()
    assert state(market, fill_id) == "refunded"
    assert balances(market, buyer) == (
        nmr("200.5"),
        0,
        0,
    )  # refund 0.5 + collateral 0.5 + penalty 0.5
    assert balances(market, r.seller) == (nmr(170), 0, nmr("29.5"))
    with market.db.transaction() as s:
        detail = s.scalars(
            select(FillEvent.detail).where(
                FillEvent.fill_id == fill_id, FillEvent.to_state == "refunded"
            )
        ).one()
    assert "scored differently" in detail and "0.50 NMR penalty" in detail


def test_seller_not_submitting_to_their_own_model_is_penalised(
    market: Container, emulator: EmulatorServer
) -> None:
    r = Round(market, emulator)
    buyer, fill_id = stake_buy(r)
    r.upload(own=False)
    r.close_and_score()
    assert state(market, fill_id) == "refunded"
    assert balances(market, buyer) == (nmr("200.5"), 0, 0)
    assert balances(market, r.seller) == (nmr(170), 0, nmr("29.5"))


def test_a_buyer_overriding_the_submission_loses_protection(
    market: Container, emulator: EmulatorServer
) -> None:
    r = Round(market, emulator)
    buyer, fill_id = stake_buy(r)
    r.upload(seed=1, own=False)  # the seller would fail the check…
    slot = buyer.numerai.model_id(buyer.numerai.classic[0])
    market.numerai.upload(
        buyer.numerai.key,
        model_id=slot,
        tournament="classic",
        content=predictions(emulator, r.number, seed=7),
        filename="mine.csv",
    )
    r.close_and_score()
    assert state(market, fill_id) == "released"  # …but the buyer overrode: no protection
    assert balances(market, buyer) == (nmr("199.5"), 0, 0)
    assert balances(market, r.seller) == (nmr("170.49"), 0, nmr(30))


def test_an_over_staking_buyer_forfeits_collateral_to_the_seller(
    market: Container, emulator: EmulatorServer
) -> None:
    r = Round(market, emulator)
    buyer, fill_id = stake_buy(r)  # allowance: 10 NMR
    emulator.world.set_stake(buyer.numerai.classic[0], "25")
    r.upload()
    r.close_and_score()
    assert state(market, fill_id) == "released"
    assert balances(market, buyer) == (nmr("199.0"), 0, 0)
    assert balances(market, r.seller) == (nmr("170.99"), 0, nmr(30))


def test_seller_not_uploading_refunds_everyone_with_a_penalty(
    market: Container, emulator: EmulatorServer
) -> None:
    r = Round(market, emulator)
    file_buyer = trader(market, emulator, funds=BUYER_FUNDS)
    files = r.market_of("file")
    r.seller.place(files, "ask", 2, "0.5")
    file_buyer.place(files, "bid", 1, "0.5")
    stake_buyer, stake_fill = stake_buy(r)
    run(market)
    assert {state(market, f.id) for f in fills_of(market, files)} == {"pending_delivery"}
    r.world.advance_to_next_close()
    run(market)
    assert state(market, stake_fill) == "refunded"
    assert balances(market, file_buyer) == (nmr("200.05"), 0, 0)
    assert balances(market, stake_buyer) == (nmr("200.05"), 0, 0)
    assert balances(market, r.seller) == (nmr(170), 0, nmr("29.9"))


def test_a_numerai_outage_through_scoring_delays_but_does_not_decide(
    market: Container, emulator: EmulatorServer
) -> None:
    r = Round(market, emulator)
    buyer, fill_id = stake_buy(r)
    r.upload()
    r.world.advance_to_next_close()
    r.world.faults.outage(minutes=6 * 24 * 60)
    run(market)
    assert state(market, fill_id) == "delivered"
    r.world.advance_days(4)
    run(market)
    assert state(market, fill_id) == "delivered"
    assert balances(market, buyer) == (nmr("199.0"), 0, nmr("0.5"))
    r.world.faults.clear()
    run(market)
    assert state(market, fill_id) == "released"
    assert balances(market, buyer) == (nmr("199.5"), 0, 0)
    assert balances(market, r.seller) == (nmr("170.49"), 0, nmr(30))


def test_two_reconcilers_at_once_settle_each_fill_exactly_once(
    market: Container, emulator: EmulatorServer
) -> None:
    r = Round(market, emulator)
    buyers = [trader(market, emulator, funds=BUYER_FUNDS) for _ in range(6)]
    files = r.market_of("file")
    r.seller.place(files, "ask", 6, "0.5")
    for b in buyers:
        b.place(files, "bid", 1, "0.5")
    content = predictions(emulator, r.number, seed=1)
    uploads.upload_predictions(
        market, user_id=r.seller.id, model_id=r.seller.model(), content=content, filename="p.csv"
    )
    delivery.run_once(market)
    errors: list[BaseException] = []

    def reconcile() -> None:
        try:
            for _ in range(3):
                settlement.reconcile(market)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reconcile) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ids = [f.id for f in fills_of(market, files)]
    assert {state(market, i) for i in ids} == {"released"}
    with market.db.transaction() as s:
        per_fill = s.execute(
            select(FillEvent.fill_id, func.count()).group_by(FillEvent.fill_id)
        ).all()
    assert sorted(per_fill) == [(i, 1) for i in ids]
    for b in buyers:
        assert balances(market, b) == (nmr("199.5"), 0, 0)
    assert balances(market, r.seller) == (nmr(170) + 6 * nmr("0.49"), 0, nmr(30))
    assert check(market.db) == []


def test_the_timeline_explains_each_step_to_buyer_and_seller_only(
    market: Container, emulator: EmulatorServer
) -> None:
    from nmrx.platform.errors import NotFound

    r = Round(market, emulator)
    buyer, fill_id = stake_buy(r)
    r.upload()
    r.close_and_score()
    _, entries = settlement.timeline(market, user_id=buyer.id, fill_id=fill_id)
    assert [e.state for e in entries] == [
        "pending_delivery",
        "delivered",
        "awaiting_scores",
        "released",
    ]
    assert "consistency check passed" in entries[-1].detail
    settlement.timeline(market, user_id=r.seller.id, fill_id=fill_id)
    stranger = trader(market, emulator)
    with pytest.raises(NotFound):
        settlement.timeline(market, user_id=stranger.id, fill_id=fill_id)


def test_the_api_shows_purchases_sales_and_timelines_to_their_parties_only(
    market: Container, emulator: EmulatorServer
) -> None:
    from tests.support.builders import api_client, bearer, make_token

    r = Round(market, emulator)
    buyer = trader(market, emulator, funds=BUYER_FUNDS)
    files = r.market_of("file")
    r.seller.place(files, "ask", 2, "0.5")
    buyer.place(files, "bid", 1, "0.5")
    fill_id = fills_of(market, files)[0].id
    r.world.advance_to_next_close()
    run(market)
    client = api_client(market)
    as_buyer = bearer(make_token(market, buyer.user))
    as_seller = bearer(make_token(market, r.seller.user))
    purchases = client.get("/api/v1/fills?role=buyer", headers=as_buyer).json()
    assert [(p["id"], p["state"], p["role"]) for p in purchases] == [(fill_id, "refunded", "buyer")]
    assert (
        "did not upload" in purchases[0]["explanation"] and "penalty" in purchases[0]["explanation"]
    )
    assert client.get("/api/v1/fills?role=seller", headers=as_buyer).json() == []
    assert [s["id"] for s in client.get("/api/v1/fills?role=seller", headers=as_seller).json()] == [
        fill_id
    ]
    steps = client.get(f"/api/v1/fills/{fill_id}/timeline", headers=as_seller).json()["steps"]
    assert [s["state"] for s in steps] == ["pending_delivery", "refunded"]
    stranger = bearer(make_token(market, trader(market, emulator).user))
    assert client.get(f"/api/v1/fills/{fill_id}/timeline", headers=stranger).status_code == 404
    assert client.get("/api/v1/fills?role=admin", headers=as_buyer).status_code == 422


def test_two_protected_fills_on_one_slot_are_both_protected(
    market: Container, emulator: EmulatorServer
) -> None:
    """The last delivery is selected for the slot: it counts as ours for every fill of it."""
    r = Round(market, emulator)
    buyer = trader(market, emulator, funds=BUYER_FUNDS)
    stake = r.market_of("stake")
    r.seller.place(stake, "ask", 5, "0.05")
    r.seller.place(stake, "ask", 5, "0.06")
    buyer.place(stake, "bid", 10, "0.06", slot_model_id=buyer.model(0))
    fill_ids = [f.id for f in fills_of(market, stake)]
    assert len(fill_ids) == 2
    r.upload(seed=1, own=False)
    other = predictions(emulator, r.number, seed=98)
    market.numerai.upload(
        r.seller.numerai.key,
        model_id=r.seller.numerai.model_id(r.seller.numerai.classic[0]),
        tournament="classic",
        content=other,
        filename="b.csv",
    )
    r.close_and_score()
    assert [state(market, i) for i in fill_ids] == ["refunded", "refunded"]


def _select_after_close(world, model_id: str, round_number: int, content: bytes, filename: str):  # type: ignore[no-untyped-def]
    """Make a new submission the selected one of a closed round on ``model_id``. Numerai
    refuses uploads to a closed round (so does the emulator): the emulator's control stands
    in for a change we could not otherwise cause."""
    sub = world.record_submission(model_id, round_number, content, filename)
    assert world.selected_submission(world.model(model_id).id, round_number) is sub
    return sub


@pytest.mark.parametrize("reconciled_before_scores", [False, True])
def test_an_override_after_the_close_is_caught_when_scores_arrive(
    market: Container, emulator: EmulatorServer, reconciled_before_scores: bool
) -> None:
    """§5.3: ours must still be selected when the round closes AND when scores arrive. An
    honest seller, ours selected at close; then the slot's selection changes to a file of
    the buyer's that scores differently. Without the second check the buyer would be
    refunded with a penalty; with it, the fill is released, unprotected — at the first
    pass that sees the change, whether the scores are out yet or not."""
    from nmrx.platform.numerai import NumeraiError

    r = Round(market, emulator)
    buyer, fill_id = stake_buy(r)
    r.upload(seed=1)  # honest: the same file on the seller's own model
    r.world.advance_to_next_close()
    run(market)
    assert state(market, fill_id) == "awaiting_scores"
    slot = buyer.numerai.model_id(buyer.numerai.classic[0])
    mine = predictions(emulator, r.number, seed=7)
    with pytest.raises(NumeraiError):  # the round is closed: no upload goes to it any more
        market.numerai.upload(
            buyer.numerai.key, model_id=slot, tournament="classic", content=mine, filename="m.csv"
        )
    override = _select_after_close(r.world, slot, r.number, mine, "mine.csv")
    seller_sub = r.world.selected_submission(
        r.seller.numerai.model_id(r.seller.numerai.classic[0]), r.number
    )
    assert seller_sub is not None
    assert (
        abs(override.scores.value("v2_corr20", 1) - seller_sub.scores.value("v2_corr20", 1)) > 1e-6
    )
    if reconciled_before_scores:
        run(market)  # no score yet, but ours is no longer selected: no reason to wait
        assert state(market, fill_id) == "released"
    r.world.advance_days(4)  # the first daily score of both models is out
    run(market)
    assert state(market, fill_id) == "released"
    assert balances(market, buyer) == (nmr("199.5"), 0, 0)  # collateral back, no refund
    assert balances(market, r.seller) == (nmr("170.49"), 0, nmr(30))  # paid, no penalty
    assert fees(market) - r.fees_before == nmr("0.01")
    with market.db.transaction() as s:
        history = s.execute(
            select(FillEvent.from_state, FillEvent.to_state, FillEvent.reason, FillEvent.detail)
            .where(FillEvent.fill_id == fill_id)
            .order_by(FillEvent.id)
        ).all()
    assert [(h[0], h[1], h[2]) for h in history] == [
        ("pending_delivery", "delivered", "submitted"),
        ("delivered", "awaiting_scores", "selected_at_close"),
        ("awaiting_scores", "released", "override"),
    ]
    assert "replaced the automatic submission" in history[-1][3]
    assert "penalty" not in history[-1][3]
    assert check(market.db) == []


def test_a_buyer_key_without_upload_scope_releases_to_the_seller(
    market: Container, emulator: EmulatorServer
) -> None:
    from nmrx.sellers import numerai_keys
    from tests.support.emulator import key_with_scopes

    r = Round(market, emulator)
    buyer, fill_id = stake_buy(r)
    weak = key_with_scopes(emulator.world, buyer.numerai.username, ["read_user_info"])
    numerai_keys.add_key(market, user_id=buyer.id, public_id=weak.public_id, secret=weak.secret)
    r.upload()
    assert state(market, fill_id) == "released"  # at once: no close, no scores to wait for
    assert balances(market, buyer) == (nmr("199.5"), 0, 0)
    assert balances(market, r.seller) == (nmr("170.49"), 0, nmr(30))
    assert fees(market) - r.fees_before == nmr("0.01")
    with market.db.transaction() as s:
        history = s.execute(
            select(FillEvent.to_state, FillEvent.reason).where(FillEvent.fill_id == fill_id)
        ).all()
    assert history == [("released", "buyer_delivery_fault")]
    r.close_and_score()  # nothing moves a final fill
    assert state(market, fill_id) == "released"
    assert balances(market, buyer) == (nmr("199.5"), 0, 0)
    assert balances(market, r.seller) == (nmr("170.49"), 0, nmr(30))


def test_a_penalty_withdraws_the_asks_the_collateral_no_longer_covers(
    market: Container, emulator: EmulatorServer
) -> None:
    """Issue 14, finding 10 (market-rules §5.1): open asks reserve collateral; when a
    penalty takes some, the seller's newest asks go until what is left covers the rest."""
    from nmrx.market.tables import MarketOrder

    r = Round(market, emulator)
    buyer, fill_id = stake_buy(r)  # 100 @ 0.05 asked (5 NMR), 10 bought
    later = instrument(market, model_id=r.seller.model(), round_number=r.number + 1, mode="file")
    big = r.seller.place(later, "ask", 95, "1").order.id  # 100 NMR committed: 30 NMR exactly
    r.upload(own=False)
    r.close_and_score()
    assert state(market, fill_id) == "refunded"  # penalty 0.5: 29.5 NMR cover 97.5 NMR
    with market.db.transaction() as s:
        asks = {
            o.id: (o.state, o.cancel_reason)
            for o in s.scalars(select(MarketOrder).where(MarketOrder.user_id == r.seller.id))
        }
    assert asks.pop(big) == ("cancelled", "collateral")
    assert set(asks.values()) == {("open", None)}  # 4.5 NMR of the stake ask: still covered
