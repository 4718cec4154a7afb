"""Seller rules (market-rules §5.1): binding a model by a one-time bio code, and the
collateral a seller must keep locked.

A seller asks to verify a model; the platform issues an unguessable code that expires
(default 24 h); the seller puts the code in the model's public bio on Numerai; a check
reads the bio and, if the code is there and still valid, binds the model to the account.

A seller lists (places asks) only while their *free* collateral — the collateral account
less the Stake Mode bonds they locked as a buyer — meets the requirement: a minimum plus
a rate of their *committed* notional: their sales still awaiting settlement **and their
open asks** (at the ask's price). An ask reserves collateral like a bid holds funds, so
a fill never takes the seller's unsettled notional past what their collateral covers.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from nmrx.wallet.money import UNITS_PER_NMR

CODE_PREFIX = "nmrx-verify-"
DEFAULT_CODE_TTL = timedelta(hours=24)


class CheckOutcome(StrEnum):
    VERIFIED = "verified"
    CODE_NOT_IN_BIO = "code_not_in_bio"
    CODE_EXPIRED = "code_expired"
    CODE_USED = "code_used"


OUTCOME_MESSAGES = {
    CheckOutcome.VERIFIED: "verified: the model is now bound to your account",
    CheckOutcome.CODE_NOT_IN_BIO: (
        "the code was not found in the model's bio on Numerai; paste it into the bio "
        "(numer.ai → your model → edit profile), save, and check again"
    ),
    CheckOutcome.CODE_EXPIRED: "this code has expired; ask for a new one",
    CheckOutcome.CODE_USED: "this code was already used",
}


def new_code() -> str:
    """An unguessable one-time code (128 bits of randomness)."""
    return CODE_PREFIX + secrets.token_hex(16)


@dataclass(frozen=True)
class PendingCode:
    code: str
    expires_at: datetime
    used: bool


def judge_bio(pending: PendingCode, *, bio: str, now: datetime) -> CheckOutcome:
    """Decide a bio check. Expiry and reuse are judged before the bio is looked at."""
    if pending.used:
        return CheckOutcome.CODE_USED
    if now >= pending.expires_at:
        return CheckOutcome.CODE_EXPIRED
    if pending.code not in (bio or ""):
        return CheckOutcome.CODE_NOT_IN_BIO
    return CheckOutcome.VERIFIED


# ---------------------------------------------------------------- Numerai keys' scopes

SLOT_SCOPES = ("upload_submission", "read_submission_info")
"""What a slot's key needs for an automatic submission: upload the file, then read the
slot back (our submission selected) — also when the round closes and scores arrive."""
STAKE_SCOPE = "stake"


def missing_slot_scopes(scopes: str | list[str] | None) -> list[str]:
    """The scopes a slot's key lacks for automatic submissions (all of them without a key)."""
    have = set(scopes.split() if isinstance(scopes, str) else scopes or [])
    return [s for s in SLOT_SCOPES if s not in have]


def key_warnings(scopes: list[str]) -> list[str]:
    """What a user should know about a key's scopes: not a refusal (a seller's key may only
    read the account), but what it cannot do, and what it can do that NMRX never needs."""
    warnings = []
    missing = missing_slot_scopes(scopes)
    if missing:
        warnings.append(
            "this key cannot receive automatic submissions (a Stake Mode slot or a "
            f"verification slot): it lacks the {' and '.join(missing)} scope"
            + ("s" if len(missing) > 1 else "")
        )
    if STAKE_SCOPE in scopes:
        warnings.append(
            "this key carries the stake scope, which NMRX never needs: anyone holding it can "
            "change your stakes; prefer a key without it"
        )
    return warnings


# ---------------------------------------------------------------- collateral

DEFAULT_MINIMUM = 10 * UNITS_PER_NMR
DEFAULT_RATE_BP = 2_000  # 20 % of the notional of fills still awaiting settlement


@dataclass(frozen=True)
class CollateralPolicy:
    minimum: int = DEFAULT_MINIMUM
    rate_bp: int = DEFAULT_RATE_BP  # basis points of open exposure


def committed_notional(*, unsettled: int, open_asks: int, new_ask: int = 0) -> int:
    """What the seller's collateral must cover: unsettled sales, open asks, a new ask."""
    return unsettled + open_asks + new_ask


def seller_requirement(policy: CollateralPolicy, *, unsettled_notional: int) -> int:
    """Minimum plus a rate of the notional of the seller's unsettled fills, rounded up."""
    if unsettled_notional < 0:
        raise ValueError("unsettled notional cannot be negative")
    exposure = -(-unsettled_notional * policy.rate_bp // 10_000)
    return policy.minimum + exposure


def free_collateral(collateral: int, *, stake_bonds: int) -> int:
    """The collateral that backs the user as a seller: their collateral account less the
    Stake Mode bonds they locked as a buyer in unsettled fills (those back their own
    purchases). It is what the requirement is measured against, what may be unlocked, and
    what a seller's penalty may take."""
    return collateral - stake_bonds


def may_list(policy: CollateralPolicy, *, collateral: int, unsettled_notional: int) -> bool:
    """Whether a seller with this free collateral may place asks."""
    return collateral >= seller_requirement(policy, unsettled_notional=unsettled_notional)


def max_unlock(
    policy: CollateralPolicy, *, collateral: int, unsettled_notional: int, is_seller: bool
) -> int:
    """How much (free) collateral may leave. The requirement binds while the user owns a
    verified model (is a seller) or has fills awaiting settlement; otherwise all of it may
    leave."""
    if not is_seller and unsettled_notional == 0:
        return collateral
    return max(0, collateral - seller_requirement(policy, unsettled_notional=unsettled_notional))


_KEY_TEXT = re.compile(r"[!-~]+")  # printable ASCII, no spaces: what Numerai issues


def numerai_key_problem(public_id: str, secret: str) -> str | None:
    """Why a Numerai API key as typed cannot be one, in words; ``None`` if it may be.
    (Anything else cannot even be sent: it goes into an HTTP header, ASCII only.)"""
    if not public_id or not secret or len(public_id) > 120 or len(secret) > 200:
        return "give the key's public id and secret as Numerai shows them"
    if not _KEY_TEXT.fullmatch(public_id) or not _KEY_TEXT.fullmatch(secret):
        return (
            "give the key's public id and secret as Numerai shows them "
            "(letters, digits and symbols only: no spaces or other characters)"
        )
    return None
