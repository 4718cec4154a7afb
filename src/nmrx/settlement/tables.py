"""A fill's history: every state it passed through, when, and why."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nmrx.platform.clock import utcnow
from nmrx.platform.tables import Base


class FillEvent(Base):
    __tablename__ = "fill_events"
    __table_args__ = (UniqueConstraint("fill_id", "to_state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fill_id: Mapped[int] = mapped_column(ForeignKey("fills.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column()  # the platform clock's time of the move
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
