"""Discovery (market-rules §6): the market list with search, filters, sorts and pages,
and the trending view — read from the read model of :mod:`nmrx.reputation.market_list`
(refreshed by the worker's ``tick``; ``as_of`` says when).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, func, select

from nmrx.platform.errors import InvalidInput
from nmrx.reputation.market_list import RefreshReport, refresh
from nmrx.reputation.rules import change_bp
from nmrx.reputation.tables import MarketListing

if TYPE_CHECKING:
    from nmrx.platform.bootstrap import Container

__all__ = ["RefreshReport", "refresh", "list_markets", "trending", "tick"]

MAX_PER_PAGE = 100

# sort name -> (column, default direction)
SORTS = {
    "lowest_ask": (MarketListing.lowest_ask, "asc"),
    "last_sale": (MarketListing.last_price, "desc"),
    "volume": (MarketListing.notional, "desc"),
    "score": (MarketListing.score_mean_20, "desc"),
    "sharpe": (MarketListing.sharpe_20, "desc"),
    "stake": (MarketListing.stake, "desc"),
    "rating": (MarketListing.seller_rating, "desc"),
    "name": (MarketListing.model_name, "asc"),
}
TOURNAMENTS = ("classic", "signals")
MODES = ("file", "stake")


# ------------------------------------------------------------------ queries


@dataclass(frozen=True)
class Listing:
    model_id: int
    mode: str
    model_name: str
    tournament: str
    seller: str | None
    open_books: int
    front_round: int | None
    lowest_ask: int | None
    lowest_ask_round: int | None
    ask_quantity: int
    best_bid: int | None
    last_price: int | None
    last_sale_at: datetime | None
    trades: int
    volume: int
    notional: int
    recent_volume: int
    recent_notional: int
    prior_notional: int
    price_change_bp: int | None
    score_mean_20: float | None
    sharpe_20: float | None
    stake: int | None
    seller_rating: float | None
    seller_reviews: int
    refreshed_at: datetime

    @property
    def volume_change_bp(self) -> int | None:
        return change_bp(self.prior_notional or None, self.recent_notional)


@dataclass(frozen=True)
class MarketPage:
    items: list[Listing]
    total: int
    page: int
    per_page: int
    sort: str
    order: str

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def as_of(self) -> datetime | None:
        return min((i.refreshed_at for i in self.items), default=None)


def _listing(row: MarketListing) -> Listing:
    return Listing(
        model_id=row.model_id,
        mode=row.mode,
        model_name=row.model_name,
        tournament=row.tournament,
        seller=row.seller_name,
        open_books=row.open_books,
        front_round=row.front_round,
        lowest_ask=row.lowest_ask,
        lowest_ask_round=row.lowest_ask_round,
        ask_quantity=row.ask_quantity,
        best_bid=row.best_bid,
        last_price=row.last_price,
        last_sale_at=row.last_sale_at,
        trades=row.trades,
        volume=row.volume,
        notional=row.notional,
        recent_volume=row.recent_volume,
        recent_notional=row.recent_notional,
        prior_notional=row.prior_notional,
        price_change_bp=row.price_change_bp,
        score_mean_20=row.score_mean_20,
        sharpe_20=row.sharpe_20,
        stake=row.stake,
        seller_rating=row.seller_rating,
        seller_reviews=row.seller_reviews,
        refreshed_at=row.refreshed_at,
    )


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_markets(
    c: Container,
    *,
    q: str | None = None,
    tournament: str | None = None,
    mode: str | None = None,
    min_price: int | None = None,
    max_price: int | None = None,
    has_asks: bool | None = None,
    sort: str = "volume",
    order: str | None = None,
    page: int = 1,
    per_page: int = 25,
) -> MarketPage:
    """The market list: listed models × modes, searched, filtered, sorted, one page.

    ``q`` matches model or seller names (case-insensitive substring); the price range
    applies to the lowest ask of the open books; ``has_asks`` keeps markets with (or
    without) an ask now. Sorts put markets without the figure last, either direction.
    """
    if sort not in SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(SORTS)}")
    column, default = SORTS[sort]
    order = order or default
    if order not in ("asc", "desc"):
        raise InvalidInput("order must be 'asc' or 'desc'")
    if tournament is not None and tournament not in TOURNAMENTS:
        raise InvalidInput("tournament must be 'classic' or 'signals'")
    if mode is not None and mode not in MODES:
        raise InvalidInput("mode must be 'file' or 'stake'")
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"page must be ≥ 1 and per_page between 1 and {MAX_PER_PAGE}")
    conditions: list[ColumnElement[bool]] = [MarketListing.owner_user_id.is_not(None)]
    if q and q.strip():
        conditions.append(MarketListing.search.like(_like(q.strip()), escape="\\"))
    if tournament is not None:
        conditions.append(MarketListing.tournament == tournament)
    if mode is not None:
        conditions.append(MarketListing.mode == mode)
    if min_price is not None:
        conditions.append(MarketListing.lowest_ask >= min_price)
    if max_price is not None:
        conditions.append(MarketListing.lowest_ask <= max_price)
    if has_asks is True:
        conditions.append(MarketListing.lowest_ask.is_not(None))
    elif has_asks is False:
        conditions.append(MarketListing.lowest_ask.is_(None))
    direction = column.asc() if order == "asc" else column.desc()
    query = (
        select(MarketListing)
        .where(*conditions)
        .order_by(direction.nulls_last(), MarketListing.model_name, MarketListing.mode)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    with c.db.transaction() as session:
        total = session.scalar(select(func.count()).select_from(MarketListing).where(*conditions))
        items = [_listing(r) for r in session.scalars(query)]
    return MarketPage(items, int(total or 0), page, per_page, sort, order)


def trending(
    c: Container, *, tournament: str | None = None, mode: str | None = None, limit: int = 20
) -> list[Listing]:
    """Markets by notional traded in the recent window, most first (then price change)."""
    if not 1 <= limit <= MAX_PER_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PER_PAGE}")
    conditions: list[ColumnElement[bool]] = [
        MarketListing.owner_user_id.is_not(None),
        MarketListing.recent_notional > 0,
    ]
    if tournament is not None:
        conditions.append(MarketListing.tournament == tournament)
    if mode is not None:
        conditions.append(MarketListing.mode == mode)
    query = (
        select(MarketListing)
        .where(*conditions)
        .order_by(
            MarketListing.recent_notional.desc(),
            MarketListing.price_change_bp.desc().nulls_last(),
            MarketListing.model_name,
        )
        .limit(limit)
    )
    with c.db.transaction() as session:
        return [_listing(r) for r in session.scalars(query)]


def tick(c: Container) -> str:
    """The worker's reputation duty: sync due track records, then refresh the list."""
    from nmrx.reputation import track_records as performance

    synced = performance.sync_due(c)
    report = refresh(c)
    return f"performance {synced}; listings: {report}"
