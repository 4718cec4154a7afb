"""Track records synced from the emulator: the stored scores and payouts are exactly what
the emulator computed; summaries follow; outages record the error and keep the past."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from nmrx.market import instruments
from nmrx.platform.bootstrap import Container
from nmrx.platform.errors import Unavailable
from nmrx.reputation import track_records as performance
from nmrx.reputation.rules import summarize
from nmrx.reputation.tables import ModelPerformance
from nmrx.wallet.money import nmr
from numerai_emulator import EmulatorServer
from numerai_emulator import calendar as emulator_calendar
from numerai_emulator.scoring import payout as emulator_payout
from tests.support.builders import api_client, bearer, make_token
from tests.support.market import Trader, predictions, trader


def submit_rounds(market: Container, emulator: EmulatorServer, seller: Trader, n: int) -> list[int]:
    """The seller submits to their first model in ``n`` consecutive rounds."""
    world = emulator.world
    numerai_id = seller.numerai.model_id(seller.numerai.classic[0])
    numbers = []
    for i in range(n):
        world.advance_to_next_open()
        number = world.current_round().number
        market.numerai.upload(
            seller.numerai.key,
            model_id=numerai_id,
            tournament="classic",
            content=predictions(emulator, number, seed=300 + i),
            filename="p.csv",
        )
        numbers.append(number)
    return numbers


def expected_round(emulator: EmulatorServer, numerai_id: str, number: int) -> dict[str, object]:
    """What the emulator publishes for the round now: the latest day's scores and payout."""
    world = emulator.world
    sub = world.selected_submission(numerai_id, number)
    days = emulator_calendar.round_times(number).published_days(world.now())
    if days == 0:
        return {"corr": None, "mmc": None, "score_day": None, "payout": None}
    values = {m: sub.scores.value(m, days) for m in ("v2_corr20", "mmc")}
    at_risk = world.at_risk(world.model(numerai_id), number) or Decimal(0)
    paid = emulator_payout(at_risk, values, Decimal(1))
    return {
        "corr": values["v2_corr20"],
        "mmc": values["mmc"],
        "score_day": days,
        "payout": int(paid * 100_000_000),
    }


def test_synced_scores_and_payouts_equal_what_the_emulator_computed(
    market: Container, emulator: EmulatorServer
) -> None:
    seller = trader(market, emulator)
    numbers = submit_rounds(market, emulator, seller, 3)
    emulator.world.advance_days(5)
    model_id = seller.model(0)
    result = performance.sync_model(market, model_id=model_id)
    assert result.rounds == 3

    model = emulator.world.model(seller.numerai.model_id(seller.numerai.classic[0]))
    age_before = (market.clock.now() - model.start_date).days
    record = performance.track_record(market, model_id)
    age_after = (market.clock.now() - model.start_date).days  # the emulator's clock runs
    numerai_id = model.id
    assert [r.round_number for r in record.rounds] == numbers
    scored = 0
    for row in record.rounds:
        want = expected_round(emulator, numerai_id, row.round_number)
        got = {"corr": row.corr, "mmc": row.mmc, "score_day": row.score_day, "payout": row.payout}
        assert got == want, f"round {row.round_number}"
        assert row.at_risk == nmr(10) and row.submission_id is not None
        scored += row.corr is not None
    assert scored >= 2  # the oldest rounds have daily scores by now
    corr = [r.corr for r in record.rounds if r.corr is not None]
    assert record.summaries["corr"][20] == summarize(corr)
    assert record.summaries["corr"][60] == summarize(corr)
    assert record.summaries["mmc"][20] == summarize(
        [r.mmc for r in record.rounds if r.mmc is not None]
    )
    assert record.stake == nmr(10)
    assert record.start_date == model.start_date
    assert age_before <= record.age_days <= age_after
    assert record.total_payout == sum(r.payout or 0 for r in record.rounds)
    with market.db.transaction() as s:
        perf = s.get(ModelPerformance, model_id)
        assert perf.corr_mean_20 == summarize(corr).mean
        assert perf.rounds_scored == scored and perf.last_error is None


