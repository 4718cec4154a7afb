"""Standing orders in the books: placing their levels in a book (once per book and
version), pulling their open orders out, and the worker's part (placing every active
standing order in a book that just opened). The use cases are
:mod:`nmrx.market.standing_orders`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from nmrx.market.matching import MarketTransaction, cancel_in, run_with_session
from nmrx.market.orders import CancelReason, OrderType, Side
from nmrx.market.placement import OrderRequest, execute, prepare
from nmrx.market.rules import InstrumentState, OrderState, StandingState
from nmrx.market.tables import (
    Instrument,
    MarketOrder,
    StandingLevel,
    StandingOrder,
    StandingPlacement,
)
from nmrx.platform.db import locked
from nmrx.platform.errors import ServiceError

if TYPE_CHECKING:
    from nmrx.platform.bootstrap import Container


def levels_of(session: Session, standing_order_id: int) -> list[StandingLevel]:
    return list(
        session.scalars(
            select(StandingLevel)
            .where(StandingLevel.standing_order_id == standing_order_id)
            .order_by(StandingLevel.position)
        ).all()
    )


def _open_instruments(session: Session, so: StandingOrder, now: datetime) -> list[int]:
    return list(
        session.scalars(
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


def pull(mt: MarketTransaction, session: Session, so: StandingOrder, now: datetime) -> int:
    """Cancel the standing order's open orders (on every book); returns how many."""
    order_ids = session.scalars(
        select(MarketOrder.id)
        .where(MarketOrder.standing_order_id == so.id, MarketOrder.state == OrderState.OPEN)
        .order_by(MarketOrder.instrument_id, MarketOrder.id)
    ).all()
    for order_id in order_ids:
        cancel_in(mt, order_id, CancelReason.USER, now)
    return len(order_ids)


def place_into(
    mt: MarketTransaction, session: Session, so: StandingOrder, instrument_id: int, now: datetime
) -> tuple[int, str | None]:
    """Place the standing order's levels in one book (version-keyed, so idempotent).

    Returns (levels placed, refusal message or None). A book placed in for the first
    time is recorded and counts toward a standing bid's ``rounds``.
    """
    session = session
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
    for level in levels_of(session, so.id):
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


def place_everywhere(
    mt: MarketTransaction, session: Session, so: StandingOrder, now: datetime
) -> list[str]:
    refusals = []
    for instrument_id in _open_instruments(session, so, now):
        _, refused = place_into(mt, session, so, instrument_id, now)
        if refused:
            refusals.append(refused)
    return refusals


def place_standing_orders(
    c: Container, *, instrument_id: int, now: datetime
) -> tuple[int, list[str]]:
    """Place every active standing order of the instrument's model and mode that is not in
    its book yet. Returns (levels placed, refusals)."""

    def work(mt: MarketTransaction, session: Session) -> tuple[int, list[str]]:
        instrument = mt.instrument(instrument_id)
        if instrument.state != InstrumentState.OPEN or instrument.trading_closes_at <= now:
            return 0, []
        placed_here = select(StandingPlacement.standing_order_id).where(
            StandingPlacement.instrument_id == instrument_id
        )
        candidates = session.scalars(
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
            so = session.scalars(query.execution_options(populate_existing=True)).one()
            n, refused = place_into(mt, session, so, instrument_id, now)
            placed += n
            if refused:
                refusals.append(refused)
        return placed, refusals

    return run_with_session(c, work)


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
