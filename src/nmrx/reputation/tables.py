"""Tables of reputation and discovery (market-rules §6).

* ``model_performance`` / ``model_round_scores``: a model's track record as synced from
  Numerai — per round the latest published live scores and payout, per model the
  stake, the start date and the headline summary the market list sorts on.
* ``reviews``: verified reviews, one per settled purchase (fill), with the seller's reply.
* ``instrument_stats`` / ``market_listings``: the market list's read model, refreshed
  by the worker (``services.discovery.refresh``). Fills only land in open books, so the
  stats of a closed instrument are computed once and marked ``final``.

Money columns are BigInteger units of 10⁻⁸ NMR (payouts may be negative); scores are
floats (they are correlations, not money).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from nmrx.platform.clock import utcnow
from nmrx.platform.tables import Base


class ModelPerformance(Base):
    """One per model: what the last sync learnt, and when it last tried."""

    __tablename__ = "model_performance"

    model_id: Mapped[int] = mapped_column(ForeignKey("numerai_models.id"), primary_key=True)
    stake: Mapped[int | None] = mapped_column(BigInteger)
    start_date: Mapped[datetime | None] = mapped_column()
    corr_mean_20: Mapped[float | None] = mapped_column(Float)
    corr_sharpe_20: Mapped[float | None] = mapped_column(Float)
    rounds_scored: Mapped[int] = mapped_column(Integer, default=0)
    synced_at: Mapped[datetime | None] = mapped_column()
    attempted_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)


class ModelRoundScore(Base):
    """A model's round as Numerai reports it: the latest published daily scores."""

    __tablename__ = "model_round_scores"
    __table_args__ = (UniqueConstraint("model_id", "round_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("numerai_models.id"))
    round_number: Mapped[int] = mapped_column(Integer)
    submission_id: Mapped[str | None] = mapped_column(String(64))
    corr: Mapped[float | None] = mapped_column(Float)
    mmc: Mapped[float | None] = mapped_column(Float)
    score_day: Mapped[int | None] = mapped_column(Integer)
    scored_on: Mapped[datetime | None] = mapped_column()
    payout: Mapped[int | None] = mapped_column(BigInteger)
    payout_settled: Mapped[bool] = mapped_column(default=False)
    at_risk: Mapped[int | None] = mapped_column(BigInteger)
    resolved: Mapped[bool] = mapped_column(default=False)
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)


class Review(Base):
    """A buyer's review of one settled purchase; verified by construction."""

    __tablename__ = "reviews"
    __table_args__ = (CheckConstraint("rating >= 1 AND rating <= 5", name="rating_range"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fill_id: Mapped[int] = mapped_column(ForeignKey("fills.id"), unique=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("numerai_models.id"), index=True)
    seller_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    buyer_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    verified: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reply_text: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None] = mapped_column()


class InstrumentStats(Base):
    """Trades of one instrument, aggregated; ``final`` once its book has closed."""

    __tablename__ = "instrument_stats"
    __table_args__ = (Index("ix_instrument_stats_market", "model_id", "mode", "round_number"),)

    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id"), primary_key=True)
    model_id: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(5))
    round_number: Mapped[int] = mapped_column(Integer)
    trades: Mapped[int] = mapped_column(Integer, default=0)
    volume: Mapped[int] = mapped_column(BigInteger, default=0)
    notional: Mapped[int] = mapped_column(BigInteger, default=0)
    close_price: Mapped[int | None] = mapped_column(BigInteger)
    last_fill_id: Mapped[int | None] = mapped_column(Integer)
    last_fill_at: Mapped[datetime | None] = mapped_column()
    final: Mapped[bool] = mapped_column(default=False)


class MarketListing(Base):
    """One row of the market list: a (model, mode) with its book, trading and reputation.

    Indexed for the default sort (volume) and the price filter (lowest ask); the other
    sorts order at most a few thousand filtered rows. ``search`` is the lower-cased
    "model seller" text the name search matches.
    """

    __tablename__ = "market_listings"
    __table_args__ = (
        Index("ix_market_listings_notional", "notional"),
        Index("ix_market_listings_lowest_ask", "lowest_ask"),
    )

    model_id: Mapped[int] = mapped_column(ForeignKey("numerai_models.id"), primary_key=True)
    mode: Mapped[str] = mapped_column(String(5), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(80))
    tournament: Mapped[str] = mapped_column(String(10))
    owner_user_id: Mapped[int | None] = mapped_column(Integer)
    seller_name: Mapped[str | None] = mapped_column(String(40))
    search: Mapped[str] = mapped_column(String(130), default="")
    open_books: Mapped[int] = mapped_column(Integer, default=0)
    front_round: Mapped[int | None] = mapped_column(Integer)
    lowest_ask: Mapped[int | None] = mapped_column(BigInteger)
    lowest_ask_round: Mapped[int | None] = mapped_column(Integer)
    ask_quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    best_bid: Mapped[int | None] = mapped_column(BigInteger)
    last_price: Mapped[int | None] = mapped_column(BigInteger)
    last_sale_at: Mapped[datetime | None] = mapped_column()
    trades: Mapped[int] = mapped_column(Integer, default=0)
    volume: Mapped[int] = mapped_column(BigInteger, default=0)
    notional: Mapped[int] = mapped_column(BigInteger, default=0)
    recent_volume: Mapped[int] = mapped_column(BigInteger, default=0)
    recent_notional: Mapped[int] = mapped_column(BigInteger, default=0)
    prior_notional: Mapped[int] = mapped_column(BigInteger, default=0)
    price_change_bp: Mapped[int | None] = mapped_column(Integer)
    score_mean_20: Mapped[float | None] = mapped_column(Float)
    sharpe_20: Mapped[float | None] = mapped_column(Float)
    stake: Mapped[int | None] = mapped_column(BigInteger)
    seller_rating: Mapped[float | None] = mapped_column(Float)
    seller_reviews: Mapped[int] = mapped_column(Integer, default=0)
    refreshed_at: Mapped[datetime] = mapped_column(default=utcnow)
