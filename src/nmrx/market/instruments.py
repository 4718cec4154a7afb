"""Instruments and their books over time: the round calendar, opening and closing books.

The platform keeps a book open for every (model, round, mode) of each verified model,
for the first ``1 + books_ahead`` rounds whose trading has not closed (market-rules
§4.1). :func:`open_books` and :func:`close_books` are idempotent and meant to be
called by a periodic worker (and by tests with an explicit ``now``):

* ``open_books`` creates the missing instruments and places standing orders (ask
  ladders, standing bids) in every open book they are not in yet;
* ``close_books`` closes the books whose trading time is over: every open order
  expires and every bid's hold is voided.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from nmrx.market import standing_books
from nmrx.market.matching import MarketTransaction, apply_events, close_order, run
from nmrx.market.orders import CancelReason
from nmrx.market.rounds import Round, RoundCalendar
from nmrx.market.rules import InstrumentState, Mode
from nmrx.market.tables import Instrument, NumeraiRound
from nmrx.platform.errors import Unavailable
from nmrx.platform.numerai import NumeraiError
from nmrx.sellers.tables import NumeraiModel

if TYPE_CHECKING:
    from nmrx.platform.bootstrap import Container


@dataclass
class BooksReport:
    opened: list[int] = field(default_factory=list)  # new instrument ids
    closed: list[int] = field(default_factory=list)
    placed: int = 0  # standing-order levels placed
    refused: list[str] = field(default_factory=list)  # standing placements refused, why


def record_round(c: Container, *, number: int, open_time: datetime, close_time: datetime) -> Round:
    """Remember a round as Numerai reported it (the calendar's anchor). Two workers may
    record the same new round at once: the loser of the insert race updates instead."""
    now = c.clock.now()
    for attempt in range(2):
        try:
            with c.db.transaction() as session:
                row = session.get(NumeraiRound, number)
                if row is None:
                    session.add(
                        NumeraiRound(number=number, open_time=open_time, close_time=close_time)
                    )
                else:
                    row.open_time, row.close_time, row.fetched_at = open_time, close_time, now
            break
        except IntegrityError:
            if attempt:
                raise
    return Round(number, open_time, close_time)


def sync_calendar(c: Container) -> Round:
    """Ask Numerai for the current round and remember it."""
    try:
        info = c.numerai.current_round("classic")
    except NumeraiError as exc:
        raise Unavailable(f"cannot read the round calendar from Numerai: {exc}") from None
    return record_round(c, number=info.number, open_time=info.open_time, close_time=info.close_time)


def calendar(c: Container) -> RoundCalendar:
    """The calendar projected from the latest round learnt from Numerai (learnt now if none)."""
    with c.db.transaction() as session:
        row = session.scalars(select(NumeraiRound).order_by(NumeraiRound.number.desc())).first()
        known = Round(row.number, row.open_time, row.close_time) if row is not None else None
    return RoundCalendar(known or sync_calendar(c))


def margin(c: Container) -> timedelta:
    return timedelta(minutes=c.settings.trading_margin_minutes)


def tradable_rounds(c: Container, now: datetime) -> list[Round]:
    return calendar(c).tradable(now, margin=margin(c), count=1 + c.settings.books_ahead)


def open_books(c: Container, *, now: datetime | None = None) -> BooksReport:
    """Create the books of the tradable rounds for every verified model and mode, then
    place standing orders in every open book that does not have them yet."""
    moment = now or c.clock.now()
    report = BooksReport()
    rounds = tradable_rounds(c, moment)
    for attempt in range(2):  # a concurrent opener may win a unique race once
        try:
            report.opened = _create_instruments(c, rounds, moment)
            break
        except IntegrityError:
            if attempt:
                raise
    for instrument_id in standing_books.pending_instruments(c, now=moment):
        placed, refused = standing_books.place_standing_orders(
            c, instrument_id=instrument_id, now=moment
        )
        report.placed += placed
        report.refused.extend(refused)
    return report


def _create_instruments(c: Container, rounds: list[Round], now: datetime) -> list[int]:
    created: list[int] = []
    with c.db.transaction() as session:
        models = session.execute(
            select(NumeraiModel.id, NumeraiModel.tournament).where(
                NumeraiModel.owner_user_id.is_not(None)
            )
        ).all()
        numbers = [r.number for r in rounds]
        existing = set(
            session.execute(
                select(Instrument.model_id, Instrument.round_number, Instrument.mode).where(
                    Instrument.round_number.in_(numbers)
                )
            )
            .tuples()
            .all()
        )
        for model_id, tournament in models:
            for r in rounds:
                for mode in Mode:
                    if (model_id, r.number, mode.value) in existing:
                        continue
                    instrument = Instrument(
                        model_id=model_id,
                        tournament=tournament,
                        round_number=r.number,
                        mode=mode.value,
                        round_open_at=r.open,
                        round_close_at=r.close,
                        trading_closes_at=r.trading_closes_at(margin(c)),
                        state=InstrumentState.OPEN.value,
                        next_seq=1,
                        book_seq=0,
                        opened_at=now,
                    )
                    session.add(instrument)
                    session.flush()
                    created.append(instrument.id)
    return created


def close_books(c: Container, *, now: datetime | None = None) -> BooksReport:
    """Close every open book whose trading time is over: open orders expire, holds are voided."""
    moment = now or c.clock.now()
    with c.db.transaction() as session:
        due = session.scalars(
            select(Instrument.id)
            .where(Instrument.state == InstrumentState.OPEN, Instrument.trading_closes_at <= moment)
            .order_by(Instrument.id)
        ).all()
    report = BooksReport()
    for instrument_id in due:
        if run(c, partial(_close, instrument_id=instrument_id, now=moment)):
            report.closed.append(instrument_id)
    return report


def _close(mt: MarketTransaction, instrument_id: int, now: datetime) -> bool:
    instrument = mt.instrument(instrument_id)
    if instrument.state != InstrumentState.OPEN:
        return False  # closed meanwhile by another worker
    book = mt.book(instrument)
    apply_events(mt, instrument, book.expire_all(), now)
    for order_id in mt.sql.open_order_ids(instrument_id):
        order = mt.sql.order(order_id)  # never expected: the book and the table agree
        assert order is not None
        close_order(mt, order, CancelReason.EXPIRED, now)
        mt.sql.save_order(order)
    instrument.state = InstrumentState.CLOSED.value
    mt.changed(instrument, book, closed_at=now)
    return True
