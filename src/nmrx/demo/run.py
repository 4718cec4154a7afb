"""The demo: the bundled Numerai emulator (a separate process, spoken to over HTTP) and demo
users whose Numerai keys verify their emulator models; sellers get collateral.

Also the demo's prepared snapshot (internal, for the browser tests): with
``NMRX_DEMO_SNAPSHOT`` naming a directory, ``nmrx demo`` seeds once, waits for the score
history, and keeps a copy of its data directory and of the emulator's whole world there;
later starts copy them back instead of seeding again. Whoever sets the variable names the
directory after what the snapshot depends on (the code, the demo's options)."""

from __future__ import annotations

import argparse
import copyreg
import io
import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

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
    """`numerai-emulator serve` as a child process on a loopback port.

    ``snapshots=True`` runs it through this module instead (the same emulator, plus
    ``GET /admin/demo-world``, its whole world pickled); ``restore`` starts it from such a
    pickle."""

    def __init__(
        self,
        *,
        port: int | None = None,
        seed: int = 42,
        snapshots: bool = False,
        restore: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = ["--port", str(self.port), "--seed", str(seed)]
        if snapshots or restore is not None:
            command = [sys.executable, "-m", "nmrx.demo.run", *args]
            command += ["--restore", str(restore)] if restore is not None else []
        else:
            command = [sys.executable, "-m", "numerai_emulator", "serve", "--host", "127.0.0.1"]
            command += [*args, "--log-level", "warning"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 300  # generous: a busy machine starts it late
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the Numerai emulator did not start")
            time.sleep(0.2)

    def world(self) -> bytes:
        """The emulator's whole world, pickled (``snapshots=True`` only)."""
        response = httpx.get(
            f"{self.url}/admin/demo-world",
            headers={"X-Admin-Token": EMULATOR_ADMIN_TOKEN},
            timeout=120,
        )
        response.raise_for_status()
        return response.content

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


# --------------------------------------------------------------------- the prepared snapshot
SNAPSHOT_ENV = "NMRX_DEMO_SNAPSHOT"


class _Pickler(pickle.Pickler):
    """Locks are pickled as new, unlocked locks."""

    dispatch_table = copyreg.dispatch_table.copy()
    dispatch_table[type(threading.Lock())] = lambda _lock: (threading.Lock, ())
    dispatch_table[type(threading.RLock())] = lambda _lock: (threading.RLock, ())


def dump_world(world: Any) -> bytes:
    """The emulator's world and its simulated time, under the world's lock."""
    buffer = io.BytesIO()
    with world.lock:
        _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump((world, world.now()))
    return buffer.getvalue()


def load_world(data: bytes) -> Any:
    """A world from ``dump_world``; its clock goes on from the moment it was pickled."""
    world, now = pickle.loads(data)  # noqa: S301 - our own file, written by dump_world
    world.clock._base, world.clock._mono = now, time.monotonic()  # noqa: SLF001
    return world


@dataclass(frozen=True)
class Snapshot:
    """A prepared demo: ``data/`` (the data directory), ``emulator.pickle``, ``logins.json``."""

    path: Path

    @classmethod
    def from_env(cls) -> Snapshot | None:
        value = os.environ.get(SNAPSHOT_ENV, "")
        return cls(Path(value)) if value else None

    @property
    def ready(self) -> bool:
        return (self.path / "logins.json").exists()

    @property
    def emulator_file(self) -> Path:
        return self.path / "emulator.pickle"

    def restore(self, data_dir: Path) -> None:
        shutil.copytree(self.path / "data", data_dir)

    def logins(self) -> list[Any]:
        from nmrx.demo.market import DemoLogin as SeededLogin

        return [SeededLogin(**d) for d in json.loads((self.path / "logins.json").read_text())]

    def save(
        self, container: Container, emulator: EmulatorProcess, data_dir: Path, logins: list[Any]
    ) -> None:
        """Keep the seeded demo; built aside and renamed into place, so a snapshot is whole."""
        container.db.dispose()  # every connection closed: the SQLite file is complete
        building = self.path.with_name(f"{self.path.name}.building-{os.getpid()}")
        shutil.rmtree(building, ignore_errors=True)
        shutil.copytree(data_dir, building / "data")
        (building / "emulator.pickle").write_bytes(emulator.world())
        (building / "logins.json").write_text(json.dumps([asdict(x) for x in logins]))
        try:
            building.rename(self.path)
        except OSError:  # another run kept the same snapshot meanwhile
            shutil.rmtree(building, ignore_errors=True)


def serve_emulator(argv: Sequence[str] | None = None) -> None:
    """``python -m nmrx.demo.run --port P --seed S [--restore FILE]``: the emulator for a
    demo with snapshots."""
    import uvicorn
    from starlette.responses import PlainTextResponse, Response
    from starlette.types import ASGIApp, Receive, Scope, Send

    from numerai_emulator import World
    from numerai_emulator.app import create_app

    parser = argparse.ArgumentParser(prog="nmrx.demo.run")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--restore", type=Path)
    args = parser.parse_args(argv)
    world = load_world(args.restore.read_bytes()) if args.restore else World(args.seed)
    emulator = create_app(world, admin_token=EMULATOR_ADMIN_TOKEN)

    def with_dump(app: ASGIApp) -> ASGIApp:
        async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["path"] == "/admin/demo-world":
                token = dict(scope["headers"]).get(b"x-admin-token", b"").decode()
                reply: Response = (
                    Response(dump_world(world), media_type="application/octet-stream")
                    if token == EMULATOR_ADMIN_TOKEN
                    else PlainTextResponse("admin token required", status_code=401)
                )
                await reply(scope, receive, send)
                return
            await app(scope, receive, send)

        return asgi

    uvicorn.run(
        with_dump(emulator),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        http="h11",
        lifespan="off",
    )


if __name__ == "__main__":
    serve_emulator()
