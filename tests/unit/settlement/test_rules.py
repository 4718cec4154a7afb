"""The rule table of market-rules §5.3 as pure decisions, and the money of each outcome."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from nmrx.settlement.rules import (
    Facts,
    FillState,
    IllegalTransition,
    Move,
    Reason,
    Terms,
    check_transition,
    decide,
    is_ours_selected,
    is_over_staked,
    is_protected,
    money,
    reads_scores,
)
from nmrx.wallet.money import UNITS_PER_NMR

CLOSE = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
BASE = Facts(
    state=FillState.PENDING_DELIVERY,
    mode="file",
    protected=False,
    now=CLOSE - timedelta(minutes=30),
    upload_deadline=CLOSE - timedelta(minutes=10),
    round_close=CLOSE,
    has_upload=False,
)
STAKE = replace(BASE, mode="stake", protected=True)
SCORING = replace(
    STAKE,
    state=FillState.AWAITING_SCORES,
    now=CLOSE + timedelta(days=4),
    has_upload=True,
    ours_selected=True,
    seller_has_submission=True,
    seller_score=0.0123,
    slot_score=0.0123,
    over_staked=False,
)
TERMS = Terms(
    notional=50_000_000,
    fee_rate_bp=200,
    buyer_collateral=50_000_000,
    non_delivery_penalty_bp=1_000,
    consistency_penalty_bp=10_000,
    seller_collateral_available=3_000_000_000,
)


def test_waiting_for_an_upload_before_the_deadline_decides_nothing() -> None:
    assert decide(BASE) is None


def test_no_upload_by_the_deadline_is_a_refund_with_the_seller_at_fault() -> None:
    move = decide(replace(BASE, now=BASE.upload_deadline))
    assert move == Move(FillState.REFUNDED, Reason.NON_DELIVERY, seller_fault=True)


def test_unprotected_file_mode_is_released_at_delivery() -> None:
    assert decide(replace(BASE, has_upload=True)) is None
    assert (
        decide(replace(BASE, has_upload=True, download_delivered=True)).target is FillState.RELEASED
    )  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("submission", "fault", "expected"),
    [
        ("delivered", None, FillState.DELIVERED),
        ("failed", "buyer", FillState.RELEASED),
        ("failed", "nobody", FillState.REFUNDED),
        ("waiting", None, None),
    ],
)
def test_protected_delivery_outcomes(
    submission: str, fault: str | None, expected: FillState | None
) -> None:
    move = decide(
        replace(STAKE, has_upload=True, submission_state=submission, submission_fault=fault)
    )
    assert (move.target if move else None) is expected
    if move and move.target is FillState.REFUNDED:
        assert not move.seller_fault


def test_at_close_an_override_releases_and_ours_waits_for_scores() -> None:
    delivered = replace(
        STAKE, state=FillState.DELIVERED, has_upload=True, now=CLOSE, over_staked=False
    )
    assert decide(replace(delivered, now=CLOSE - timedelta(seconds=1), ours_selected=True)) is None
    assert decide(replace(delivered, ours_selected=None)) is None  # Numerai unavailable: wait
    assert decide(replace(delivered, ours_selected=True)).target is FillState.AWAITING_SCORES  # type: ignore[union-attr]
    assert decide(replace(delivered, ours_selected=False)).reason is Reason.OVERRIDE  # type: ignore[union-attr]


def test_scores_within_tolerance_release_and_different_scores_refund_with_penalty() -> None:
    assert decide(replace(SCORING, slot_score=0.0123 + 9e-7)).reason is Reason.SCORES_MATCH  # type: ignore[union-attr]
    move = decide(replace(SCORING, slot_score=0.0123 + 2e-6))
    assert move == Move(FillState.REFUNDED, Reason.SCORES_DIFFER, seller_fault=True)


def test_unknown_scores_or_unavailable_numerai_wait() -> None:
    for missing in (
        {"seller_score": None},
        {"slot_score": None},
        {"ours_selected": None},
        {"seller_has_submission": None},
        {"over_staked": None},
    ):
        assert decide(replace(SCORING, **missing)) is None


def test_a_seller_without_a_submission_fails_the_check() -> None:
    move = decide(replace(SCORING, seller_has_submission=False, seller_score=None))
    assert move == Move(FillState.REFUNDED, Reason.SELLER_NO_SUBMISSION, seller_fault=True)


def test_release_pays_the_seller_minus_the_fee_and_returns_collateral() -> None:
    legs = {
        leg.name: (leg.source, leg.destination, leg.amount)
        for leg in money(Move(FillState.RELEASED, Reason.SCORES_MATCH), TERMS)
    }
    assert legs == {
        "proceeds": ("escrow", "seller", 49_000_000),
        "fee": ("escrow", "fees", 1_000_000),
        "buyer_collateral": ("buyer_collateral", "buyer", 50_000_000),
    }


def test_over_stake_sends_the_buyer_collateral_to_the_seller() -> None:
    legs = {
        leg.name: leg.destination
        for leg in money(Move(FillState.RELEASED, Reason.SCORES_MATCH, over_staked=True), TERMS)
    }
    assert legs["buyer_collateral"] == "seller"


def test_penalties_follow_the_reason_and_are_capped_by_collateral() -> None:
    nd = {
        leg.name: leg.amount
        for leg in money(Move(FillState.REFUNDED, Reason.NON_DELIVERY, seller_fault=True), TERMS)
    }
    assert nd == {"refund": 50_000_000, "penalty": 5_000_000, "buyer_collateral": 50_000_000}
    poor = replace(TERMS, seller_collateral_available=1_234)
    cf = {
        leg.name: leg.amount
        for leg in money(Move(FillState.REFUNDED, Reason.SCORES_DIFFER, seller_fault=True), poor)
    }
    assert cf["penalty"] == 1_234
    nobody = {
        leg.name for leg in money(Move(FillState.REFUNDED, Reason.NOBODY_DELIVERY_FAULT), TERMS)
    }
    assert "penalty" not in nobody


def test_the_state_machine_refuses_illegal_moves() -> None:
    check_transition(FillState.PENDING_DELIVERY, FillState.DELIVERED)
    for final in (FillState.RELEASED, FillState.REFUNDED):
        for target in FillState:
            with pytest.raises(IllegalTransition):
                check_transition(final, target)
    with pytest.raises(IllegalTransition):
        check_transition(FillState.AWAITING_SCORES, FillState.DELIVERED)


def test_stake_mode_and_file_mode_with_a_slot_are_protected() -> None:
    assert is_protected("stake", has_slot=False) and is_protected("stake", has_slot=True)
    assert is_protected("file", has_slot=True)
    assert not is_protected("file", has_slot=False)


def test_scores_are_read_only_for_submitted_fills_once_the_round_closed() -> None:
    for state in (FillState.DELIVERED, FillState.AWAITING_SCORES):
        assert reads_scores(state, now=CLOSE, round_close=CLOSE)
        assert not reads_scores(state, now=CLOSE - timedelta(seconds=1), round_close=CLOSE)
    for state in (FillState.PENDING_DELIVERY, FillState.RELEASED, FillState.REFUNDED):
        assert not reads_scores(state, now=CLOSE + timedelta(days=1), round_close=CLOSE)


def test_ours_is_selected_only_when_the_slots_submission_is_one_the_platform_made() -> None:
    ours = {"sub-1", "sub-2"}
    assert is_ours_selected("sub-2", ours)
    assert not is_ours_selected("theirs", ours)
    assert not is_ours_selected(None, ours)
    assert not is_ours_selected("sub-1", set())


def test_over_staked_means_more_at_risk_than_the_allowance_bought() -> None:
    allowance = 5 * UNITS_PER_NMR
    assert not is_over_staked(Decimal("5"), allowance=allowance)
    assert is_over_staked(Decimal("5.00000001"), allowance=allowance)
    assert not is_over_staked(None, allowance=allowance)  # no stake read: none at risk
    assert not is_over_staked(Decimal(0), allowance=0)
