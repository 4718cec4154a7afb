"""The demo: the bundled Numerai emulator (a separate process, spoken to over HTTP) and demo
users whose Numerai keys verify their emulator models; sellers get collateral."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx

from nmrx.accounts import service as accounts
from nmrx.platform.bootstrap import Container
from nmrx.sellers import collateral, numerai_keys
from nmrx.wallet import service as wallet
from nmrx.wallet.money import nmr

EMULATOR_ADMIN_TOKEN = "emulator-admin"
DEMO_PASSWORD = "demo-password"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str


DEMO_USERS = (
    DemoLogin("alice", DEMO_PASSWORD, "seller"),
    DemoLogin("bob", DEMO_PASSWORD, "buyer"),
    DemoLogin("carol", DEMO_PASSWORD, "buyer and seller"),
)
SELLERS = {"alice", "carol"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmulatorProcess:
    """`numerai-emulator serve` as a child process on a loopback port."""

    def __init__(self, *, port: int | None = None, seed: int = 42) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "numerai_emulator",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--seed",
                str(seed),
                "--log-level",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the Numerai emulator did not start")
            time.sleep(0.2)

    def state(self) -> dict:
        response = httpx.get(
            f"{self.url}/admin/state", headers={"X-Admin-Token": EMULATOR_ADMIN_TOKEN}, timeout=10
        )
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def seed(container: Container, emulator_state: dict | None = None) -> list[DemoLogin]:
    """Demo users with test NMR; with the emulator's state, their Numerai keys and models too."""
    db = container.db
    keys = {}
    for account in (emulator_state or {}).get("accounts", []):
        if account.get("keys"):
            keys[account["username"]] = account["keys"][0]["token"]
    for login in DEMO_USERS:
        who = accounts.register(db, username=login.username, password=login.password)
        wallet.faucet(
            db, user_id=who.user_id, amount=nmr(500), max_amount=nmr(500), request_id="demo-seed"
        )
        token = keys.get(login.username)
        if token:
            public_id, secret = token.split("$", 1)
            numerai_keys.add_key(container, user_id=who.user_id, public_id=public_id, secret=secret)
        if login.username in SELLERS:
            collateral.lock(container, user_id=who.user_id, amount=nmr(50), request_id="demo-seed")
    return list(DEMO_USERS)
