"""A seller's standing (market-rules §6), computed from the exchange's own records only.

Every figure comes with the ids it counted, so anyone can trace it:

* **models** — the models the seller owns now (verified; each gets books automatically);
* **fills / volume** — every fill where the user was the seller, any state; volume is
  their notional (what buyers paid, refunded or not);
* **on-time delivery** — per *round with sales* (a model and round the seller sold in,
  either mode): on time if the round's predictions were uploaded (uploads are only
  accepted until ``close − upload_margin``, so a stored upload is an upload in time), late
  if that deadline passed with none; rounds still before their deadline without an
  upload are not counted yet;
* **consistency checks** — per protected fill, the settlement outcome: passed
  (``scores_match``) or failed (``scores_differ``, ``seller_no_submission``);
  non-deliveries (``non_delivery``) are listed separately;
* **penalties paid** — ledger transfers with code ``settle_penalty`` out of the seller's
  collateral account;
* **tenure** — days since the seller's first model verification;
* **rating** — the mean of the ratings of reviews of purchases from this seller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nmrx.accounts.rules import username_key
from nmrx.accounts.tables import User
from nmrx.delivery.rules import upload_deadline
from nmrx.delivery.tables import PredictionUpload
from nmrx.market.tables import Fill, Instrument
from nmrx.platform.errors import NotFound
from nmrx.reputation.rules import (
    CHECK_OUTCOMES,
    NON_DELIVERY_REASON,
    CheckOutcome,
    average,
    ratio,
)
from nmrx.reputation.tables import Review
from nmrx.sellers.tables import NumeraiModel, OwnershipMove
from nmrx.settlement.tables import FillEvent
from nmrx.wallet.rules import AccountKind, user_account_key
from nmrx.wallet.tables import LedgerAccount, LedgerTransfer

if TYPE_CHECKING:
    from nmrx.platform.bootstrap import Container

PENALTY_CODE = "settle_penalty"


@dataclass(frozen=True)
class RoundDelivery:
    model_id: int
    model_name: str
    round_number: int
    deadline: datetime
    status: str  # on_time | late | pending
    upload_id: int | None  # the first upload of the round, if any


@dataclass(frozen=True)
class Penalty:
    transfer_id: str
    amount: int
    created_at: datetime


@dataclass
class Standing:
    user_id: int
    username: str
    member_since: datetime
    seller_since: datetime | None
    tenure_days: int
    models: list[tuple[int, str, str]]  # (id, name, tournament)
    fill_ids: list[int]
    volume: int
    rounds: list[RoundDelivery]
    checks_passed: list[int]  # fill ids
    checks_failed: list[int]
    non_deliveries: list[int]
    penalties: list[Penalty]
    review_ids: list[int]
    ratings: list[int] = field(repr=False)

    @property
    def fills(self) -> int:
        return len(self.fill_ids)

    @property
    def on_time(self) -> int:
        return sum(1 for r in self.rounds if r.status == "on_time")

    @property
    def late(self) -> int:
        return sum(1 for r in self.rounds if r.status == "late")

    @property
    def on_time_rate(self) -> float | None:
        return ratio(self.on_time, self.on_time + self.late)

    @property
    def penalties_paid(self) -> int:
        return sum(p.amount for p in self.penalties)

    @property
    def average_rating(self) -> float | None:
        return average(self.ratings)

    @property
    def check_pass_rate(self) -> float | None:
        return ratio(len(self.checks_passed), len(self.checks_passed) + len(self.checks_failed))


def _user(session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username_key(username))).first()
    if user is None:
        raise NotFound(f"no seller named '{username}'")
    return user


def seller_standing(c: Container, *, username: str) -> Standing:
    now = c.clock.now()
    margin_minutes = c.settings.upload_margin_minutes
    with c.db.transaction() as session:
        user = _user(session, username)
        models = _models_of(session, user.id)
        seller_since = session.scalar(
            select(func.min(OwnershipMove.created_at)).where(OwnershipMove.to_user_id == user.id)
        )
        sold = session.execute(
            select(Fill.id, Fill.notional, Instrument.model_id, Instrument.round_number)
            .join(Instrument, Instrument.id == Fill.instrument_id)
            .where(Fill.seller_user_id == user.id)
            .order_by(Fill.id)
        ).all()
        rounds = _rounds(session, {(m, r) for _, _, m, r in sold}, now, margin_minutes)
        checks_passed, checks_failed, non_deliveries = [], [], []
        for fill_id, reason in session.execute(
            select(FillEvent.fill_id, FillEvent.reason)
            .join(Fill, Fill.id == FillEvent.fill_id)
            .where(
                Fill.seller_user_id == user.id,
                FillEvent.reason.in_([*CHECK_OUTCOMES, NON_DELIVERY_REASON]),
            )
            .order_by(FillEvent.fill_id)
        ):
            if reason == NON_DELIVERY_REASON:
                non_deliveries.append(fill_id)
            elif CHECK_OUTCOMES[reason] is CheckOutcome.PASSED:
                checks_passed.append(fill_id)
            else:
                checks_failed.append(fill_id)
        penalties = _penalties(session, user.id)
        reviews = session.execute(
            select(Review.id, Review.rating)
            .where(Review.seller_user_id == user.id)
            .order_by(Review.id)
        ).all()
        since = seller_since or None
        return Standing(
            user_id=user.id,
            username=user.username,
            member_since=user.created_at,
            seller_since=since,
            tenure_days=max(0, (c.clock.now() - since).days) if since else 0,
            models=models,
            fill_ids=[f for f, _, _, _ in sold],
            volume=sum(n for _, n, _, _ in sold),
            rounds=rounds,
            checks_passed=checks_passed,
            checks_failed=checks_failed,
            non_deliveries=non_deliveries,
            penalties=penalties,
            review_ids=[i for i, _ in reviews],
            ratings=[r for _, r in reviews],
        )


def _models_of(session: Session, user_id: int) -> list[tuple[int, str, str]]:
    """The seller's models as (id, name, tournament), by tournament and name."""
    return [
        (m.id, m.name, m.tournament)
        for m in session.scalars(
            select(NumeraiModel)
            .where(NumeraiModel.owner_user_id == user_id)
            .order_by(NumeraiModel.tournament, NumeraiModel.name)
        )
    ]


