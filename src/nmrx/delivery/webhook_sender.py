"""Outgoing webhooks: HMAC-SHA256 signatures a receiver can verify, and one HTTP attempt.

Header ``X-NMRX-Signature: t=<unix seconds>,v1=<hex>`` where ``v1`` is
``HMAC_SHA256(secret, f"{t}.{body}")``. Receivers recompute it and reject old ``t``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

import httpx

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


def post(url: str, secret: str, event: str, body: bytes, *, timeout: float = 5.0) -> Attempt:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "NMRX-Webhooks/1",
        "X-NMRX-Event": event,
        SIGNATURE_HEADER: sign(secret, body),
    }
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        return Attempt(False, None, f"{type(exc).__name__}: {exc}"[:500])
    ok = 200 <= response.status_code < 300
    return Attempt(ok, response.status_code, None if ok else f"HTTP {response.status_code}")
