"""Standing orders: sellers' ask ladders (listings) and buyers' standing bids (subscriptions).

A standing order is a list of (quantity, price) levels on one model and mode, placed
as limit orders into each book of that model and mode when the book opens (§4.1):

* a **ladder** is a seller's standing ask, one per model and mode. Creating one places
  it in the books open now; an edit applies to the next books, and with
  ``apply_to_open`` also replaces the ladder's open asks in the open books at once.
  Pausing pulls its open asks; resuming puts them back in the open books.
* a **standing bid** is a buyer's bid for the next ``rounds`` rounds (or until
  cancelled), placed in the open books in round order and in each new one.

Each placement of a standing order in a book is recorded (``StandingPlacement``) so
it happens once per book; a placement refused (no funds, collateral below the
requirement, no longer the owner) writes nothing and is retried by the next
:func:`nmrx.market.instruments.open_books`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from nmrx.market.matching import MarketTransaction, now_or_default, run_with_session
from nmrx.market.orders import Side
from nmrx.market.placement import check_may_list, check_slot
from nmrx.market.rules import Mode, OrderState, StandingState, order_problem
from nmrx.market.standing_books import levels_of, place_everywhere, pull
from nmrx.market.tables import (
    MarketOrder,
    StandingLevel,
    StandingOrder,
)
from nmrx.platform.db import locked
from nmrx.platform.errors import Conflict, Forbidden, InvalidInput, NotFound
from nmrx.platform.tables import AuditEvent
from nmrx.sellers.tables import NumeraiModel

if TYPE_CHECKING:
    from nmrx.platform.bootstrap import Container

MAX_LEVELS = 20
MAX_ROUNDS = 520  # about two years of rounds


@dataclass(frozen=True)
class Level:
    quantity: int
    price: int


@dataclass(frozen=True)
class StandingView:
    id: int
    model_id: int
    model_name: str
    tournament: str
    mode: str
    side: str
    state: str
    rounds: int | None
    rounds_placed: int
    slot_model_id: int | None
    version: int
    levels: list[Level]
    open_orders: int
    created_at: datetime
    updated_at: datetime


def _view(session: Session, so: StandingOrder) -> StandingView:
    model = session.get(NumeraiModel, so.model_id)
    assert model is not None
    levels = levels_of(session, so.id)
    open_orders = len(
        session.scalars(
            select(MarketOrder.id).where(
                MarketOrder.standing_order_id == so.id, MarketOrder.state == OrderState.OPEN
            )
        ).all()
    )
    return StandingView(
        so.id,
        so.model_id,
        model.name,
        model.tournament,
        so.mode,
        so.side,
        so.state,
        so.rounds,
        so.rounds_placed,
        so.slot_model_id,
        so.version,
        [Level(lv.quantity, lv.price) for lv in levels],
        open_orders,
        so.created_at,
        so.updated_at,
    )


def _mode(mode: str | Mode) -> Mode:
    try:
        return Mode(mode)
    except ValueError:
        raise InvalidInput("mode must be 'file' or 'stake'") from None


def _check_levels(levels: Sequence[tuple[int, int]]) -> list[Level]:
    if not 1 <= len(levels) <= MAX_LEVELS:
        raise InvalidInput(f"give 1 to {MAX_LEVELS} levels of (quantity, price)")
    checked = [Level(q, p) for q, p in levels]
    for i, level in enumerate(checked, 1):
        problem = order_problem(level.price, level.quantity)
        if problem:
            raise InvalidInput(f"level {i}: {problem}")
    if len({lv.price for lv in checked}) != len(checked):
        raise InvalidInput("each level needs its own price")
    return checked


def _lock(session: Session, standing_id: int, user_id: int) -> StandingOrder:
    query = locked(select(StandingOrder).where(StandingOrder.id == standing_id))
    so = session.scalars(query.execution_options(populate_existing=True)).first()
    if so is None or so.user_id != user_id:
        raise NotFound(f"you have no standing order {standing_id}")
    return so


def _audit(session: Session, so: StandingOrder, action: str, detail: str = "") -> None:
    session.add(
        AuditEvent(
            actor_user_id=so.user_id,
            action=f"standing.{action}",
            subject=f"standing:{so.id}",
            detail=detail,
        )
    )


def _ladder_of(session: Session, user_id: int, model_id: int, mode: Mode) -> StandingOrder | None:
    """The seller's live (active or paused) ladder for a model and mode."""
    return session.scalars(
        select(StandingOrder).where(
            StandingOrder.user_id == user_id,
            StandingOrder.model_id == model_id,
            StandingOrder.mode == mode.value,
            StandingOrder.side == Side.ASK.value,
            StandingOrder.state.in_([StandingState.ACTIVE, StandingState.PAUSED]),
        )
    ).first()


