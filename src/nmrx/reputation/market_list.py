"""The market list's read model (market-rules §6), refreshed by the worker.

Sorting markets by volume or last sale means aggregating every fill; with a million
fills that is far too slow per request. So :func:`refresh` keeps:

* ``instrument_stats`` — trades, volume, notional and last price of each instrument.
  Fills only land in open books, so once a book is closed its row is computed one last
  time and marked ``final``; a refresh re-aggregates only the books not final yet;
* ``market_listings`` — one row per (model, mode): the open books' lowest ask (and its
  round), best bid, open ask quantity, the last sale, all-time and trending volume, the
  model's recent score mean and Sharpe and stake (from the synced track record), the
  seller's average rating. :mod:`nmrx.reputation.discovery` filters and sorts this table.

The refresh works in chunks of models, one short transaction each (SQLite has one
writer; order placement must not wait long), each reading only its chunk's rows through
indexes — its cost follows the open books, not the size of the fills or orders tables.
The list is as fresh as the last refresh (the worker runs it every tick).

**Trending.** ``trending_rounds`` (K, default 5 ≈ one week of rounds) rounds up to and
including the current round (the earliest open book's round), against the K rounds
before: notional traded in each window, and the change of the volume-weighted average
price between them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, delete, exists, func, insert, select, true
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.expression import ColumnElement, ScalarSelect, Select, SQLColumnExpression

from nmrx.accounts.tables import User
from nmrx.market.queries import is_listed
from nmrx.market.tables import Fill, Instrument, MarketOrder, NumeraiRound
from nmrx.platform.db import joins_laterally, plan_cheaply
from nmrx.reputation.rules import Windows, change_bp, trending_windows, vwap
from nmrx.reputation.tables import InstrumentStats, MarketListing, ModelPerformance, Review
from nmrx.sellers.tables import NumeraiModel

if TYPE_CHECKING:
    from nmrx.platform.bootstrap import Container

CHUNK = 200  # models per refresh transaction (each holds SQLite's write lock ~0.1 s)


@dataclass(frozen=True)
class RefreshReport:
    markets: int
    stats_updated: int
    reference_round: int | None
    seconds: float

    def __str__(self) -> str:
        return (
            f"{self.markets} markets, {self.stats_updated} books re-aggregated "
            f"in {self.seconds:.2f}s"
        )


def reference_round(session: Session) -> int | None:
    """The current round: the earliest open book's round (else the latest known round)."""
    current = session.scalar(
        select(Instrument.round_number)
        .where(Instrument.state == "open")
        .order_by(Instrument.trading_closes_at)
        .limit(1)
    )
    if current is not None:
        return int(current)
    latest = session.scalar(select(func.max(NumeraiRound.number)))
    return int(latest) if latest is not None else None


def _chunks(ids: Sequence[int], size: int) -> Iterator[tuple[int, int]]:
    """Inclusive id ranges covering ``size`` ids each (ranges, not IN lists: cheap to
    compile and to plan)."""
    for start in range(0, len(ids), size):
        part = ids[start : start + size]
        yield part[0], part[-1]


def refresh(c: Container, *, chunk: int = CHUNK) -> RefreshReport:
    """Bring the market list's read model up to date (idempotent; safe to run anytime)."""
    started = time.perf_counter()
    with c.db.transaction() as session:
        ref = reference_round(session)
        model_ids = session.scalars(
            select(Instrument.model_id).distinct().order_by(Instrument.model_id)
        ).all()
        ratings = {
            seller: (float(avg), int(n))
            for seller, avg, n in session.execute(
                select(Review.seller_user_id, func.avg(Review.rating), func.count()).group_by(
                    Review.seller_user_id
                )
            )
        }
    windows = trending_windows(ref, c.settings.trending_rounds) if ref is not None else None
    markets = updated = 0
    for ids in _chunks(model_ids, chunk):
        with c.db.transaction() as session:
            plan_cheaply(session)
            updated += _refresh_stats(session, ids)
            markets += _rebuild_listings(session, ids, windows, ratings, c.clock.now())
    return RefreshReport(markets, updated, ref, time.perf_counter() - started)


def _insert_stats(session: Session, books: Select[*tuple[Any, ...]]) -> None:
    """Insert an ``instrument_stats`` row for each book of ``books`` (its totals and
    whether it is closed), with the price and time of its last fill."""
    totals = books.subquery()
    last = aliased(Fill)
    rows = select(
        totals.c.instrument_id,
        totals.c.model_id,
        totals.c.mode,
        totals.c.round_number,
        totals.c.trades,
        totals.c.volume,
        totals.c.notional,
        last.price,
        totals.c.last_id,
        last.created_at,
        totals.c.closed,
    ).outerjoin(last, last.id == totals.c.last_id)
    session.connection().execute(
        insert(InstrumentStats).from_select(
            [
                "instrument_id",
                "model_id",
                "mode",
                "round_number",
                "trades",
                "volume",
                "notional",
                "close_price",
                "last_fill_id",
                "last_fill_at",
                "final",
            ],
            rows,
        )
    )


