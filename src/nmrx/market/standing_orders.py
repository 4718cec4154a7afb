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

from nmrx.market.matching import (
    MarketTransaction,
    OrderRequest,
    cancel_in,
    check_may_list,
    check_slot,
    execute,
    now_or_default,
    prepare,
    run,
)
from nmrx.market.orders import CancelReason, OrderType, Side
from nmrx.market.rules import InstrumentState, Mode, OrderState, StandingState, order_problem
from nmrx.market.tables import (
    Instrument,
    MarketOrder,
    StandingLevel,
    StandingOrder,
    StandingPlacement,
)
from nmrx.platform.db import locked
from nmrx.platform.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceError
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


def _view(mt: MarketTransaction, so: StandingOrder) -> StandingView:
    session = mt.session
    model = session.get(NumeraiModel, so.model_id)
    assert model is not None
    levels = _levels(mt, so.id)
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


def _levels(mt: MarketTransaction, standing_order_id: int) -> list[StandingLevel]:
    return list(
        mt.session.scalars(
            select(StandingLevel)
            .where(StandingLevel.standing_order_id == standing_order_id)
            .order_by(StandingLevel.position)
        ).all()
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


def _lock(mt: MarketTransaction, standing_id: int, user_id: int) -> StandingOrder:
    query = locked(select(StandingOrder).where(StandingOrder.id == standing_id))
    so = mt.session.scalars(query.execution_options(populate_existing=True)).first()
    if so is None or so.user_id != user_id:
        raise NotFound(f"you have no standing order {standing_id}")
    return so


def _audit(mt: MarketTransaction, so: StandingOrder, action: str, detail: str = "") -> None:
    mt.session.add(
        AuditEvent(
            actor_user_id=so.user_id,
            action=f"standing.{action}",
            subject=f"standing:{so.id}",
            detail=detail,
        )
    )


def _open_instruments(mt: MarketTransaction, so: StandingOrder, now: datetime) -> list[int]:
    return list(
        mt.session.scalars(
            select(Instrument.id)
            .where(
                Instrument.model_id == so.model_id,
                Instrument.mode == so.mode,
                Instrument.state == InstrumentState.OPEN,
                Instrument.trading_closes_at > now,
            )
            .order_by(Instrument.round_number, Instrument.id)
        ).all()
    )


def _pull(mt: MarketTransaction, so: StandingOrder, now: datetime) -> int:
    """Cancel the standing order's open orders (on every book); returns how many."""
    order_ids = mt.session.scalars(
        select(MarketOrder.id)
        .where(MarketOrder.standing_order_id == so.id, MarketOrder.state == OrderState.OPEN)
        .order_by(MarketOrder.instrument_id, MarketOrder.id)
    ).all()
    for order_id in order_ids:
        cancel_in(mt, order_id, CancelReason.USER, now)
    return len(order_ids)


def _place_into(
    mt: MarketTransaction, so: StandingOrder, instrument_id: int, now: datetime
) -> tuple[int, str | None]:
    """Place the standing order's levels in one book (version-keyed, so idempotent).

    Returns (levels placed, refusal message or None). A book placed in for the first
    time is recorded and counts toward a standing bid's ``rounds``.
    """
    session = mt.session
    if so.state != StandingState.ACTIVE:
        return 0, None
    recorded = session.scalars(
        select(StandingPlacement.id).where(
            StandingPlacement.standing_order_id == so.id,
            StandingPlacement.instrument_id == instrument_id,
        )
    ).first()
    if recorded is None and so.rounds is not None and so.rounds_placed >= so.rounds:
        return 0, None
    placed = 0
    for level in _levels(mt, so.id):
        req = OrderRequest(
            user_id=so.user_id,
            instrument_id=instrument_id,
            side=Side(so.side),
            quantity=level.quantity,
            price=level.price,
            order_type=OrderType.LIMIT,
            client_order_id=f"standing:{so.id}:v{so.version}:i{instrument_id}:{level.position}",
            slot_model_id=so.slot_model_id,
            standing_order_id=so.id,
        )
        if mt.sql.order_id_for(so.user_id, req.client_order_id) is not None:
            continue
        try:
            prepared = prepare(mt, req, now)
        except ServiceError as exc:
            return placed, f"standing order {so.id} in instrument {instrument_id}: {exc.message}"
        execute(mt, req, prepared, now)
        placed += 1
    if recorded is None:
        session.add(StandingPlacement(standing_order_id=so.id, instrument_id=instrument_id))
        so.rounds_placed += 1
        if so.rounds is not None and so.rounds_placed >= so.rounds:
            so.state = StandingState.FINISHED.value
        session.flush()
    return placed, None


def _place_everywhere(mt: MarketTransaction, so: StandingOrder, now: datetime) -> list[str]:
    refusals = []
    for instrument_id in _open_instruments(mt, so, now):
        _, refused = _place_into(mt, so, instrument_id, now)
        if refused:
            refusals.append(refused)
    return refusals


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

    def work(mt: MarketTransaction) -> StandingView:
        session = mt.session
        model = session.get(NumeraiModel, model_id)
        if model is None:
            raise NotFound(f"no model {model_id}")
        if model.owner_user_id != user_id:
            raise Forbidden(f"only the verified owner of model '{model.name}' may list it")
        check_may_list(mt, user_id)
        so = session.scalars(
            select(StandingOrder).where(
                StandingOrder.user_id == user_id,
                StandingOrder.model_id == model_id,
                StandingOrder.mode == chosen.value,
                StandingOrder.side == Side.ASK.value,
                StandingOrder.state.in_([StandingState.ACTIVE, StandingState.PAUSED]),
            )
        ).first()
        created = so is None
        if so is None:
            so = StandingOrder(
                user_id=user_id,
                model_id=model_id,
                mode=chosen.value,
                side=Side.ASK.value,
                state=StandingState.ACTIVE.value,
                rounds=None,
                rounds_placed=0,
                version=1,
                created_at=moment,
                updated_at=moment,
            )
            session.add(so)
            session.flush()
        else:
            so = _lock(mt, so.id, user_id)
            if apply_to_open:
                _pull(mt, so, moment)
            so.version += 1
            so.updated_at = moment
            session.execute(delete(StandingLevel).where(StandingLevel.standing_order_id == so.id))
        for position, level in enumerate(checked, 1):
            session.add(
                StandingLevel(
                    standing_order_id=so.id,
                    position=position,
                    quantity=level.quantity,
                    price=level.price,
                )
            )
        session.flush()
        _audit(mt, so, "ladder.set", ", ".join(f"{lv.quantity}@{lv.price}" for lv in checked))
        if created or apply_to_open:
            refusals = _place_everywhere(mt, so, moment)
            if refusals:
                raise Conflict(refusals[0])
        return _view(mt, so)

    return run(c, work)


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

    def work(mt: MarketTransaction) -> StandingView:
        session = mt.session
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
        so = StandingOrder(
            user_id=user_id,
            model_id=model_id,
            mode=chosen.value,
            side=Side.BID.value,
            state=StandingState.ACTIVE.value,
            rounds=rounds,
            rounds_placed=0,
            slot_model_id=slot_model_id,
            version=1,
            created_at=moment,
            updated_at=moment,
        )
        session.add(so)
        session.flush()
        session.add(
            StandingLevel(
                standing_order_id=so.id, position=1, quantity=level.quantity, price=level.price
            )
        )
        session.flush()
        _audit(mt, so, "bid.create", f"{level.quantity}@{level.price} rounds={rounds}")
        _place_everywhere(mt, so, moment)  # refusals (e.g. funds) retry as books open
        return _view(mt, so)

    return run(c, work)


# ------------------------------------------------------------------ both


def pause(
    c: Container, *, user_id: int, standing_id: int, now: datetime | None = None
) -> StandingView:
    """Stop placing the standing order and pull its open orders."""
    moment = now_or_default(c, now)

    def work(mt: MarketTransaction) -> StandingView:
        so = _lock(mt, standing_id, user_id)
        if so.state != StandingState.ACTIVE:
            raise Conflict(f"standing order {standing_id} is {so.state}, not active")
        so.state, so.updated_at = StandingState.PAUSED.value, moment
        _pull(mt, so, moment)
        _audit(mt, so, "pause")
        return _view(mt, so)

    return run(c, work)


def resume(
    c: Container, *, user_id: int, standing_id: int, now: datetime | None = None
) -> StandingView:
    """Place the standing order again, in the open books and the next ones."""
    moment = now_or_default(c, now)

    def work(mt: MarketTransaction) -> StandingView:
        so = _lock(mt, standing_id, user_id)
        if so.state != StandingState.PAUSED:
            raise Conflict(f"standing order {standing_id} is {so.state}, not paused")
        if so.side == Side.ASK:
            model = mt.session.get(NumeraiModel, so.model_id)
            if model is None or model.owner_user_id != user_id:
                raise Forbidden("you no longer own this model")
            check_may_list(mt, user_id)
        so.state, so.updated_at = StandingState.ACTIVE.value, moment
        so.version += 1
        _audit(mt, so, "resume")
        refusals = _place_everywhere(mt, so, moment)
        if refusals and so.side == Side.ASK:
            raise Conflict(refusals[0])
        return _view(mt, so)

    return run(c, work)


def cancel(
    c: Container, *, user_id: int, standing_id: int, now: datetime | None = None
) -> StandingView:
    """End the standing order for good and cancel its open orders."""
    moment = now_or_default(c, now)

    def work(mt: MarketTransaction) -> StandingView:
        so = _lock(mt, standing_id, user_id)
        if so.state != StandingState.CANCELLED:
            so.state, so.updated_at = StandingState.CANCELLED.value, moment
            _pull(mt, so, moment)
            _audit(mt, so, "cancel")
        return _view(mt, so)

    return run(c, work)


def list_standing(c: Container, *, user_id: int, side: Side | None = None) -> list[StandingView]:
    def work(mt: MarketTransaction) -> list[StandingView]:
        query = select(StandingOrder).where(StandingOrder.user_id == user_id)
        if side is not None:
            query = query.where(StandingOrder.side == side.value)
        rows = mt.session.scalars(query.order_by(StandingOrder.id)).all()
        return [_view(mt, so) for so in rows]

    return run(c, work)


def get_standing(c: Container, *, user_id: int, standing_id: int) -> StandingView:
    return run(c, lambda mt: _view(mt, _lock(mt, standing_id, user_id)))


# ------------------------------------------------------------------ the worker's part


def place_standing_orders(
    c: Container, *, instrument_id: int, now: datetime
) -> tuple[int, list[str]]:
    """Place every active standing order of the instrument's model and mode that is not in
    its book yet. Returns (levels placed, refusals)."""

    def work(mt: MarketTransaction) -> tuple[int, list[str]]:
        instrument = mt.instrument(instrument_id)
        if instrument.state != InstrumentState.OPEN or instrument.trading_closes_at <= now:
            return 0, []
        placed_here = select(StandingPlacement.standing_order_id).where(
            StandingPlacement.instrument_id == instrument_id
        )
        candidates = mt.session.scalars(
            select(StandingOrder.id)
            .where(
                StandingOrder.model_id == instrument.model_id,
                StandingOrder.mode == instrument.mode,
                StandingOrder.state == StandingState.ACTIVE,
                StandingOrder.id.not_in(placed_here),
            )
            .order_by(StandingOrder.id)
        ).all()
        placed, refusals = 0, []
        for standing_id in candidates:
            query = locked(select(StandingOrder).where(StandingOrder.id == standing_id))
            so = mt.session.scalars(query.execution_options(populate_existing=True)).one()
            n, refused = _place_into(mt, so, instrument_id, now)
            placed += n
            if refused:
                refusals.append(refused)
        return placed, refusals

    return run(c, work)


def pending_instruments(c: Container, *, now: datetime) -> list[int]:
    """Open books that some active standing order has not been placed in yet."""
    with c.db.transaction() as session:
        placed = select(StandingPlacement.id).where(
            StandingPlacement.instrument_id == Instrument.id,
            StandingPlacement.standing_order_id == StandingOrder.id,
        )
        rows = session.execute(
            select(Instrument.id)
            .join(
                StandingOrder,
                (StandingOrder.model_id == Instrument.model_id)
                & (StandingOrder.mode == Instrument.mode),
            )
            .where(
                Instrument.state == InstrumentState.OPEN,
                Instrument.trading_closes_at > now,
                StandingOrder.state == StandingState.ACTIVE,
                ~placed.exists(),
            )
            .distinct()
        ).all()
        ids = sorted({r[0] for r in rows})
        if not ids:
            return []
        order = session.execute(
            select(Instrument.id)
            .where(Instrument.id.in_(ids))
            .order_by(Instrument.round_number, Instrument.id)
        ).all()
        return [r[0] for r in order]