def _new_standing(
    session: Session,
    user_id: int,
    model_id: int,
    mode: Mode,
    side: Side,
    moment: datetime,
    rounds: int | None = None,
    slot_model_id: int | None = None,
) -> StandingOrder:
    so = StandingOrder(
        user_id=user_id,
        model_id=model_id,
        mode=mode.value,
        side=side.value,
        state=StandingState.ACTIVE.value,
        rounds=rounds,
        rounds_placed=0,
        slot_model_id=slot_model_id,
        version=1,
        created_at=moment,
        updated_at=moment,
    )
    session.add(so)
    session.flush()  # market statements of this transaction refer to it
    return so


def _add_levels(session: Session, so: StandingOrder, levels: Sequence[Level]) -> None:
    for position, level in enumerate(levels, 1):
        session.add(
            StandingLevel(
                standing_order_id=so.id,
                position=position,
                quantity=level.quantity,
                price=level.price,
            )
        )
    session.flush()


# ------------------------------------------------------------------ ladders


def set_ladder(
    c: Container,
    *,
    user_id: int,
    model_id: int,
    mode: str | Mode,
    levels: Sequence[tuple[int, int]],
    apply_to_open: bool = False,
    now: datetime | None = None,
) -> StandingView:
    """Create or replace the seller's ask ladder for a model and mode.

    A new ladder goes into the books open now. A replaced ladder applies to the next
    books; with ``apply_to_open`` its open asks are replaced in the open books too."""
    chosen, checked, moment = _mode(mode), _check_levels(levels), now_or_default(c, now)

    def work(mt: MarketTransaction, session: Session) -> StandingView:
        model = session.get(NumeraiModel, model_id)
        if model is None:
            raise NotFound(f"no model {model_id}")
        if model.owner_user_id != user_id:
            raise Forbidden(f"only the verified owner of model '{model.name}' may list it")
        check_may_list(mt, user_id)
        so = _ladder_of(session, user_id, model_id, chosen)
        created = so is None
        if so is None:
            so = _new_standing(session, user_id, model_id, chosen, Side.ASK, moment)
        else:
            so = _lock(session, so.id, user_id)
            if apply_to_open:
                pull(mt, session, so, moment)
            so.version += 1
            so.updated_at = moment
            session.execute(delete(StandingLevel).where(StandingLevel.standing_order_id == so.id))
        _add_levels(session, so, checked)
        _audit(session, so, "ladder.set", ", ".join(f"{lv.quantity}@{lv.price}" for lv in checked))
        if created or apply_to_open:
            refusals = place_everywhere(mt, session, so, moment)
            if refusals:
                raise Conflict(refusals[0])
        return _view(session, so)

    return run_with_session(c, work)


# ------------------------------------------------------------------ standing bids


