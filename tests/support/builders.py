"""Builders for tests: users, tokens and money without copy-pasted dicts."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from fastapi.testclient import TestClient

from nmrx.bootstrap import Container
from nmrx.domain.money import nmr
from nmrx.services import accounts, wallet

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


__all__ = ["nmr", "make_user", "make_token", "bearer", "api_client", "UserRef"]