def test_a_resync_updates_rounds_as_daily_scores_arrive(
    market: Container, emulator: EmulatorServer
) -> None:
    seller = trader(market, emulator)
    [number] = submit_rounds(market, emulator, seller, 1)
    model_id = seller.model(0)
    performance.sync_model(market, model_id=model_id)
    first = performance.track_record(market, model_id).rounds[0]
    assert first.corr is None and first.payout is None  # the round is open: no score yet
    emulator.world.advance_days(25)  # past resolution: day 20 is published
    performance.sync_model(market, model_id=model_id)
    [row] = performance.track_record(market, model_id).rounds
    numerai_id = seller.numerai.model_id(seller.numerai.classic[0])
    final = emulator.world.selected_submission(numerai_id, number).scores.final
    assert row.score_day == 20 and row.resolved and row.payout_settled
    assert (row.corr, row.mmc) == (final["v2_corr20"], final["mmc"])


def test_an_outage_records_the_error_and_keeps_what_was_synced(
    market: Container, emulator: EmulatorServer
) -> None:
    seller = trader(market, emulator)
    submit_rounds(market, emulator, seller, 1)
    emulator.world.advance_days(4)
    model_id = seller.model(0)
    performance.sync_model(market, model_id=model_id)
    before = performance.track_record(market, model_id)
    emulator.world.faults.configure(fail_next=20)
    with pytest.raises(Unavailable):
        performance.sync_model(market, model_id=model_id)
    emulator.world.faults.clear()
    after = performance.track_record(market, model_id)
    assert after.rounds == before.rounds and after.synced_at == before.synced_at
    assert after.last_error and "HTTP 503" in after.last_error


def test_the_worker_syncs_listed_models_once_per_interval(
    market: Container, emulator: EmulatorServer
) -> None:
    seller = trader(market, emulator)
    emulator.world.advance_to_next_open()
    instruments.open_books(market)
    listed = set(seller.models.values())
    report = performance.sync_due(market)
    assert report["synced"] >= len(listed) and report["failed"] == 0
    with market.db.transaction() as s:
        synced = set(s.scalars(select(ModelPerformance.model_id)).all())
    assert listed <= synced
    assert performance.sync_due(market) == {"synced": 0, "failed": 0}


def test_the_performance_api_is_public_and_sync_needs_a_token(
    market: Container, emulator: EmulatorServer
) -> None:
    seller = trader(market, emulator)
    submit_rounds(market, emulator, seller, 2)
    emulator.world.advance_days(4)
    model_id = seller.model(0)
    client = api_client(market)
    empty = client.get(f"/api/v1/models/{model_id}/performance").json()
    assert empty["rounds"] == [] and empty["synced_at"] is None
    assert client.post(f"/api/v1/models/{model_id}/performance/sync").status_code == 401
    token = make_token(market, seller.user, scopes="read")
    synced = client.post(f"/api/v1/models/{model_id}/performance/sync", headers=bearer(token))
    assert synced.status_code == 200, synced.text
    body = client.get(f"/api/v1/models/{model_id}/performance").json()
    ages = {body.pop("age_days"), synced.json()["age_days"]}  # the emulator's clock runs
    assert body == {k: v for k, v in synced.json().items() if k != "age_days"}
    assert len(ages) <= 2 and max(ages) - min(ages) <= 1
    assert len(body["rounds"]) == 2 and body["stake"]["nmr"] == "10.00"
    record = performance.track_record(market, model_id)
    assert [r["corr"] for r in body["rounds"]] == [r.corr for r in record.rounds]
    s20 = body["summaries"]["corr"]["last_20"]
    assert s20["rounds"] == record.summaries["corr"][20].rounds
    assert s20["mean"] == record.summaries["corr"][20].mean
    assert client.get("/api/v1/models/999999/performance").status_code == 404
