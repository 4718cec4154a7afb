"""Demo data: a few users with faucet money. More of the living market comes with later features."""

from __future__ import annotations

from dataclasses import dataclass

from nmrx.bootstrap import Container
from nmrx.domain.money import nmr
from nmrx.services import accounts, wallet


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str


DEMO_PASSWORD = "demo-password"
DEMO_USERS = (
    DemoLogin("alice", DEMO_PASSWORD, "seller"),
    DemoLogin("bob", DEMO_PASSWORD, "buyer"),
    DemoLogin("carol", DEMO_PASSWORD, "buyer and seller"),
)


def seed(container: Container) -> list[DemoLogin]:
    db = container.db
    for login in DEMO_USERS:
        who = accounts.register(db, username=login.username, password=login.password)
        wallet.faucet(
            db,
            user_id=who.user_id,
            amount=nmr(500),
            max_amount=container.settings.faucet_max_units,
            request_id="demo-seed",
        )
    return list(DEMO_USERS)
