"""Delivery rules (market-rules §5.2): what a fill gets, when to retry, whose fault a failure is."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
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


class Outcome(StrEnum):
    """What becomes of an automatic submission after a check or an attempt."""

    DELIVERED = "delivered"  # ours is the slot's selected submission
    RETRY = "retry"  # not this time, through nobody's fault: try again before the deadline
    FAILED = "failed"  # for good; the verdict says whose fault


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    fault: Fault | None = None  # FAILED only
    reason: str | None = None  # what went wrong: the delivery's last error
    retry_at: datetime | None = None  # RETRY only


# Gateway error kinds that are the buyer's doing, and final.
BUYER_FAULT_KINDS = frozenset({"auth", "permission", "not_found"})
PLATFORM_ERROR = "platform"  # not a gateway kind: our own failure, nobody's fault
FIRST_RETRY = timedelta(seconds=10)
MAX_RETRY = timedelta(minutes=5)


def upload_deadline(round_close: datetime, margin_minutes: int) -> datetime:
    """Uploads for a round are accepted until ``close − upload_margin``; a sale whose round
    has no upload by then is a non-delivery."""
    return round_close - timedelta(minutes=margin_minutes)


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


def too_late(last_error: str | None) -> str:
    """Why a submission still waiting when the round closed failed (nobody's fault)."""
    return f"not delivered before the round closed: {last_error or 'no attempt succeeded'}"


def before_attempt(
    *,
    now: datetime,
    round_close: datetime,
    slot_is_buyers: bool,
    has_key: bool,
    last_error: str | None,
) -> Verdict | None:
    """Whether a submission may be attempted now: None to go ahead, else its failure. The
    round closing is nobody's fault; a slot the buyer no longer owns, or no key of theirs
    that reaches it, is the buyer's."""
    if now >= round_close:
        return Verdict(Outcome.FAILED, Fault.NOBODY, too_late(last_error))
    if not slot_is_buyers:
        reason = "the buyer's slot is no longer one of the buyer's models"
        return Verdict(Outcome.FAILED, Fault.BUYER, reason)
    if not has_key:
        return Verdict(Outcome.FAILED, Fault.BUYER, "no Numerai key of the buyer reaches the slot")
    return None


def classify_attempt(
    error_kind: str | None, detail: str, *, now: datetime, attempts: int, round_close: datetime
) -> Verdict:
    """One attempt's outcome. ``error_kind`` is None when ours became the slot's selected
    submission, else the gateway's error kind (auth, permission, not_found, unavailable,
    invalid …) or ``PLATFORM_ERROR``. The buyer's key or slot failing is final and the
    buyer's fault; anything else is retried with backoff until the round closes, then
    fails as nobody's fault."""
    if error_kind is None:
        return Verdict(Outcome.DELIVERED)
    if error_kind in BUYER_FAULT_KINDS:
        return Verdict(Outcome.FAILED, Fault.BUYER, detail)
    retry_at = next_attempt(now, attempts, round_close)
    if retry_at is None:
        return Verdict(Outcome.FAILED, Fault.NOBODY, too_late(detail))
    return Verdict(Outcome.RETRY, reason=detail, retry_at=retry_at)


# Seller webhooks go to public internet addresses only (no SSRF into our own network).
_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries: mapped, 6to4, Teredo, NAT64 or compatible."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (int(address) >> 32 == 0 and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def webhook_address_refusal(address: str, *, allow_private: bool = False) -> str | None:
    """Why a webhook may not be sent to this IP address (None: it may).

    Refused always: unspecified, multicast, link-local, cloud metadata, reserved and other
    non-global addresses, also inside IPv6 (IPv4-mapped, 6to4, Teredo, NAT64). Loopback
    and private addresses only when ``allow_private`` (``NMRX_WEBHOOK_ALLOW_PRIVATE``, for
    a receiver on the operator's own machine in tests)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return webhook_address_refusal(str(inner), allow_private=allow_private)
    if ip in _METADATA:
        return "a cloud metadata address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_loopback:
        return None if allow_private else "a loopback address"
    if ip.is_private or ip in _SHARED:
        if allow_private and not ip.is_reserved:
            return None
        return "a private address" if not ip.is_reserved else "a reserved address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "not a public internet address"
    return None
