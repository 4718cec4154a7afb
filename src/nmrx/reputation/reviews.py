"""Verified reviews (market-rules §6): a 1–5 rating and text from the buyer of a settled
fill (released or refunded) of the model, one per fill; the seller may reply once.

The rules are :func:`nmrx.reputation.rules.may_review` / ``may_reply``; the database
enforces one review per fill (a unique index), so two concurrent posts for one purchase
cannot both land.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nmrx.accounts.rules import username_key
from nmrx.accounts.tables import User
from nmrx.market.tables import Fill, Instrument
from nmrx.platform.db import locked
from nmrx.platform.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceError
from nmrx.platform.tables import AuditEvent
from nmrx.reputation.rules import REVIEWABLE_FILL_STATES, ReviewRefusal, may_reply, may_review
from nmrx.reputation.tables import Review
from nmrx.sellers.tables import NumeraiModel

if TYPE_CHECKING:
    from nmrx.platform.bootstrap import Container

MESSAGES: dict[ReviewRefusal, tuple[type[ServiceError], str]] = {
    ReviewRefusal.BAD_RATING: (InvalidInput, "rating must be a whole number from 1 to 5"),
    ReviewRefusal.BAD_TEXT: (InvalidInput, "text must be 1 to 2,000 characters"),
    ReviewRefusal.NOT_THE_BUYER: (
        Forbidden,
        "only the buyer of a settled purchase of this model may review it",
    ),
    ReviewRefusal.NOT_SETTLED: (
        Forbidden,
        "this purchase has not settled yet: review it once it is released or refunded",
    ),
    ReviewRefusal.ALREADY_REVIEWED: (Conflict, "you have already reviewed this purchase"),
    ReviewRefusal.NOT_THE_SELLER: (Forbidden, "only the seller of the reviewed purchase may reply"),
    ReviewRefusal.ALREADY_REPLIED: (Conflict, "you have already replied to this review"),
}


def _refuse(refusal: ReviewRefusal) -> ServiceError:
    error, message = MESSAGES[refusal]
    return error(message)


@dataclass(frozen=True)
class ReviewView:
    id: int
    fill_id: int
    model_id: int
    model_name: str
    round_number: int
    mode: str
    outcome: str  # the fill's final state: released | refunded
    buyer: str
    seller: str
    rating: int
    text: str
    verified: bool
    created_at: datetime
    reply: str | None
    replied_at: datetime | None


@dataclass(frozen=True)
class Reviewable:
    """A settled purchase of the user's that has no review yet."""

    fill_id: int
    round_number: int
    mode: str
    state: str
    created_at: datetime


def _views(session: Session, reviews: list[Review]) -> list[ReviewView]:
    if not reviews:
        return []
    fills = {
        f.id: (f, i)
        for f, i in session.execute(
            select(Fill, Instrument)
            .join(Instrument, Instrument.id == Fill.instrument_id)
            .where(Fill.id.in_([r.fill_id for r in reviews]))
        ).all()
    }
    user_ids = {r.buyer_user_id for r in reviews} | {r.seller_user_id for r in reviews}
    names = dict(session.execute(select(User.id, User.username).where(User.id.in_(user_ids))).all())
    models = dict(
        session.execute(
            select(NumeraiModel.id, NumeraiModel.name).where(
                NumeraiModel.id.in_({r.model_id for r in reviews})
            )
        ).all()
    )
    out = []
    for r in reviews:
        fill, instrument = fills[r.fill_id]
        out.append(
            ReviewView(
                id=r.id,
                fill_id=r.fill_id,
                model_id=r.model_id,
                model_name=models[r.model_id],
                round_number=instrument.round_number,
                mode=instrument.mode,
                outcome=fill.state,
                buyer=names[r.buyer_user_id],
                seller=names[r.seller_user_id],
                rating=r.rating,
                text=r.text,
                verified=r.verified,
                created_at=r.created_at,
                reply=r.reply_text,
                replied_at=r.replied_at,
            )
        )
    return out


def _purchases(session: Session, *, user_id: int, model_id: int) -> list[tuple[Fill, Instrument]]:
    return list(
        session.execute(
            select(Fill, Instrument)
            .join(Instrument, Instrument.id == Fill.instrument_id)
            .where(Fill.buyer_user_id == user_id, Instrument.model_id == model_id)
            .order_by(Fill.id)
        )
        .tuples()
        .all()
    )


