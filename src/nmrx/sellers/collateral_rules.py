"""Seller collateral requirement (PRODUCT.md §5.1): one function, used everywhere."""

from __future__ import annotations

from dataclasses import dataclass

from nmrx.wallet.money import UNITS_PER_NMR

DEFAULT_MINIMUM = 10 * UNITS_PER_NMR
DEFAULT_RATE_BP = 2_000  # 20 % of the notional of fills still awaiting settlement


@dataclass(frozen=True)
class CollateralPolicy:
    minimum: int = DEFAULT_MINIMUM
    rate_bp: int = DEFAULT_RATE_BP  # basis points of open exposure


def seller_requirement(policy: CollateralPolicy, *, unsettled_notional: int) -> int:
    """Minimum plus a rate of the notional of the seller's unsettled fills, rounded up."""
    if unsettled_notional < 0:
        raise ValueError("unsettled notional cannot be negative")
    exposure = -(-unsettled_notional * policy.rate_bp // 10_000)
    return policy.minimum + exposure


def may_list(policy: CollateralPolicy, *, collateral: int, unsettled_notional: int) -> bool:
    return collateral >= seller_requirement(policy, unsettled_notional=unsettled_notional)


def max_unlock(
    policy: CollateralPolicy, *, collateral: int, unsettled_notional: int, is_seller: bool
) -> int:
    """How much collateral may leave. The requirement binds while the user owns a verified
    model (is a seller) or has fills awaiting settlement; otherwise all of it may leave."""
    if not is_seller and unsettled_notional == 0:
        return collateral
    return max(0, collateral - seller_requirement(policy, unsettled_notional=unsettled_notional))