def create_standing_bid(
    c: Container,
    *,
    user_id: int,
    model_id: int,
    mode: str | Mode,
    quantity: int,
    price: int,
    rounds: int | None = None,
    slot_model_id: int | None = None,
    now: datetime | None = None,
) -> StandingView:
    """A bid in the next ``rounds`` rounds' books (or until cancelled), placed in the
    open books now (round by round, while funds last) and in each new book."""
    chosen, moment = _mode(mode), now_or_default(c, now)
    (level,) = _check_levels([(quantity, price)])
    if rounds is not None and not 1 <= rounds <= MAX_ROUNDS:
        raise InvalidInput(
            f"rounds must be between 1 and {MAX_ROUNDS} (or omitted: until cancelled)"
        )

    def work(mt: MarketTransaction, session: Session) -> StandingView:
        model = session.get(NumeraiModel, model_id)
        if model is None or model.owner_user_id is None:
            raise NotFound(f"no listed model {model_id}")
        if model.owner_user_id == user_id:
            raise Forbidden(f"you own model '{model.name}': you may ask, not bid")
        check_slot(
            mt,
            user_id=user_id,
            slot_model_id=slot_model_id,
            tournament=model.tournament,
            required=chosen is Mode.STAKE,
        )
        so = _new_standing(
            session, user_id, model_id, chosen, Side.BID, moment, rounds, slot_model_id
        )
        _add_levels(session, so, [level])
        _audit(session, so, "bid.create", f"{level.quantity}@{level.price} rounds={rounds}")
        place_everywhere(mt, session, so, moment)  # refusals (e.g. funds) retry as books open
        return _view(session, so)

    return run_with_session(c, work)


# ------------------------------------------------------------------ both


def pause(
    c: Container, *, user_id: int, standing_id: int, now: datetime | None = None
) -> StandingView:
    """Stop placing the standing order and pull its open orders."""
    moment = now_or_default(c, now)

    def work(mt: MarketTransaction, session: Session) -> StandingView:
        so = _lock(session, standing_id, user_id)
        if so.state != StandingState.ACTIVE:
            raise Conflict(f"standing order {standing_id} is {so.state}, not active")
        so.state, so.updated_at = StandingState.PAUSED.value, moment
        pull(mt, session, so, moment)
        _audit(session, so, "pause")
        return _view(session, so)

    return run_with_session(c, work)


def resume(
    c: Container, *, user_id: int, standing_id: int, now: datetime | None = None
) -> StandingView:
    """Place the standing order again, in the open books and the next ones."""
    moment = now_or_default(c, now)

    def work(mt: MarketTransaction, session: Session) -> StandingView:
        so = _lock(session, standing_id, user_id)
        if so.state != StandingState.PAUSED:
            raise Conflict(f"standing order {standing_id} is {so.state}, not paused")
        if so.side == Side.ASK:
            model = session.get(NumeraiModel, so.model_id)
            if model is None or model.owner_user_id != user_id:
                raise Forbidden("you no longer own this model")
            check_may_list(mt, user_id)
        so.state, so.updated_at = StandingState.ACTIVE.value, moment
        so.version += 1
        _audit(session, so, "resume")
        refusals = place_everywhere(mt, session, so, moment)
        if refusals and so.side == Side.ASK:
            raise Conflict(refusals[0])
        return _view(session, so)

    return run_with_session(c, work)


def cancel(
    c: Container, *, user_id: int, standing_id: int, now: datetime | None = None
) -> StandingView:
    """End the standing order for good and cancel its open orders."""
    moment = now_or_default(c, now)

    def work(mt: MarketTransaction, session: Session) -> StandingView:
        so = _lock(session, standing_id, user_id)
        if so.state != StandingState.CANCELLED:
            so.state, so.updated_at = StandingState.CANCELLED.value, moment
            pull(mt, session, so, moment)
            _audit(session, so, "cancel")
        return _view(session, so)

    return run_with_session(c, work)


def list_standing(c: Container, *, user_id: int, side: Side | None = None) -> list[StandingView]:
    def work(mt: MarketTransaction, session: Session) -> list[StandingView]:
        query = select(StandingOrder).where(StandingOrder.user_id == user_id)
        if side is not None:
            query = query.where(StandingOrder.side == side.value)
        rows = session.scalars(query.order_by(StandingOrder.id)).all()
        return [_view(session, so) for so in rows]

    return run_with_session(c, work)


def get_standing(c: Container, *, user_id: int, standing_id: int) -> StandingView:
    return run_with_session(
        c, lambda mt, session: _view(session, _lock(session, standing_id, user_id))
    )
