"""Model ownership (PRODUCT.md §5.1): one-time bio codes and the rules for binding a model.

A seller asks to verify a model; the platform issues an unguessable code that expires
(default 24 h); the seller puts the code in the model's public bio on Numerai; a check
reads the bio and, if the code is there and still valid, binds the model to the account.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

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
