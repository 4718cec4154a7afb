"""Settlement (market-rules §5.3): the fill state machine and the rule table, as pure functions.

A fill moves through a table of states; an illegal move raises. ``decide`` reads the facts a
reconciler gathered (deliveries, the clock, scores from Numerai) and returns the next move —
or nothing, when it must wait. ``money`` turns a final outcome into ledger legs. Numerai
being unreachable only ever delays: the facts then say "unknown" and ``decide`` waits.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from nmrx.wallet.money import UNITS_PER_NMR, format_nmr

SCORE_TOLERANCE = 1e-6


class FillState(StrEnum):
    PENDING_DELIVERY = "pending_delivery"
    DELIVERED = "delivered"  # protected: submitted to the slot, waiting for the round to close
    AWAITING_SCORES = "awaiting_scores"  # protected: round closed, ours was selected
    RELEASED = "released"
    REFUNDED = "refunded"


FINAL = frozenset({FillState.RELEASED, FillState.REFUNDED})

TRANSITIONS: Mapping[FillState, frozenset[FillState]] = {
    FillState.PENDING_DELIVERY: frozenset(
        {FillState.DELIVERED, FillState.RELEASED, FillState.REFUNDED}
    ),
    FillState.DELIVERED: frozenset(
        {FillState.AWAITING_SCORES, FillState.RELEASED, FillState.REFUNDED}
    ),
    FillState.AWAITING_SCORES: frozenset({FillState.RELEASED, FillState.REFUNDED}),
    FillState.RELEASED: frozenset(),
    FillState.REFUNDED: frozenset(),
}


class IllegalTransition(Exception):
    pass


def check_transition(current: FillState, target: FillState) -> None:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(f"a {current.value} fill cannot become {target.value}")


class Reason(StrEnum):
    DELIVERED_UNPROTECTED = "delivered_unprotected"
    NON_DELIVERY = "non_delivery"
    SUBMITTED = "submitted"
    BUYER_DELIVERY_FAULT = "buyer_delivery_fault"
    NOBODY_DELIVERY_FAULT = "nobody_delivery_fault"
    SELECTED_AT_CLOSE = "selected_at_close"
    OVERRIDE = "override"
    SCORES_MATCH = "scores_match"
    SCORES_DIFFER = "scores_differ"
    SELLER_NO_SUBMISSION = "seller_no_submission"


EXPLANATIONS: Mapping[Reason, str] = {
    Reason.DELIVERED_UNPROTECTED: "the file was delivered; the payment went to the seller",
    Reason.NON_DELIVERY: "the seller did not upload the round's predictions before the deadline: full refund, plus a non-delivery penalty from the seller's collateral",
    Reason.SUBMITTED: "the file was submitted to the buyer's slot; waiting for the round to close",
    Reason.BUYER_DELIVERY_FAULT: "the automatic submission failed because of the buyer's Numerai key or slot; the payment went to the seller",
    Reason.NOBODY_DELIVERY_FAULT: "the automatic submission failed through nobody's fault (Numerai unavailable or a platform error): full refund, no penalty",
    Reason.SELECTED_AT_CLOSE: "the round closed with our submission selected on the slot; waiting for the first daily score",
    Reason.OVERRIDE: "the buyer replaced the automatic submission on the slot, so the fill is not protected: the payment went to the seller",
    Reason.SCORES_MATCH: "the slot and the seller's model scored the same: consistency check passed, the payment went to the seller",
    Reason.SCORES_DIFFER: "the slot and the seller's model scored differently: consistency check failed, full refund plus a penalty from the seller's collateral",
    Reason.SELLER_NO_SUBMISSION: "the seller's own model has no submission for the round: consistency check failed, full refund plus a penalty from the seller's collateral",
}


def is_protected(mode: str, *, has_slot: bool) -> bool:
    """A protected fill is settled on what happened on the buyer's slot, not on a download:
    every Stake Mode fill, and a File Mode fill bought with a verification slot."""
    return mode == "stake" or has_slot


def reads_scores(state: FillState, *, now: datetime, round_close: datetime) -> bool:
    """Whether Numerai must be read for a fill: one submitted to a slot, once its round closed."""
    return state in (FillState.DELIVERED, FillState.AWAITING_SCORES) and now >= round_close


def is_ours_selected(selected_submission_id: str | None, ours: Collection[str]) -> bool:
    """The slot's selected submission for the round is one the platform made to it (for this
    buyer; with several protected fills on one slot, the last delivery counts for all)."""
    return selected_submission_id is not None and selected_submission_id in ours


def is_over_staked(at_risk: Decimal | None, *, allowance: int) -> bool:
    """Stake Mode: the slot has more NMR at risk than the allowance the buyer bought (units);
    no stake read counts as none."""
    return (at_risk or Decimal(0)) * UNITS_PER_NMR > allowance


@dataclass(frozen=True)
class Facts:
    """What the reconciler knows about one fill now. ``None`` means "unknown yet"."""

    state: FillState
    mode: str  # file | stake
    protected: bool  # Stake Mode, or File Mode with a verification slot
    now: datetime
    upload_deadline: datetime
    round_close: datetime
    has_upload: bool
    download_delivered: bool = False
    submission_state: str | None = None  # waiting | delivered | failed
    submission_fault: str | None = None  # buyer | nobody
    ours_selected: bool | None = None  # the slot's selected submission is still ours
    seller_has_submission: bool | None = None
    seller_score: float | None = None
    slot_score: float | None = None
    over_staked: bool | None = None  # Stake Mode: atRisk on the slot above the allowance


@dataclass(frozen=True)
class Move:
    target: FillState
    reason: Reason
    seller_fault: bool = False  # refund with a penalty
    over_staked: bool = False  # buyer collateral goes to the seller


def decide(f: Facts) -> Move | None:
    """The next move for a fill, or None to wait. The rule table of §5.3."""
    if f.state is FillState.PENDING_DELIVERY:
        return _pending(f)
    if f.state is FillState.DELIVERED:
        if f.now < f.round_close or f.ours_selected is None:
            return None
        if not f.ours_selected:
            if f.mode == "stake" and f.over_staked is None:
                return None
            return _final(f, FillState.RELEASED, Reason.OVERRIDE)
        return Move(FillState.AWAITING_SCORES, Reason.SELECTED_AT_CLOSE)
    if f.state is FillState.AWAITING_SCORES:
        return _scored(f)
    return None


def _pending(f: Facts) -> Move | None:
    if not f.has_upload:
        if f.now >= f.upload_deadline:
            return Move(FillState.REFUNDED, Reason.NON_DELIVERY, seller_fault=True)
        return None
    if not f.protected:
        return (
            Move(FillState.RELEASED, Reason.DELIVERED_UNPROTECTED) if f.download_delivered else None
        )
    if f.submission_state == "delivered":
        return Move(FillState.DELIVERED, Reason.SUBMITTED)
    if f.submission_state == "failed":
        if f.submission_fault == "buyer":
            return _final(f, FillState.RELEASED, Reason.BUYER_DELIVERY_FAULT)
        return _final(f, FillState.REFUNDED, Reason.NOBODY_DELIVERY_FAULT)
    return None


def _scored(f: Facts) -> Move | None:
    if f.ours_selected is None or f.seller_has_submission is None:
        return None  # Numerai not read yet (or unavailable): wait
    if f.mode == "stake" and f.over_staked is None:
        return None
    if not f.ours_selected:
        return _final(f, FillState.RELEASED, Reason.OVERRIDE)
    if not f.seller_has_submission:
        return _final(f, FillState.REFUNDED, Reason.SELLER_NO_SUBMISSION, seller_fault=True)
    if f.seller_score is None or f.slot_score is None:
        return None  # the first daily score is not out yet
    if abs(f.seller_score - f.slot_score) <= SCORE_TOLERANCE:
        return _final(f, FillState.RELEASED, Reason.SCORES_MATCH)
    return _final(f, FillState.REFUNDED, Reason.SCORES_DIFFER, seller_fault=True)


def _final(f: Facts, target: FillState, reason: Reason, *, seller_fault: bool = False) -> Move:
    return Move(
        target,
        reason,
        seller_fault=seller_fault,
        over_staked=bool(f.mode == "stake" and f.over_staked),
    )


@dataclass(frozen=True)
class Leg:
    """One ledger transfer of a settlement: from → to, an amount, a code."""

    name: str
    source: str  # "escrow" | "buyer_collateral" | "seller_collateral"
    destination: str  # "seller" | "buyer" | "fees"
    amount: int
    code: str


@dataclass(frozen=True)
class Terms:
    notional: int
    fee_rate_bp: int
    buyer_collateral: int
    non_delivery_penalty_bp: int
    consistency_penalty_bp: int
    seller_collateral_available: int  # the cap for a penalty


def fee(notional: int, fee_rate_bp: int) -> int:
    return notional * fee_rate_bp // 10_000


def penalty(move: Move, t: Terms) -> int:
    if not move.seller_fault:
        return 0
    rate = (
        t.non_delivery_penalty_bp
        if move.reason is Reason.NON_DELIVERY
        else t.consistency_penalty_bp
    )
    return min(t.notional * rate // 10_000, max(0, t.seller_collateral_available))


def money(move: Move, t: Terms) -> list[Leg]:
    """The ledger legs of a final move; each leg's amount is positive (zero legs are dropped)."""
    legs: list[Leg] = []
    if move.target is FillState.RELEASED:
        charge = fee(t.notional, t.fee_rate_bp)
        legs += [
            Leg("proceeds", "escrow", "seller", t.notional - charge, "settle_release"),
            Leg("fee", "escrow", "fees", charge, "settle_fee"),
        ]
    elif move.target is FillState.REFUNDED:
        legs.append(Leg("refund", "escrow", "buyer", t.notional, "settle_refund"))
        legs.append(
            Leg("penalty", "seller_collateral", "buyer", penalty(move, t), "settle_penalty")
        )
    else:
        return []
    collateral_to = "seller" if move.over_staked else "buyer"
    legs.append(
        Leg(
            "buyer_collateral",
            "buyer_collateral",
            collateral_to,
            t.buyer_collateral,
            "settle_collateral",
        )
    )
    return [leg for leg in legs if leg.amount > 0]


def explain(move: Move, legs: list[Leg]) -> str:
    text = EXPLANATIONS[move.reason]
    paid = {leg.name: leg.amount for leg in legs}
    if paid.get("penalty"):
        text += f" ({format_nmr(paid['penalty'])} NMR penalty)"
    if move.over_staked and paid.get("buyer_collateral"):
        text += (
            f"; the buyer staked more than the allowance bought, so their collateral "
            f"({format_nmr(paid['buyer_collateral'])} NMR) went to the seller"
        )
    return text
