"""Rate limits: how often a client may log in, register, mint API tokens, make NMRX ask
Numerai (verification codes and checks, keys) or take faucet money, and how many event
streams it may hold open at once.

Counts are moving windows (the ``limits`` library) kept in Redis when ``NMRX_REDIS_URL`` is
set, so every process of the exchange shares them, else in this process's memory. A limit
reached answers 429 with ``Retry-After`` (:class:`~nmrx.platform.errors.TooManyRequests`).
Routes take a limit with one dependency: :func:`per_ip`, :func:`login`,
:func:`per_account` (a bearer token) or :func:`per_session` (a browser session).

Limits count requests by address (``request.client``: run uvicorn with ``--proxy-headers``
behind a proxy) and by account. Should Redis be unreachable, requests are let through and a
warning logged: the exchange stays usable without its limiter.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Depends, Request
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from nmrx.accounts.rules import username_key
from nmrx.accounts.service import Principal
from nmrx.platform.api_deps import container, principal
from nmrx.platform.config import Settings
from nmrx.platform.errors import TooManyRequests
from nmrx.web.session import current_user_id

log = logging.getLogger("nmrx.rate_limit")


@dataclass(frozen=True)
class Rule:
    setting: str  # the Settings field holding its limit, e.g. "10/minute"
    what: str  # what is counted, for the 429's message


RULES: dict[str, Rule] = {
    "login_ip": Rule("rate_limit_login_per_ip", "login attempts from your address"),
    "login_username": Rule("rate_limit_login_per_username", "login attempts for this username"),
    "register_ip": Rule("rate_limit_register_per_ip", "registrations from your address"),
    "tokens": Rule("rate_limit_tokens_per_account", "new API tokens"),
    "verifications": Rule("rate_limit_verifications_per_account", "verification codes requested"),
    "verification_checks": Rule(
        "rate_limit_verification_checks_per_account", "verification checks"
    ),
    "numerai_keys": Rule("rate_limit_numerai_keys_per_account", "Numerai keys added"),
    "faucet": Rule("rate_limit_faucet_per_account", "faucet requests"),
}

STREAM_RETRY_SECONDS = 5


def _wait(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


class StreamSlots:
    """How many event streams each client holds open in this process."""

    def __init__(self, per_client: int) -> None:
        self.per_client = per_client
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def open(self, client: str) -> int:
        return self._open.get(client, 0)

    def acquire(self, client: str) -> Callable[[], None]:
        """Take a slot for ``client`` (429 when all are taken); returns its release, which
        may be called any number of times."""
        with self._lock:
            if self._open.get(client, 0) >= self.per_client:
                raise TooManyRequests(
                    f"too many open event streams ({self.per_client}): close one and try again",
                    retry_after=STREAM_RETRY_SECONDS,
                )
            self._open[client] = self._open.get(client, 0) + 1
        released = False

        def release() -> None:
            nonlocal released
            with self._lock:
                if released:
                    return
                released = True
                left = self._open.get(client, 0) - 1
                if left > 0:
                    self._open[client] = left
                else:
                    self._open.pop(client, None)

        return release


class RateLimiter:
    def __init__(
        self,
        limits: dict[str, str],
        *,
        storage_url: str = "",
        streams_per_client: int = 5,
        namespace: str = "nmrx-rate",
    ) -> None:
        self.limits: dict[str, RateLimitItem] = {name: parse(text) for name, text in limits.items()}
        storage: Storage = (
            RedisStorage(storage_url, key_prefix=namespace, wrap_exceptions=True)
            if storage_url
            else MemoryStorage()
        )
        self.storage = storage
        self._window = MovingWindowRateLimiter(storage)
        self.streams = StreamSlots(streams_per_client)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        return cls(
            {name: str(getattr(settings, rule.setting)) for name, rule in RULES.items()},
            storage_url=settings.redis_url,
            streams_per_client=settings.rate_limit_streams_per_client,
        )

    def close(self) -> None:
        if isinstance(self.storage, RedisStorage):
            self.storage.storage.close()

    def hit(self, rule: str, key: str) -> None:
        """Count one request of ``key`` (an address, a username, an account) under ``rule``;
        raises :class:`TooManyRequests` when its limit is already reached."""
        item = self.limits[rule]
        try:
            if self._window.hit(item, rule, key):
                return
            reset_at = self._window.get_window_stats(item, rule, key).reset_time
        except StorageError as exc:
            log.warning("rate limit %s not applied: its storage failed (%s)", rule, exc)
            return
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise TooManyRequests(
            f"too many {RULES[rule].what if rule in RULES else rule} "
            f"(at most {item.amount} per {_per(item)}): try again in {_wait(retry_after)}",
            retry_after=retry_after,
        )


def _per(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"


def limiter(request: Request) -> RateLimiter:
    return container(request).rate_limiter


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def stream_client(request: Request, user_id: int | None) -> str:
    """Who holds an event stream: the account (the stream's, else the browser session's),
    else the address."""
    if user_id is None:
        user_id = current_user_id(request)
    return f"user:{user_id}" if user_id is not None else f"ip:{client_address(request)}"


def per_ip(rule: str) -> Callable[[Request], None]:
    """A dependency counting the request against ``rule`` for the caller's address."""

    def dependency(request: Request) -> None:
        limiter(request).hit(rule, client_address(request))

    return dependency


def per_account(rule: str) -> Callable[..., None]:
    """A dependency of the JSON API counting the request against ``rule`` for the token's
    account (after authentication: an unknown token is a 401, not counted)."""

    def dependency(request: Request, who: Principal = Depends(principal)) -> None:
        limiter(request).hit(rule, str(who.user_id))

    return dependency


def per_session(rule: str) -> Callable[[Request], None]:
    """A dependency of the pages counting the request against ``rule`` for the session's
    account; without a session the page itself sends the visitor to log in."""

    def dependency(request: Request) -> None:
        user_id = current_user_id(request)
        if user_id is not None:
            limiter(request).hit(rule, str(user_id))

    return dependency


async def _username(request: Request) -> str:
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            return ""
        value = body.get("username") if isinstance(body, dict) else None
    else:
        value = (await request.form()).get("username")
    return value if isinstance(value, str) else ""


def login() -> Callable[[Request], Awaitable[None]]:
    """A dependency counting a login attempt for the caller's address and for the username
    tried (JSON body or form), so neither many addresses nor many names get unlimited tries."""

    async def dependency(request: Request) -> None:
        rate = limiter(request)
        rate.hit("login_ip", client_address(request))
        name = await _username(request)
        if name:
            rate.hit("login_username", username_key(name)[:64])  # names are ≤ 30 characters

    return dependency
