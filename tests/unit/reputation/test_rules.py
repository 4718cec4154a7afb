"""Reputation maths against hand-computed values, and the review rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nmrx.reputation.rules import (
    CORR,
    MMC,
    ReviewRefusal,
    change_bp,
    last_scores,
    latest_daily,
    max_drawdown,
    may_reply,
    may_review,
    ratio,
    summaries,
    summarize,
    trending_windows,
    vwap,
)

# Five rounds, worked by hand:
#   mean = (0.02 − 0.01 + 0.03 − 0.04 + 0.01) / 5 = 0.002
#   deviations 0.018, −0.012, 0.028, −0.042, 0.008; squares sum to 0.00308
#   sample variance = 0.00308 / 4 = 0.00077, std = √0.00077 = 0.0277488739
#   Sharpe = 0.002 / 0.0277488739 = 0.0720749
#   cumulative 0.02, 0.01, 0.04, 0.00, 0.01 — peak 0.04 then 0.00: drawdown 0.04
#   positive rounds 3 of 5 = 0.6
FIVE = [0.02, -0.01, 0.03, -0.04, 0.01]


def test_summary_of_five_rounds_matches_the_hand_computation() -> None:
    s = summarize(FIVE)
    assert s.rounds == 5
    assert s.mean == pytest.approx(0.002, abs=1e-15)
    assert s.std == pytest.approx(math.sqrt(0.00077), rel=1e-12)
    assert s.std == pytest.approx(0.0277488739, rel=1e-8)
    assert s.sharpe == pytest.approx(0.0720749, rel=1e-5)
    assert s.max_drawdown == pytest.approx(0.04, abs=1e-15)
    assert s.positive_share == 0.6


def test_a_first_losing_round_is_a_drawdown_from_zero() -> None:
    # cumulative −0.01, 0.01: the running sum starts at 0, so the first round falls 0.01
    s = summarize([-0.01, 0.02])
    assert s.max_drawdown == pytest.approx(0.01)
    assert s.mean == pytest.approx(0.005)
    assert s.std == pytest.approx(math.sqrt(0.00045))  # (0.015² + 0.015²) / 1
    assert s.sharpe == pytest.approx(0.005 / math.sqrt(0.00045))
    assert s.positive_share == 0.5


def test_drawdown_is_zero_when_the_sum_never_falls() -> None:
    assert max_drawdown([0.01, 0.0, 0.02]) == 0.0


def test_sharpe_is_undefined_without_dispersion_or_with_one_round() -> None:
    flat = summarize([0.01, 0.01, 0.01])
    assert flat.std == 0.0 and flat.sharpe is None and flat.positive_share == 1.0
    one = summarize([0.03])
    assert one.mean == 0.03 and one.std is None and one.sharpe is None
    assert one.max_drawdown == 0.0
    empty = summarize([])
    assert empty == type(empty)(0, None, None, None, None, None)


def test_windows_take_the_latest_rounds_with_a_score_in_round_order() -> None:
    by_round = {5: 0.3, 1: 0.1, 2: None, 3: 0.2}
    assert last_scores(by_round, 2) == [0.2, 0.3]
    assert last_scores(by_round, 60) == [0.1, 0.2, 0.3]
    got = summaries({r: r / 100 for r in range(1, 71)})
    assert got[20].rounds == 20 and got[20].mean == pytest.approx(0.605)  # rounds 51..70
    assert got[60].rounds == 60 and got[60].mean == pytest.approx(0.405)  # rounds 11..70


@given(st.lists(st.floats(-0.2, 0.2, allow_nan=False), min_size=2, max_size=80))
def test_summary_agrees_with_numpy(values: list[float]) -> None:
    s = summarize(values)
    assert s.mean == pytest.approx(float(np.mean(values)), abs=1e-12)
    assert s.std == pytest.approx(float(np.std(values, ddof=1)), abs=1e-12)
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    expected_dd = float(np.max(np.maximum.accumulate(cumulative) - cumulative))
    assert s.max_drawdown == pytest.approx(expected_dd, abs=1e-12)


def test_the_live_score_is_the_latest_published_day_of_each_metric() -> None:
    daily = [(1, CORR, 0.01), (3, CORR, 0.03), (2, CORR, 0.02), (3, MMC, -0.001)]
    assert latest_daily(daily, CORR).value == 0.03  # type: ignore[union-attr]
    assert latest_daily(daily, CORR).day == 3  # type: ignore[union-attr]
    assert latest_daily(daily, MMC).value == -0.001  # type: ignore[union-attr]
    assert latest_daily([], CORR) is None


def test_ratios_and_prices() -> None:
    assert ratio(3, 4) == 0.75 and ratio(0, 0) is None
    assert vwap(150, 3) == 50 and vwap(0, 0) is None
    assert change_bp(100, 125) == 2_500 and change_bp(200, 100) == -5_000
    assert change_bp(None, 1) is None and change_bp(0, 5) is None


def test_trending_windows_are_adjacent_ranges_of_rounds() -> None:
    w = trending_windows(1000, 5)
    assert w.recent == (996, 1000) and w.prior == (991, 995)


OK = dict(rating=4, text="clean file, on time", is_buyer=True, fill_state="released")


def test_a_buyer_of_a_settled_fill_may_review_it_once() -> None:
    assert may_review(**OK, already_reviewed=False) is None
    assert may_review(**{**OK, "fill_state": "refunded"}, already_reviewed=False) is None
    assert may_review(**OK, already_reviewed=True) is ReviewRefusal.ALREADY_REVIEWED


@pytest.mark.parametrize("state", ["pending_delivery", "delivered", "awaiting_scores"])
def test_an_unsettled_fill_cannot_be_reviewed(state: str) -> None:
    assert may_review(**{**OK, "fill_state": state}, already_reviewed=False) is (
        ReviewRefusal.NOT_SETTLED
    )


def test_only_the_buyer_reviews() -> None:
    assert may_review(**{**OK, "is_buyer": False}, already_reviewed=False) is (
        ReviewRefusal.NOT_THE_BUYER
    )


@pytest.mark.parametrize("rating", [0, 6, -1, True, 4.5, "5"])
def test_ratings_are_whole_numbers_from_one_to_five(rating: object) -> None:
    got = may_review(**{**OK, "rating": rating}, already_reviewed=False)  # type: ignore[arg-type]
    assert got is ReviewRefusal.BAD_RATING


@pytest.mark.parametrize("text", ["", "   ", "x" * 2001])
def test_review_text_is_required_and_bounded(text: str) -> None:
    assert may_review(**{**OK, "text": text}, already_reviewed=False) is ReviewRefusal.BAD_TEXT


def test_only_the_seller_replies_once() -> None:
    assert may_reply(text="thanks", is_seller=True, has_reply=False) is None
    assert may_reply(text="thanks", is_seller=False, has_reply=False) is (
        ReviewRefusal.NOT_THE_SELLER
    )
    assert may_reply(text="again", is_seller=True, has_reply=True) is ReviewRefusal.ALREADY_REPLIED
    assert may_reply(text=" ", is_seller=True, has_reply=False) is ReviewRefusal.BAD_TEXT
