"""Run the emulator in-process: uvicorn in a background thread on a loopback port.

from numerai_emulator import EmulatorServer

with EmulatorServer(seed=1) as emu:
    numerapi.base_api.API_TOURNAMENT_URL = emu.url   # numerapi 3.1: a module global
    api = numerapi.NumerAPI(*emu.world.key("alice").token.split("$"))
    emu.advance_to_next_close()
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from datetime import datetime

import uvicorn

from .app import create_app
from .world import DEFAULT_ADMIN_TOKEN, World


class EmulatorServer:
    def __init__(
        self,
        seed: int = 0,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        admin_token: str = DEFAULT_ADMIN_TOKEN,
        start: datetime | None = None,
        frozen: bool = False,
        world: World | None = None,
        log_level: str = "warning",
    ) -> None:
        self.world = world or World(seed, start=start, frozen=frozen)
        self.host = host
        self.port = port
        self.admin_token = admin_token
        self.app = create_app(self.world, admin_token=admin_token)
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The GraphQL endpoint, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> EmulatorServer:
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level=self._log_level,
            access_log=False,
            http="h11",
            lifespan="off",
            timeout_keep_alive=5,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name="numerai-emulator",
            daemon=True,
        )
        self._thread.start()
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._server is not None and self._server.started:
                try:
                    with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as reply:
                        if reply.status == 200:
                            return
                except OSError:
                    pass
            if self._thread is not None and not self._thread.is_alive():
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("the Numerai emulator did not start")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # conveniences delegating to the world
    def advance_to_next_open(self) -> datetime:
        return self.world.advance_to_next_open()

    def advance_to_next_close(self) -> datetime:
        return self.world.advance_to_next_close()

    def advance_days(self, days: float) -> datetime:
        return self.world.advance_days(days)

    def token(self, account: str) -> str:
        return self.world.token(account)
