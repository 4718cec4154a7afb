"""Pointing the real ``numerapi`` client at the emulator (for tests and demos).

numerapi 3.1 has no per-instance URL: ``Api.raw_query`` posts to the module global
``numerapi.base_api.API_TOURNAMENT_URL`` (read at call time). Setting that global is the
one supported override; it applies to every NumerAPI/SignalsAPI in the process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def numerapi_pointed_at(url: str) -> Iterator[None]:
    """Temporarily send every numerapi GraphQL call to ``url``."""
    from numerapi import base_api

    previous = base_api.API_TOURNAMENT_URL
    base_api.API_TOURNAMENT_URL = url
    try:
        yield
    finally:
        base_api.API_TOURNAMENT_URL = previous


def credentials(token: str) -> tuple[str, str]:
    """``"public$secret"`` → ``(public_id, secret_key)`` for ``NumerAPI(*credentials(t))``."""
    public_id, _, secret = token.partition("$")
    return public_id, secret