def reviewable(c: Container, *, user_id: int, model_id: int) -> list[Reviewable]:
    """The user's settled purchases of the model without a review, oldest first."""
    with c.db.transaction() as session:
        reviewed = set(
            session.scalars(select(Review.fill_id).where(Review.buyer_user_id == user_id)).all()
        )
        return [
            Reviewable(f.id, i.round_number, i.mode, f.state, f.created_at)
            for f, i in _purchases(session, user_id=user_id, model_id=model_id)
            if f.state in REVIEWABLE_FILL_STATES and f.id not in reviewed
        ]


def _target_fill(
    session: Session, *, user_id: int, model_id: int, fill_id: int | None
) -> tuple[Fill | None, bool]:
    """The fill to review and whether it already has a review."""
    if fill_id is not None:
        fill = session.get(Fill, fill_id)
        if fill is None:
            return None, False
        instrument = session.get(Instrument, fill.instrument_id)
        if instrument is None or instrument.model_id != model_id:
            return None, False
        done = session.scalar(select(Review.id).where(Review.fill_id == fill_id)) is not None
        return fill, done
    purchases = _purchases(session, user_id=user_id, model_id=model_id)
    settled = [f for f, _ in purchases if f.state in REVIEWABLE_FILL_STATES]
    if not settled:
        return (purchases[0][0] if purchases else None), False
    reviewed = set(
        session.scalars(
            select(Review.fill_id).where(Review.fill_id.in_([f.id for f in settled]))
        ).all()
    )
    for fill in settled:
        if fill.id not in reviewed:
            return fill, False
    return settled[0], True


def create_review(
    c: Container,
    *,
    user_id: int,
    model_id: int,
    rating: int,
    text: str,
    fill_id: int | None = None,
) -> ReviewView:
    """Review a settled purchase of the model (``fill_id``, or the oldest not reviewed)."""
    with c.db.transaction() as session:
        if session.get(NumeraiModel, model_id) is None:
            raise NotFound(f"no model {model_id}")
        fill, done = _target_fill(session, user_id=user_id, model_id=model_id, fill_id=fill_id)
        refusal = may_review(
            rating=rating,
            text=text,
            is_buyer=fill is not None and fill.buyer_user_id == user_id,
            fill_state=fill.state if fill is not None else "",
            already_reviewed=done,
        )
        if refusal is not None:
            raise _refuse(refusal)
        assert fill is not None
        review = Review(
            fill_id=fill.id,
            model_id=model_id,
            seller_user_id=fill.seller_user_id,
            buyer_user_id=user_id,
            rating=rating,
            text=text.strip(),
            verified=True,
        )
        session.add(review)
        try:
            session.flush()
        except IntegrityError:
            raise _refuse(ReviewRefusal.ALREADY_REVIEWED) from None
        session.add(
            AuditEvent(
                actor_user_id=user_id,
                action="review.create",
                subject=f"review:{review.id}",
                detail=f"fill {fill.id}, rating {rating}",
            )
        )
        return _views(session, [review])[0]


def reply(c: Container, *, user_id: int, review_id: int, text: str) -> ReviewView:
    """The seller of the reviewed purchase answers, once."""
    with c.db.transaction() as session:
        review = session.scalars(locked(select(Review).where(Review.id == review_id))).first()
        if review is None:
            raise NotFound(f"no review {review_id}")
        refusal = may_reply(
            text=text,
            is_seller=review.seller_user_id == user_id,
            has_reply=review.reply_text is not None,
        )
        if refusal is not None:
            raise _refuse(refusal)
        review.reply_text, review.replied_at = text.strip(), c.clock.now()
        session.add(
            AuditEvent(
                actor_user_id=user_id,
                action="review.reply",
                subject=f"review:{review.id}",
                detail="",
            )
        )
        return _views(session, [review])[0]


def of_model(c: Container, *, model_id: int, limit: int = 100) -> list[ReviewView]:
    with c.db.transaction() as session:
        if session.get(NumeraiModel, model_id) is None:
            raise NotFound(f"no model {model_id}")
        rows = session.scalars(
            select(Review)
            .where(Review.model_id == model_id)
            .order_by(Review.id.desc())
            .limit(limit)
        ).all()
        return _views(session, list(rows))


def of_seller(c: Container, *, username: str, limit: int = 100) -> list[ReviewView]:
    with c.db.transaction() as session:
        user = session.scalars(select(User).where(User.username == username_key(username))).first()
        if user is None:
            raise NotFound(f"no seller named '{username}'")
        rows = session.scalars(
            select(Review)
            .where(Review.seller_user_id == user.id)
            .order_by(Review.id.desc())
            .limit(limit)
        ).all()
        return _views(session, list(rows))