def _penalties(session: Session, user_id: int) -> list[Penalty]:
    """Every penalty taken from the seller's collateral, oldest first."""
    return [
        Penalty(t.id, t.amount, t.created_at)
        for t in session.scalars(
            select(LedgerTransfer)
            .join(LedgerAccount, LedgerAccount.id == LedgerTransfer.debit_account_id)
            .where(
                LedgerAccount.key == user_account_key(user_id, AccountKind.COLLATERAL),
                LedgerTransfer.code == PENALTY_CODE,
            )
            .order_by(LedgerTransfer.seq)
        )
    ]


@dataclass(frozen=True)
class Summary:
    """The seller card's figures: the same definitions as :class:`Standing`, counted
    in SQL (aggregates only, no id lists) for a page that must stay fast."""

    username: str
    fills: int
    on_time: int
    late: int
    checks_passed: int
    checks_failed: int
    penalties_paid: int
    reviews: int
    average_rating: float | None

    @property
    def on_time_rate(self) -> float | None:
        return ratio(self.on_time, self.on_time + self.late)


def summary(session, *, user: User, now: datetime, margin_minutes: int) -> Summary:
    """A seller's standing in brief, read in the caller's transaction."""
    fills = session.scalar(select(func.count(Fill.id)).where(Fill.seller_user_id == user.id))
    sold = {
        (m, r)
        for m, r in session.execute(
            select(Instrument.model_id, Instrument.round_number)
            .join(Fill, Fill.instrument_id == Instrument.id)
            .where(Fill.seller_user_id == user.id)
            .distinct()
        )
    }
    statuses = [r.status for r in _rounds(session, sold, now, margin_minutes)]
    checks = dict(
        session.execute(
            select(FillEvent.reason, func.count(FillEvent.id))
            .join(Fill, Fill.id == FillEvent.fill_id)
            .where(Fill.seller_user_id == user.id, FillEvent.reason.in_(list(CHECK_OUTCOMES)))
            .group_by(FillEvent.reason)
        ).all()
    )
    penalties = session.scalar(
        select(func.coalesce(func.sum(LedgerTransfer.amount), 0))
        .join(LedgerAccount, LedgerAccount.id == LedgerTransfer.debit_account_id)
        .where(
            LedgerAccount.key == user_account_key(user.id, AccountKind.COLLATERAL),
            LedgerTransfer.code == PENALTY_CODE,
        )
    )
    reviews, total = session.execute(
        select(func.count(Review.id), func.coalesce(func.sum(Review.rating), 0)).where(
            Review.seller_user_id == user.id
        )
    ).one()
    return Summary(
        username=user.username,
        fills=int(fills or 0),
        on_time=statuses.count("on_time"),
        late=statuses.count("late"),
        checks_passed=sum(n for k, n in checks.items() if CHECK_OUTCOMES[k] is CheckOutcome.PASSED),
        checks_failed=sum(
            n for k, n in checks.items() if CHECK_OUTCOMES[k] is not CheckOutcome.PASSED
        ),
        penalties_paid=int(penalties or 0),
        reviews=int(reviews),
        average_rating=int(total) / int(reviews) if reviews else None,
    )


def _rounds(
    session, sold: set[tuple[int, int]], now: datetime, margin_minutes: int
) -> list[RoundDelivery]:
    """On time / late / pending for each (model, round) the seller sold in."""
    if not sold:
        return []
    model_ids = {m for m, _ in sold}
    closes = {
        (m, r): close
        for m, r, close in session.execute(
            select(
                Instrument.model_id, Instrument.round_number, func.min(Instrument.round_close_at)
            )
            .where(Instrument.model_id.in_(model_ids))
            .group_by(Instrument.model_id, Instrument.round_number)
        )
        if (m, r) in sold
    }
    first_upload = {
        (m, r): upload_id
        for m, r, upload_id in session.execute(
            select(
                PredictionUpload.model_id,
                PredictionUpload.round_number,
                func.min(PredictionUpload.id),
            )
            .where(PredictionUpload.model_id.in_(model_ids))
            .group_by(PredictionUpload.model_id, PredictionUpload.round_number)
        )
    }
    names = dict(
        session.execute(
            select(NumeraiModel.id, NumeraiModel.name).where(NumeraiModel.id.in_(model_ids))
        ).all()
    )
    out = []
    for model_id, number in sorted(sold, key=lambda k: (k[1], k[0])):
        deadline = upload_deadline(closes[(model_id, number)], margin_minutes)
        upload_id = first_upload.get((model_id, number))
        if upload_id is not None:
            status = "on_time"
        elif now >= deadline:
            status = "late"
        else:
            status = "pending"
        out.append(RoundDelivery(model_id, names[model_id], number, deadline, status, upload_id))
    return out
