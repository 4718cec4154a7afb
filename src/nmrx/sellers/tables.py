"""Tables of sellers: Numerai API keys, Numerai models and their ownership codes and moves."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from nmrx.platform.clock import utcnow
from nmrx.platform.tables import Base


class NumeraiApiKey(Base):
    """A user's Numerai API key. The secret is AES-GCM encrypted, bound to the owner."""

    __tablename__ = "numerai_api_keys"
    __table_args__ = (UniqueConstraint("user_id", "public_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    public_id: Mapped[str] = mapped_column(String(120))
    secret_ciphertext: Mapped[str] = mapped_column(Text)
    numerai_username: Mapped[str] = mapped_column(String(80))
    scopes: Mapped[str] = mapped_column(Text, default="")  # space separated, as Numerai reports
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class NumeraiModel(Base):
    """A Numerai model known to the exchange, and its verified owner (one at a time)."""

    __tablename__ = "numerai_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    numerai_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(80), index=True)
    tournament: Mapped[str] = mapped_column(String(10))
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    verified_at: Mapped[datetime | None] = mapped_column()
    verified_via: Mapped[str | None] = mapped_column(String(10))  # bio | api_key
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("numerai_api_keys.id", ondelete="SET NULL")
    )


class OwnershipCode(Base):
    __tablename__ = "ownership_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    model_name: Mapped[str] = mapped_column(String(80))
    tournament: Mapped[str] = mapped_column(String(10))
    code: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    last_check_at: Mapped[datetime | None] = mapped_column()
    last_outcome: Mapped[str | None] = mapped_column(String(30))


class OwnershipMove(Base):
    """Every binding of a model to an account, including moves away from a previous owner."""

    __tablename__ = "ownership_moves"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("numerai_models.id"), index=True)
    from_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    via: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# The market's tables live in their own module; importing it registers them on Base.
from nmrx.delivery import tables as _delivery_tables  # noqa: E402, F401
from nmrx.market import tables as _market_tables  # noqa: E402, F401
from nmrx.reputation import tables as _reputation_tables  # noqa: E402, F401
from nmrx.settlement import tables as _settlement_tables  # noqa: E402, F401
