"""Builders for tests: users, tokens and money without copy-pasted dicts."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from fastapi.testclient import TestClient

from nmrx.accounts import service as accounts
from nmrx.platform.bootstrap import Container
from nmrx.wallet import service as wallet
from nmrx.wallet.money import nmr

_counter = itertools.count(1)
PASSWORD = "correct-horse-battery"


@dataclass
class UserRef:
    id: int
    username: str
    password: str = PASSWORD


def make_user(container: Container, *, funds: int = 0, username: str | None = None) -> UserRef:
    name = username or f"user{next(_counter)}"
    who = accounts.register(container.db, username=name, password=PASSWORD)
    if funds:
        wallet.faucet(container.db, user_id=who.user_id, amount=funds, max_amount=funds)
    return UserRef(who.user_id, who.username)


def make_token(container: Container, user: UserRef, scopes: str = "read trade upload") -> str:
    token, _ = accounts.create_token(container.db, user_id=user.id, name="test", scopes=scopes)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api_client(container: Container) -> TestClient:
    from nmrx.app import create_app

    return TestClient(create_app(container))


def csrf_token(client: TestClient, path: str) -> str:
    """The CSRF token of the form on the page at ``path``, as a browser would send it."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def browser_login(container: Container, username: str, password: str = PASSWORD) -> TestClient:
    """A browser session (cookie, CSRF token) logged in through the login form."""
    client = api_client(container)
    r = client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": csrf_token(client, "/login"),
        },
    )
    assert r.status_code == 200 and r.url.path != "/login", r.text
    return client


__all__ = [
    "nmr",
    "make_user",
    "make_token",
    "bearer",
    "api_client",
    "csrf_token",
    "browser_login",
    "UserRef",
]
