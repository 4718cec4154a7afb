"""The application served by uvicorn on a loopback port in a background thread, so the
SDK and the CLI talk real HTTP to it (as `numerai_emulator.EmulatorServer` does)."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request

import uvicorn

from nmrx.platform.bootstrap import Container


class LiveServer:
    def __init__(self, container: Container) -> None:
        from nmrx.app import create_app

        self.app = create_app(container)
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> LiveServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, http="h11", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="nmrx-live", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._server.started:
                try:
                    with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as reply:
                        if reply.status == 200:
                            return self
                except OSError:
                    pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("the NMRX server did not start")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
