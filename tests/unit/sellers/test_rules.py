"""Seller rules: the one-time bio code and the collateral a seller must keep locked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nmrx.sellers.rules import (
    CODE_PREFIX,
    CheckOutcome,
    CollateralPolicy,
    PendingCode,
    free_collateral,
    judge_bio,
    max_unlock,
    may_list,
    new_code,
    seller_requirement,
)
from nmrx.wallet.money import nmr

POLICY = CollateralPolicy(minimum=nmr(10), rate_bp=2_000)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_the_requirement_is_the_minimum_plus_a_rate_of_unsettled_sales_rounded_up() -> None:
    assert seller_requirement(POLICY, unsettled_notional=0) == nmr(10)
    assert seller_requirement(POLICY, unsettled_notional=nmr(5)) == nmr(11)
    assert seller_requirement(POLICY, unsettled_notional=1) == nmr(10) + 1
    with pytest.raises(ValueError):
        seller_requirement(POLICY, unsettled_notional=-1)


def test_free_collateral_leaves_out_the_bonds_locked_as_a_stake_mode_buyer() -> None:
    assert free_collateral(nmr(15), stake_bonds=nmr(5)) == nmr(10)
    assert free_collateral(nmr(15), stake_bonds=0) == nmr(15)


def test_a_seller_may_list_only_while_free_collateral_meets_the_requirement() -> None:
    assert may_list(POLICY, collateral=nmr(10), unsettled_notional=0)
    assert not may_list(POLICY, collateral=nmr(10) - 1, unsettled_notional=0)
    assert not may_list(POLICY, collateral=nmr(10), unsettled_notional=nmr(5))
    free = free_collateral(nmr(12), stake_bonds=nmr(3))
    assert not may_list(POLICY, collateral=free, unsettled_notional=0)


def test_a_seller_may_unlock_only_above_the_requirement_a_non_seller_all_of_it() -> None:
    assert max_unlock(POLICY, collateral=nmr(12), unsettled_notional=0, is_seller=True) == nmr(2)
    assert max_unlock(POLICY, collateral=nmr(8), unsettled_notional=0, is_seller=True) == 0
    assert max_unlock(POLICY, collateral=nmr(8), unsettled_notional=0, is_seller=False) == nmr(8)
    # a former seller with sales awaiting settlement is still bound
    assert max_unlock(
        POLICY, collateral=nmr(12), unsettled_notional=nmr(5), is_seller=False
    ) == nmr(1)


def test_bio_codes_are_unguessable_and_judged_expiry_and_reuse_first() -> None:
    code = new_code()
    assert code.startswith(CODE_PREFIX) and code != new_code()
    pending = PendingCode(code, NOW + timedelta(hours=1), used=False)
    assert judge_bio(pending, bio=f"hello {code}", now=NOW) is CheckOutcome.VERIFIED
    assert judge_bio(pending, bio="hello", now=NOW) is CheckOutcome.CODE_NOT_IN_BIO
    late = NOW + timedelta(hours=1)
    assert judge_bio(pending, bio=code, now=late) is CheckOutcome.CODE_EXPIRED
    used = PendingCode(code, NOW + timedelta(hours=1), used=True)
    assert judge_bio(used, bio=code, now=NOW) is CheckOutcome.CODE_USED
