"""A seller's standing moves with the record: an honest round, a failed consistency check,
a late delivery, reviews — each figure traceable to the records it counts."""

from __future__ import annotations

import re

from nmrx.platform.bootstrap import Container
from nmrx.reputation import reviews, standing
from nmrx.wallet.money import nmr
from numerai_emulator import EmulatorServer
from tests.support.builders import api_client
from tests.support.market import fills_of
from tests.support.trading import Scenario, run


def state_of(market: Container, fill_id: int) -> str:
    from nmrx.market.tables import Fill

    with market.db.transaction() as s:
        return s.get(Fill, fill_id).state


def test_standing_follows_an_honest_round_a_failed_check_and_a_late_delivery(
    market: Container, emulator: EmulatorServer
) -> None:
    sc = Scenario.start(market, emulator)
    name = sc.seller.user.username
    fresh = standing.seller_standing(market, username=name)
    assert (fresh.fills, fresh.volume, fresh.on_time_rate, fresh.penalties_paid) == (0, 0, None, 0)
    assert sorted(m for m, _, _ in fresh.models) == sorted(sc.seller.models.values())
    assert fresh.seller_since is not None and fresh.tenure_days == 0

    # Round 1, honest: a File Mode copy and a Stake Mode allowance; the check passes.
    sc.next_round()
    honest_file = sc.sell_file(sc.buyer())
    honest_stake = sc.sell_stake(sc.buyer())
    sc.upload(own=True)
    sc.close_and_score()
    assert {state_of(market, f) for f in (honest_file, honest_stake)} == {"released"}
    s = standing.seller_standing(market, username=name)
    assert s.fill_ids == [honest_file, honest_stake]
    assert s.volume == nmr("0.5") + nmr("0.5")
    assert (s.on_time, s.late, s.on_time_rate) == (1, 0, 1.0)
    assert (s.checks_passed, s.checks_failed) == ([honest_stake], [])
    assert s.penalties == [] and s.non_deliveries == []

    # Round 2: the seller sells Stake Mode but does not submit to their own model.
    sc.next_round()
    failed = sc.sell_stake(sc.buyer(), qty=20)
    sc.upload(own=False)
    sc.close_and_score()
    assert state_of(market, failed) == "refunded"
    s = standing.seller_standing(market, username=name)
    assert s.fills == 3 and s.volume == nmr(2)
    assert (s.on_time, s.late) == (2, 0)
    assert (s.checks_passed, s.checks_failed) == ([honest_stake], [failed])
    assert [(p.transfer_id, p.amount) for p in s.penalties] == [
        (f"settle:{failed}:penalty", nmr(1))
    ]
    assert s.check_pass_rate == 0.5

    # Round 3: a File Mode sale, and nothing uploaded by the deadline.
    sc.next_round()
    late = sc.sell_file(sc.buyer(), price="2")
    emulator.world.advance_to_next_close()
    run(market)
    assert state_of(market, late) == "refunded"
    s = standing.seller_standing(market, username=name)
    assert s.fills == 4 and s.volume == nmr(4)
    assert (s.on_time, s.late) == (2, 1)
    assert s.on_time_rate == 2 / 3
    late_round = [r for r in s.rounds if r.status == "late"]
    assert [(r.round_number, r.upload_id) for r in late_round] == [(sc.number, None)]
    assert s.non_deliveries == [late]
    assert s.penalties_paid == nmr(1) + nmr("0.2")  # 100 % of 1 NMR, 10 % of 2 NMR
    assert [p.transfer_id for p in s.penalties][-1] == f"settle:{late}:penalty"

    # Reviews from two buyers: a happy one and the one refunded for the failed check.
    happy, unhappy = sc.buyers[0], sc.buyers[2]
    reviews.create_review(
        market, user_id=happy.id, model_id=sc.seller.model(), rating=5, text="on time"
    )
    reviews.create_review(
        market, user_id=unhappy.id, model_id=sc.seller.model(), rating=2, text="did not match"
    )
    s = standing.seller_standing(market, username=name)
    assert s.average_rating == 3.5 and len(s.review_ids) == 2

    # The API shows the same figures, and with ?evidence=true the records counted.
    client = api_client(market)
    body = client.get(f"/api/v1/sellers/{name}/standing").json()
    assert body["fills"] == 4 and body["volume"]["nmr"] == "4.00"
    assert (body["rounds_on_time"], body["rounds_late"]) == (2, 1)
    assert (body["checks_passed"], body["checks_failed"], body["non_deliveries"]) == (1, 1, 1)
    assert body["penalties_paid"]["units"] == nmr("1.2") and body["average_rating"] == 3.5
    assert body["evidence"] is None
    evidence = client.get(f"/api/v1/sellers/{name}/standing?evidence=true").json()["evidence"]
    assert evidence["fill_ids"] == [honest_file, honest_stake, failed, late]
    assert evidence["checks_failed"] == [failed] and evidence["non_deliveries"] == [late]
    assert [p["transfer_id"] for p in evidence["penalties"]] == [
        f"settle:{failed}:penalty",
        f"settle:{late}:penalty",
    ]
    assert [r["status"] for r in evidence["rounds"]] == ["on_time", "on_time", "late"]
    assert client.get("/api/v1/sellers/nobody-here/standing").status_code == 404

    # The model page's seller card shows the same record in brief, for each of their models.
    for model_id in sc.seller.models.values():
        page = client.get(f"/models/{model_id}")
        assert page.status_code == 200
        card = page.text.split('class="card seller-card"', 1)[1].split("</aside>", 1)[0]
        assert figure(card, "seller-sales") == "4"
        assert figure(card, "seller-on-time").startswith("67 %") and "2 of 3 rounds" in card
        assert figure(card, "seller-checks") == "1 passed · 1 failed"
        assert figure(card, "seller-penalties") == "1.20 NMR"
        assert figure(card, "seller-rating") == "3.5 / 5 (2 reviews)"
        assert f'href="/sellers/{name}"' in card


def figure(html: str, element_id: str) -> str:
    """The text of the element with that id, tags dropped, spaces collapsed."""
    inner = re.search(rf'id="{element_id}">(.*?)</dd>', html, re.S)
    assert inner, f"no #{element_id}"
    return " ".join(re.sub(r"<[^>]+>", " ", inner.group(1)).split())


def test_a_round_before_its_deadline_is_not_counted_yet(
    market: Container, emulator: EmulatorServer
) -> None:
    sc = Scenario.start(market, emulator)
    sc.next_round()
    fill = sc.sell_file(sc.buyer())
    s = standing.seller_standing(market, username=sc.seller.user.username)
    assert [r.status for r in s.rounds] == ["pending"] and s.on_time_rate is None
    assert s.fill_ids == [fill] and fills_of(market, sc.book("file"))[0].id == fill
