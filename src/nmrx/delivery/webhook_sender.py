"""Outgoing webhooks: HMAC-SHA256 signatures a receiver can verify, and one HTTP attempt.

Header ``X-NMRX-Signature: t=<unix seconds>,v1=<hex>`` where ``v1`` is
``HMAC_SHA256(secret, f"{t}.{body}")``. Receivers recompute it and reject old ``t``.

Targets are checked when a URL is saved and again before every attempt (DNS can change):
the host is resolved here, every address must be public (``rules.webhook_address_refusal``),
and the request connects to the address that was checked, keeping the URL's host in the
``Host`` header and TLS (SNI and certificate check), so a rebinding DNS answer cannot swap
it. No redirects are followed and no proxy from the environment is used. The seller sees
only whether an attempt succeeded; what the target said stays in the operator's log.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import socket
import ssl
import time
from dataclasses import dataclass

import httpx

from nmrx.delivery.rules import webhook_address_refusal

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-NMRX-Signature"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify(
    secret: str, body: bytes, header: str, *, tolerance: int = 300, now: int | None = None
) -> bool:
    """What a receiver does (also used by our tests and documented for sellers)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        t = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((int(time.time()) if now is None else now) - t) > tolerance:
        return False
    expected = sign(secret, body, t).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status: int | None
    error: str | None


# How receivers' certificates are checked: the system's trust store (tests trust their own CA)
TLS_VERIFY: ssl.SSLContext | bool = True

# What the seller reads about a failed attempt: never the target's status, text or error.
NOT_DELIVERED = "not delivered: the webhook URL did not answer with a 2xx status in time"
REFUSED = "not sent: the webhook URL no longer resolves to public internet addresses only"


class UnsafeTarget(ValueError):
    """A webhook URL NMRX will not send to; the message says why, in the seller's words."""


@dataclass(frozen=True)
class Target:
    url: httpx.URL
    address: str  # the checked IP address the request connects to


def resolve(host: str, port: int) -> list[str]:
    """The IP addresses ``host`` resolves to (replaced in tests)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_target(url: str, *, allow_http: bool, allow_private: bool) -> Target:
    """Parse, resolve and check a webhook URL; raise :class:`UnsafeTarget` when refused."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise UnsafeTarget("the webhook URL is not a valid URL") from exc
    if parsed.scheme != "https" and not (allow_http and parsed.scheme == "http"):
        raise UnsafeTarget(
            "the webhook URL must start with https://"
            + (" (or http:// in demo mode)" if allow_http else "")
        )
    if not parsed.host:
        raise UnsafeTarget("the webhook URL has no host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = resolve(parsed.host, port)
    except (OSError, UnicodeError) as exc:
        raise UnsafeTarget(f"the webhook host '{parsed.host}' could not be found") from exc
    if not addresses:
        raise UnsafeTarget(f"the webhook host '{parsed.host}' could not be found")
    for address in addresses:
        reason = webhook_address_refusal(address, allow_private=allow_private)
        if reason is not None:
            # the kind only, never the address: no map of the network behind us
            raise UnsafeTarget(
                f"the webhook URL must point to a public internet address; "
                f"'{parsed.host}' is or resolves to {reason}"
            )
    return Target(parsed, addresses[0])


def post(
    url: str,
    secret: str,
    event: str,
    body: bytes,
    *,
    allow_http: bool = False,
    allow_private: bool = False,
    timeout: float = 5.0,
) -> Attempt:
    try:
        target = check_target(url, allow_http=allow_http, allow_private=allow_private)
    except UnsafeTarget as exc:
        log.warning("webhook to %s refused: %s", url, exc)
        return Attempt(False, None, REFUSED)
    headers = {
        "Host": target.url.netloc.decode("ascii"),
        "Content-Type": "application/json",
        "User-Agent": "NMRX-Webhooks/1",
        "X-NMRX-Event": event,
        SIGNATURE_HEADER: sign(secret, body),
    }
    pinned = target.url.copy_with(host=target.address)
    extensions = {"sni_hostname": target.url.host} if target.url.scheme == "https" else {}
    try:
        with httpx.Client(
            trust_env=False, follow_redirects=False, timeout=timeout, verify=TLS_VERIFY
        ) as client:
            response = client.post(pinned, content=body, headers=headers, extensions=extensions)
    except httpx.HTTPError as exc:
        log.info("webhook to %s failed: %s: %s", url, type(exc).__name__, exc)
        return Attempt(False, None, NOT_DELIVERED)
    if 200 <= response.status_code < 300:
        return Attempt(True, response.status_code, None)
    log.info("webhook to %s answered HTTP %s", url, response.status_code)
    return Attempt(False, None, NOT_DELIVERED)
