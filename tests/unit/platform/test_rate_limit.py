"""The limiter on its own: windows per key, the 429's wait, stream slots, and an unreachable
Redis letting requests through (the exchange stays usable without its limiter)."""

from __future__ import annotations

import pytest

from nmrx.platform.errors import TooManyRequests
from nmrx.platform.rate_limit import RULES, RateLimiter, StreamSlots


def test_each_key_has_its_own_window_and_the_refusal_says_how_long_to_wait() -> None:
    rate = RateLimiter({"login_ip": "2/minute"})
    rate.hit("login_ip", "198.51.100.1")
    rate.hit("login_ip", "198.51.100.1")
    with pytest.raises(TooManyRequests) as refused:
        rate.hit("login_ip", "198.51.100.1")
    assert refused.value.status == 429
    assert 1 <= refused.value.retry_after <= 60
    assert refused.value.message.startswith("too many login attempts from your address")
    assert "(at most 2 per minute)" in refused.value.message
    rate.hit("login_ip", "198.51.100.2")  # another address


def test_every_rule_reads_its_setting_and_a_bad_limit_fails_at_start() -> None:
    assert len({rule.setting for rule in RULES.values()}) == len(RULES)
    with pytest.raises(ValueError):
        RateLimiter({"login_ip": "ten a minute"})


def test_an_unreachable_redis_lets_requests_through() -> None:
    rate = RateLimiter({"faucet": "1/hour"}, storage_url="redis://127.0.0.1:1/0")
    for _ in range(3):
        rate.hit("faucet", "1")
    rate.close()


def test_stream_slots_are_counted_per_client_and_released_once() -> None:
    slots = StreamSlots(2)
    first, _second = slots.acquire("user:1"), slots.acquire("user:1")
    with pytest.raises(TooManyRequests):
        slots.acquire("user:1")
    slots.acquire("ip:198.51.100.1")
    first()
    first()  # a second release gives back nothing more
    assert slots.open("user:1") == 1
    slots.acquire("user:1")
    with pytest.raises(TooManyRequests):
        slots.acquire("user:1")
