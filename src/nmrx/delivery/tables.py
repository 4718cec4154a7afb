"""Tables of uploads and deliveries (market-rules §5.2)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from nmrx.platform.clock import utcnow
from nmrx.platform.tables import Base


class PredictionUpload(Base):
    """A seller's predictions file for one model and round; the newest current one counts."""

    __tablename__ = "prediction_uploads"
    __table_args__ = (
        Index("ix_prediction_uploads_model_round", "model_id", "round_number", "current"),
        # one current upload per (model, round): delivery takes *the* current file
        Index(
            "uq_prediction_uploads_one_current",
            "model_id",
            "round_number",
            unique=True,
            sqlite_where=text("current"),
            postgresql_where=text("current"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("numerai_models.id"))
    tournament: Mapped[str] = mapped_column(String(10))
    round_number: Mapped[int] = mapped_column(Integer)
    uploader_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    storage_key: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(200))
    format: Mapped[str] = mapped_column(String(10))
    rows: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    current: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    replaced_at: Mapped[datetime | None] = mapped_column()
    own_submission_id: Mapped[str | None] = mapped_column(String(64))
    own_submission_error: Mapped[str | None] = mapped_column(Text)


class SellerWebhook(Base):
    """A seller's webhook: a URL and a signing secret (encrypted at rest)."""

    __tablename__ = "seller_webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    url: Mapped[str] = mapped_column(String(500))
    secret_ciphertext: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookCall(Base):
    """One event to one webhook, retried with backoff; every attempt is recorded here."""

    __tablename__ = "webhook_calls"
    __table_args__ = (Index("ix_webhook_calls_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(
        ForeignKey("seller_webhooks.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(40))
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    payload: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(
        String(10), default="pending"
    )  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()


class Delivery(Base):
    """Getting one fill's file to its buyer: a download, or an automatic submission to a slot.

    ``state``: waiting (for an upload or a retry) → delivered, or failed with ``fault``
    (buyer: key invalid / scope missing / slot gone; nobody: Numerai or platform).
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("uq_deliveries_fill_kind", "fill_id", "kind", unique=True),
        Index("ix_deliveries_due", "kind", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fill_id: Mapped[int] = mapped_column(ForeignKey("fills.id"))
    kind: Mapped[str] = mapped_column(String(12))  # download | submission
    state: Mapped[str] = mapped_column(String(10), default="waiting")
    upload_id: Mapped[int | None] = mapped_column(ForeignKey("prediction_uploads.id"))
    nonce: Mapped[str | None] = mapped_column(String(64))
    numerai_submission_id: Mapped[str | None] = mapped_column(String(64))
    submitted_filename: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    fault: Mapped[str | None] = mapped_column(String(10))
    delivered_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DownloadLog(Base):
    """Every download of a purchased file."""

    __tablename__ = "download_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    upload_id: Mapped[int] = mapped_column(ForeignKey("prediction_uploads.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