def _refresh_stats(session: Session, ids: tuple[int, int]) -> int:
    """Re-aggregate the fills of the chunk's instruments that are not final yet.

    Set-based: drop the chunk's non-final rows, then one INSERT … SELECT re-creates every
    missing row from the fills. The book's state is read in the same statement as its
    fills: a closed book takes no more fills (closing locks the book after the last
    fill committed), so a row computed for a closed book is complete and ``final``.
    """
    session.connection().execute(
        delete(InstrumentStats).where(
            InstrumentStats.model_id.between(*ids), InstrumentStats.final.is_(False)
        )
    )
    missing = (
        Instrument.model_id.between(*ids),
        ~exists().where(  # the model range lets the database read only the chunk's rows
            InstrumentStats.instrument_id == Instrument.id,
            InstrumentStats.model_id.between(*ids),
        ),
    )
    count = session.scalar(select(func.count()).select_from(Instrument).where(*missing)) or 0
    if not count:
        return 0
    # Each missing book reads only its own fills, through the fills' (instrument, id)
    # index: the cost follows the books refreshed, never the size of the fills table.
    # PostgreSQL gets a LATERAL subquery (its planner would otherwise hash the whole
    # fills table when it misjudges how many books are missing); SQLite, which only
    # joins by nested loops, drives the same aggregate from the books.
    aggregates = (
        func.count(Fill.id).label("trades"),
        func.coalesce(func.sum(Fill.quantity), 0).label("volume"),
        func.coalesce(func.sum(Fill.notional), 0).label("notional"),
        func.max(Fill.id).label("last_id"),
    )
    book = (
        Instrument.id.label("instrument_id"),
        Instrument.model_id,
        Instrument.mode,
        Instrument.round_number,
    )
    closed = (Instrument.state == "closed").label("closed")
    if joins_laterally(session):
        per_book = select(*aggregates).where(Fill.instrument_id == Instrument.id).lateral()
        books = (
            select(*book, *per_book.c, closed)
            .select_from(Instrument)
            .join(per_book, true())
            .where(*missing)
        )
    else:
        books = (
            select(*book, *aggregates, closed)
            .outerjoin(Fill, Fill.instrument_id == Instrument.id)
            .where(*missing)
            .group_by(Instrument.id)
        )
    _insert_stats(session, books)
    return int(count)  # (PostgreSQL reports no row count for INSERT … SELECT)


def _window_sum(
    column: SQLColumnExpression[Any], window: tuple[int, int] | None
) -> ColumnElement[Any]:
    if window is None:
        return func.sum(0)
    low, high = window
    return func.sum(case((InstrumentStats.round_number.between(low, high), column), else_=0))


def _rebuild_listings(
    session: Session,
    ids: tuple[int, int],
    windows: Windows | None,
    ratings: dict[int, tuple[float, int]],
    now: datetime,
) -> int:
    """Rewrite the chunk's listings from its books' stats, open books, track records and ratings."""
    models = _models(session, ids)
    listed = set(
        session.scalars(
            select(NumeraiModel.id).where(
                NumeraiModel.id.between(*ids),
                is_listed(),
            )
        )
    )
    totals = _traded_totals(session, ids, windows)
    last_sale = _last_sales(session, ids)
    books = _books(session, ids)
    perf = {
        p.model_id: p
        for p in session.scalars(
            select(ModelPerformance).where(ModelPerformance.model_id.between(*ids))
        )
    }
    rows = []
    for model_id, mode, *figures in totals:
        model, seller = models[model_id]
        if model.owner_user_id is not None and model_id not in listed:
            continue  # owned but not listed by its owner (a buyer's slot): not a market
        book = books.get((model_id, mode), _Book())
        price, sold_at = last_sale.get((model_id, mode), (None, None))
        p = perf.get(model_id)
        rating = ratings.get(model.owner_user_id) if model.owner_user_id else None
        rows.append(
            dict(
                model_id=model_id,
                mode=mode,
                model_name=model.name,
                tournament=model.tournament,
                owner_user_id=model.owner_user_id,
                seller_name=seller,
                search=f"{model.name} {seller or ''}".lower(),
                open_books=book.open_books,
                front_round=book.front_round,
                lowest_ask=book.lowest_ask,
                lowest_ask_round=book.lowest_ask_round,
                ask_quantity=book.ask_quantity,
                best_bid=book.best_bid,
                last_price=price,
                last_sale_at=sold_at,
                **_trading_figures(*figures),
                score_mean_20=p.corr_mean_20 if p else None,
                sharpe_20=p.corr_sharpe_20 if p else None,
                stake=p.stake if p else None,
                seller_rating=rating[0] if rating else None,
                seller_reviews=rating[1] if rating else 0,
                refreshed_at=now,
            )
        )
    connection = session.connection()
    connection.execute(delete(MarketListing).where(MarketListing.model_id.between(*ids)))
    if rows:
        connection.execute(insert(MarketListing), rows)
    return len(rows)


