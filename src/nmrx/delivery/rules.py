"""Delivery rules (PRODUCT.md §5.2): what a fill gets, when to retry, whose fault a failure is."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum


class DeliveryKind(StrEnum):
    DOWNLOAD = "download"
    SUBMISSION = "submission"


class DeliveryState(StrEnum):
    WAITING = "waiting"
    DELIVERED = "delivered"
    FAILED = "failed"


class Fault(StrEnum):
    BUYER = "buyer"  # the buyer's key is invalid, lacks a scope, or the slot is gone
    NOBODY = "nobody"  # Numerai unreachable, or a platform error


# Gateway error kinds that are the buyer's doing, and final.
BUYER_FAULT_KINDS = frozenset({"auth", "permission", "not_found"})
FIRST_RETRY = timedelta(seconds=10)
MAX_RETRY = timedelta(minutes=5)


def kinds_for(mode: str, *, has_slot: bool) -> list[DeliveryKind]:
    """File Mode: a download (plus a submission to a verification slot); Stake Mode: a submission only."""
    if mode == "stake":
        return [DeliveryKind.SUBMISSION]
    return [DeliveryKind.DOWNLOAD, DeliveryKind.SUBMISSION] if has_slot else [DeliveryKind.DOWNLOAD]


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff: 10 s, 20 s, 40 s … capped at 5 minutes."""
    return min(FIRST_RETRY * (2 ** max(0, attempts - 1)), MAX_RETRY)


def next_attempt(now: datetime, attempts: int, deadline: datetime) -> datetime | None:
    """When to try again, or None when the next try would come after the deadline."""
    at = now + retry_delay(attempts)
    return at if at < deadline else None


def submission_filename(nonce: str, fmt: str) -> str:
    """The file name on Numerai: carries the unguessable per-delivery nonce."""
    return f"nmrx-{nonce}.{'parquet' if fmt == 'parquet' else 'csv'}"
