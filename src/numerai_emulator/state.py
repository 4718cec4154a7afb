"""The records the emulated Numerai keeps in memory."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from .scoring import Scores

SCOPES = ("upload_submission", "read_submission_info", "read_user_info", "stake")
"""Numerai's API key scopes, as they appear in ``account { apiTokens { scopes } }``."""


def decimal_str(value: Decimal | None) -> str | None:
    """Decimals travel as strings, without exponent (``"100"``, ``"12.5"``)."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


@dataclass
class Account:
    id: str
    username: str
    email: str
    wallet_address: str
    available_nmr: Decimal
    inserted_at: datetime
    model_ids: list[str] = field(default_factory=list)
    key_ids: list[str] = field(default_factory=list)
    wallet_txns: list[dict] = field(default_factory=list)


@dataclass
class ApiKey:
    public_id: str
    secret: str
    account_id: str
    name: str
    scopes: frozenset[str]

    @property
    def token(self) -> str:
        """The credential as numerapi sends it after ``Token ``: ``public$secret``."""
        return f"{self.public_id}${self.secret}"


@dataclass
class Model:
    id: str
    name: str
    tournament: int
    account_id: str
    start_date: datetime
    bio: str | None = None
    link_text: str | None = None
    link_url: str | None = None
    stake_times: list[datetime] = field(default_factory=list)
    stake_values: list[Decimal] = field(default_factory=list)
    at_risk_overrides: dict[int, Decimal] = field(default_factory=dict)

    def stake_at(self, moment: datetime) -> Decimal:
        """The stake in force at ``moment`` (changes are recorded in simulated time)."""
        i = bisect.bisect_right(self.stake_times, moment)
        return self.stake_values[i - 1] if i else Decimal(0)

    def record_stake(self, moment: datetime, value: Decimal) -> None:
        i = bisect.bisect_right(self.stake_times, moment)
        self.stake_times.insert(i, moment)
        self.stake_values.insert(i, value)
        del self.stake_times[i + 1 :], self.stake_values[i + 1 :]


@dataclass
class Submission:
    id: str
    model_id: str
    tournament: int
    round_number: int
    filename: str
    inserted_at: datetime
    content: bytes
    sha256: str
    scores: Scores
    trigger_id: str | None = None
    source: str | None = None


@dataclass
class PendingUpload:
    """A presigned upload slot: the PUT stores ``content`` until create_submission."""

    token: str
    account_id: str
    model_id: str
    tournament: int
    filename: str
    created_at: datetime
    content: bytes | None = None