def _models(session: Session, ids: tuple[int, int]) -> dict[int, tuple[NumeraiModel, str | None]]:
    """The chunk's models with their seller's username (``None``: no owner on NMRX)."""
    return {
        m.id: (m, username)
        for m, username in session.execute(
            select(NumeraiModel, User.username)
            .outerjoin(User, User.id == NumeraiModel.owner_user_id)
            .where(NumeraiModel.id.between(*ids))
        ).tuples()
    }


def _traded_totals(
    session: Session, ids: tuple[int, int], windows: Windows | None
) -> Sequence[Row[*tuple[Any, ...]]]:
    """Per (model, mode): model id, mode, trades, volume, notional, then volume and
    notional of the recent and of the prior trending window."""
    recent = windows.recent if windows else None
    prior = windows.prior if windows else None
    return session.execute(
        select(
            InstrumentStats.model_id,
            InstrumentStats.mode,
            func.sum(InstrumentStats.trades),
            func.sum(InstrumentStats.volume),
            func.sum(InstrumentStats.notional),
            _window_sum(InstrumentStats.volume, recent),
            _window_sum(InstrumentStats.notional, recent),
            _window_sum(InstrumentStats.volume, prior),
            _window_sum(InstrumentStats.notional, prior),
        )
        .where(InstrumentStats.model_id.between(*ids))
        .group_by(InstrumentStats.model_id, InstrumentStats.mode)
    ).all()


def _trading_figures(
    trades: int | None,
    volume: int | None,
    notional: int | None,
    r_vol: int | None,
    r_not: int | None,
    p_vol: int | None,
    p_not: int | None,
) -> dict[str, int | None]:
    """A listing's all-time and trending figures from its traded totals (``None``: no stats)."""
    return dict(
        trades=int(trades or 0),
        volume=int(volume or 0),
        notional=int(notional or 0),
        recent_volume=int(r_vol or 0),
        recent_notional=int(r_not or 0),
        prior_notional=int(p_not or 0),
        price_change_bp=change_bp(
            vwap(int(p_not or 0), int(p_vol or 0)), vwap(int(r_not or 0), int(r_vol or 0))
        ),
    )


def _last_sales(
    session: Session, ids: tuple[int, int]
) -> dict[tuple[int, str], tuple[int | None, datetime | None]]:
    """Per (model, mode): price and time of the latest fill of any of its books."""
    ranked = (
        select(
            InstrumentStats.model_id,
            InstrumentStats.mode,
            InstrumentStats.close_price,
            InstrumentStats.last_fill_at,
            func.row_number()
            .over(
                partition_by=(InstrumentStats.model_id, InstrumentStats.mode),
                order_by=InstrumentStats.last_fill_id.desc(),
            )
            .label("n"),
        )
        .where(InstrumentStats.model_id.between(*ids), InstrumentStats.trades > 0)
        .subquery()
    )
    return {
        (m, mode): (price, at)
        for m, mode, price, at in session.execute(
            select(
                ranked.c.model_id, ranked.c.mode, ranked.c.close_price, ranked.c.last_fill_at
            ).where(ranked.c.n == 1)
        )
    }


@dataclass
class _Book:
    open_books: int = 0
    front_round: int | None = None
    lowest_ask: int | None = None
    lowest_ask_round: int | None = None
    ask_quantity: int = 0
    best_bid: int | None = None


def _books(session: Session, ids: tuple[int, int]) -> dict[tuple[int, str], _Book]:
    """Open books of the chunk: count, front round, lowest ask (and its round), best bid.

    Driven from the open instruments, each probing its own open orders through the order
    book's index (instrument, state): the cost follows the open books, never the size of
    the orders table (which keeps every order ever placed).
    """

    def best(side: str, agg: ColumnElement[Any]) -> ScalarSelect[Any]:
        return (
            select(agg)
            .where(
                MarketOrder.instrument_id == Instrument.id,
                MarketOrder.state == "open",
                MarketOrder.side == side,
            )
            .scalar_subquery()
        )

    rows = session.execute(
        select(
            Instrument.model_id,
            Instrument.mode,
            Instrument.round_number,
            best("ask", func.min(MarketOrder.price)),
            best("ask", func.sum(MarketOrder.remaining)),
            best("bid", func.max(MarketOrder.price)),
        ).where(Instrument.model_id.between(*ids), Instrument.state == "open")
    ).all()
    books: dict[tuple[int, str], _Book] = {}
    # by round, so the front round comes first and the lowest ask keeps its nearest round
    for model_id, mode, number, ask, quantity, bid in sorted(rows, key=lambda r: r[2]):
        book = books.setdefault((model_id, mode), _Book(front_round=number))
        book.open_books += 1
        book.ask_quantity += int(quantity or 0)
        if ask is not None and (book.lowest_ask is None or ask < book.lowest_ask):
            book.lowest_ask, book.lowest_ask_round = int(ask), number
        if bid is not None and (book.best_bid is None or bid > book.best_bid):
            book.best_bid = int(bid)
    return books
