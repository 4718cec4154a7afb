"""Reputation maths (market-rules §6), pure: score summaries, seller ratios, review rules,
trending windows. No I/O; the services feed it rows and store what it returns.

**Score summaries.** A model's track record is its per-round live score (the latest
published daily score of each round, Numerai's ``v2_corr20`` and ``mmc``), in round
order. Over the last *n* rounds that have a score (n = 20 and 60):

* ``mean`` — the arithmetic mean;
* ``std`` — the *sample* standard deviation (ddof = 1; ``None`` below 2 rounds);
* ``sharpe`` — ``mean / std``, per round, not annualised (``None`` when ``std`` is
  ``None`` or 0). Numerai's own "Sharpe" on model pages is the same ratio;
* ``max_drawdown`` — the largest fall of the cumulative score from a previous peak,
  the running sum starting at 0 before the first round (so a first negative round is a
  drawdown), reported as a non-negative number; 0 when the sum never falls;
* ``positive_share`` — the share of rounds with a score strictly above 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from nmrx.wallet.money import UNITS_PER_NMR

CORR = "v2_corr20"
MMC = "mmc"
METRICS = (CORR, MMC)
WINDOWS = (20, 60)


# ------------------------------------------------------------------ score summaries


@dataclass(frozen=True)
class Summary:
    rounds: int
    mean: float | None
    std: float | None
    sharpe: float | None
    max_drawdown: float | None
    positive_share: float | None


def mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def sample_std(values: Sequence[float]) -> float | None:
    """Standard deviation with Bessel's correction (ddof = 1); ``None`` below 2 values."""
    if len(values) < 2:
        return None
    m = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - m) ** 2 for v in values) / (len(values) - 1))


def sharpe(values: Sequence[float]) -> float | None:
    """``mean / sample std``, per round; ``None`` if undefined (fewer than 2, or std 0)."""
    s = sample_std(values)
    if s is None or s == 0:
        return None
    m = mean(values)
    assert m is not None
    return m / s


def max_drawdown(values: Sequence[float]) -> float | None:
    """The largest peak-to-trough fall of the running sum (which starts at 0); ≥ 0."""
    if not values:
        return None
    peak = total = 0.0
    worst = 0.0
    for v in values:
        total += v
        peak = max(peak, total)
        worst = max(worst, peak - total)
    return worst


def positive_share(values: Sequence[float]) -> float | None:
    return sum(1 for v in values if v > 0) / len(values) if values else None


def summarize(values: Sequence[float]) -> Summary:
    values = list(values)
    return Summary(
        rounds=len(values),
        mean=mean(values),
        std=sample_std(values),
        sharpe=sharpe(values),
        max_drawdown=max_drawdown(values),
        positive_share=positive_share(values),
    )


def last_scores(by_round: Mapping[int, float | None], n: int) -> list[float]:
    """The scores of the last ``n`` rounds that have one, oldest first."""
    scored = [(r, v) for r, v in by_round.items() if v is not None]
    scored.sort()
    return [v for _, v in scored[-n:]] if n > 0 else []


def summaries(
    by_round: Mapping[int, float | None], windows: Iterable[int] = WINDOWS
) -> dict[int, Summary]:
    return {n: summarize(last_scores(by_round, n)) for n in windows}


@dataclass(frozen=True)
class LatestScore:
    day: int
    value: float


def latest_daily(scores: Iterable[tuple[int, str, float]], metric: str) -> LatestScore | None:
    """The latest published daily score of one metric: the round's current live score."""
    best: LatestScore | None = None
    for day, name, value in scores:
        if name == metric and (best is None or day > best.day):
            best = LatestScore(day, value)
    return best


def to_units(nmr: Decimal | None) -> int | None:
    """A signed NMR amount from Numerai (a payout may be negative) in units, half-even."""
    if nmr is None:
        return None
    return int((nmr * UNITS_PER_NMR).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


# ------------------------------------------------------------------ seller standing


def ratio(numerator: int, denominator: int) -> float | None:
    """A share in [0, 1], or ``None`` when there is nothing to measure."""
    return numerator / denominator if denominator else None


def average(values: Sequence[int]) -> float | None:
    return sum(values) / len(values) if values else None


class CheckOutcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"


# The settlement reasons (domain.settlement.Reason values) that are consistency checks.
CHECK_OUTCOMES: Mapping[str, CheckOutcome] = {
    "scores_match": CheckOutcome.PASSED,
    "scores_differ": CheckOutcome.FAILED,
    "seller_no_submission": CheckOutcome.FAILED,
}
NON_DELIVERY_REASON = "non_delivery"


# ------------------------------------------------------------------ reviews

REVIEWABLE_FILL_STATES = frozenset({"released", "refunded"})
MIN_RATING, MAX_RATING = 1, 5
MAX_TEXT = 2_000


class ReviewRefusal(StrEnum):
    """Why a review or a reply is refused; the service maps each to an error."""

    BAD_RATING = "bad_rating"
    BAD_TEXT = "bad_text"
    NOT_THE_BUYER = "not_the_buyer"
    NOT_SETTLED = "not_settled"
    ALREADY_REVIEWED = "already_reviewed"
    NOT_THE_SELLER = "not_the_seller"
    ALREADY_REPLIED = "already_replied"


def check_text(text: str) -> ReviewRefusal | None:
    stripped = (text or "").strip()
    return None if 1 <= len(stripped) <= MAX_TEXT else ReviewRefusal.BAD_TEXT


def may_review(
    *, rating: int, text: str, is_buyer: bool, fill_state: str, already_reviewed: bool
) -> ReviewRefusal | None:
    """Only the buyer of a settled fill (released or refunded), once per fill."""
    if isinstance(rating, bool) or not isinstance(rating, int):
        return ReviewRefusal.BAD_RATING
    if not MIN_RATING <= rating <= MAX_RATING:
        return ReviewRefusal.BAD_RATING
    if (refusal := check_text(text)) is not None:
        return refusal
    if not is_buyer:
        return ReviewRefusal.NOT_THE_BUYER
    if fill_state not in REVIEWABLE_FILL_STATES:
        return ReviewRefusal.NOT_SETTLED
    if already_reviewed:
        return ReviewRefusal.ALREADY_REVIEWED
    return None


def may_reply(*, text: str, is_seller: bool, has_reply: bool) -> ReviewRefusal | None:
    """Only the seller of the reviewed fill, once."""
    if (refusal := check_text(text)) is not None:
        return refusal
    if not is_seller:
        return ReviewRefusal.NOT_THE_SELLER
    if has_reply:
        return ReviewRefusal.ALREADY_REPLIED
    return None


# ------------------------------------------------------------------ trending


@dataclass(frozen=True)
class Windows:
    """Two adjacent ranges of round numbers, inclusive: the recent one and the one before."""

    recent: tuple[int, int]
    prior: tuple[int, int]


def trending_windows(reference_round: int, rounds: int) -> Windows:
    """The ``rounds`` rounds up to and including ``reference_round``, and the ones before."""
    k = max(1, rounds)
    return Windows(
        recent=(reference_round - k + 1, reference_round),
        prior=(reference_round - 2 * k + 1, reference_round - k),
    )


def vwap(notional: int, volume: int) -> int | None:
    """Volume-weighted average price in units (floor), or ``None`` without volume."""
    return notional // volume if volume else None


def change_bp(before: int | None, after: int | None) -> int | None:
    """The change from ``before`` to ``after`` in basis points (floor); ``None`` if unknown."""
    if before is None or after is None or before <= 0:
        return None
    return (after - before) * 10_000 // before
