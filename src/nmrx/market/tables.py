"""Tables of the market: rounds, instruments, orders, fills and standing orders.

Registered on ``tables.Base`` (``tables`` imports this module), so migrations and the
schema check see them. Money columns are BigInteger units of 10⁻⁸ NMR.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from nmrx.platform.clock import utcnow
from nmrx.platform.tables import Base


class NumeraiRound(Base):
    """A round as Numerai reported it: the anchor the round calendar projects from."""

    __tablename__ = "numerai_rounds"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    open_time: Mapped[datetime] = mapped_column()
    close_time: Mapped[datetime] = mapped_column()
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)


class Instrument(Base):
    """One tradable thing, (model, round, mode), with its order book's counters.

    ``next_seq`` is the time priority the book gives its next order; ``book_seq`` goes
    up by one on every change of the book (the market-data sequence number, and the
    version the in-process book cache is checked against).
    """

    __tablename__ = "instruments"
    __table_args__ = (
        UniqueConstraint("model_id", "round_number", "mode"),
        Index("ix_instruments_state_closes", "state", "trading_closes_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("numerai_models.id"))
    tournament: Mapped[str] = mapped_column(String(10))
    round_number: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(5))
    round_open_at: Mapped[datetime] = mapped_column()
    round_close_at: Mapped[datetime] = mapped_column()
    trading_closes_at: Mapped[datetime] = mapped_column()
    state: Mapped[str] = mapped_column(String(10), default="open")
    next_seq: Mapped[int] = mapped_column(BigInteger, default=1)
    book_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column()


class StandingOrder(Base):
    """A seller's ask ladder or a buyer's standing bid, re-placed in each new book.

    ``rounds`` (standing bids): how many rounds' books to bid in; ``None`` until
    cancelled. ``version`` goes up when its levels are re-placed in open books.
    """

    __tablename__ = "standing_orders"
    __table_args__ = (Index("ix_standing_orders_market", "model_id", "mode", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("numerai_models.id"))
    mode: Mapped[str] = mapped_column(String(5))
    side: Mapped[str] = mapped_column(String(3))
    state: Mapped[str] = mapped_column(String(10), default="active")
    rounds: Mapped[int | None] = mapped_column(Integer)
    rounds_placed: Mapped[int] = mapped_column(Integer, default=0)
    slot_model_id: Mapped[int | None] = mapped_column(ForeignKey("numerai_models.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StandingLevel(Base):
    """One (quantity, price) level of a standing order."""

    __tablename__ = "standing_levels"
    __table_args__ = (
        CheckConstraint("quantity > 0 AND price > 0", name="positive"),
        UniqueConstraint("standing_order_id", "position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    standing_order_id: Mapped[int] = mapped_column(
        ForeignKey("standing_orders.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[int] = mapped_column(BigInteger)


class StandingPlacement(Base):
    """A standing order was placed in an instrument's book (once per book)."""

    __tablename__ = "standing_placements"
    __table_args__ = (UniqueConstraint("standing_order_id", "instrument_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    standing_order_id: Mapped[int] = mapped_column(ForeignKey("standing_orders.id"))
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MarketOrder(Base):
    """A limit order (bid or ask) on an instrument. Bids own the hold ``hold_id``.

    ``remaining`` is the open quantity while ``state`` is open, and 0 afterwards;
    ``filled`` the quantity traded. ``seq`` is its time priority in the book.
    """

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("user_id", "client_order_id"),
        CheckConstraint("quantity > 0 AND price > 0", name="positive"),
        CheckConstraint(
            "filled >= 0 AND remaining >= 0 AND filled + remaining <= quantity",
            name="quantities",
        ),
        Index("ix_orders_book", "instrument_id", "state", "seq"),
        Index("ix_orders_owner", "user_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id"))
    client_order_id: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(3))
    order_type: Mapped[str] = mapped_column(String(10))
    price: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(BigInteger)
    filled: Mapped[int] = mapped_column(BigInteger, default=0)
    remaining: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[str] = mapped_column(String(10))
    cancel_reason: Mapped[str | None] = mapped_column(String(20))
    seq: Mapped[int | None] = mapped_column(BigInteger)
    collateral_per_unit: Mapped[int] = mapped_column(BigInteger, default=0)
    slot_model_id: Mapped[int | None] = mapped_column(ForeignKey("numerai_models.id"))
    hold_id: Mapped[str | None] = mapped_column(String(120))
    standing_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("standing_orders.id"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Fill(Base):
    """A trade, with what settlement needs. ``notional`` = ``price × quantity``."""

    __tablename__ = "fills"
    __table_args__ = (
        CheckConstraint("quantity > 0 AND price > 0", name="positive"),
        Index("ix_fills_tape", "instrument_id", "id"),
        Index("ix_fills_seller", "seller_user_id", "state"),
        Index("ix_fills_buyer", "buyer_user_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id"))
    buy_order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    sell_order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    buyer_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    seller_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    taker_side: Mapped[str] = mapped_column(String(3))
    price: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(BigInteger)
    notional: Mapped[int] = mapped_column(BigInteger)
    fee_rate_bp: Mapped[int] = mapped_column(Integer)
    buyer_collateral: Mapped[int] = mapped_column(BigInteger, default=0)
    slot_model_id: Mapped[int | None] = mapped_column(ForeignKey("numerai_models.id"))
    state: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
