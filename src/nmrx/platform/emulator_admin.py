"""The bundled Numerai emulator's admin API, spoken over HTTP (demo only: nmrx never
imports the emulator). Real Numerai has no such thing; nothing outside the demo uses it."""

from __future__ import annotations

import threading
from typing import Any

import httpx

_lock = threading.Lock()
_client: httpx.Client | None = None


def emulator_http() -> httpx.Client:
    """One pooled HTTP client per process for the emulator's admin API (plain HTTP on
    loopback; safe to share between threads). ``httpx.get`` builds a new client, and so
    loads the CA bundle, on every call: ~40 ms, most of a clock read. Idle connections are
    dropped after 2 s, before the emulator's server closes them (5 s)."""
    global _client
    with _lock:
        if _client is None:
            _client = httpx.Client(limits=httpx.Limits(keepalive_expiry=2.0))
        return _client


class EmulatorAdmin:
    def __init__(self, url: str, token: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.headers = {"X-Admin-Token": token}
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = emulator_http().request(
            method, f"{self.url}/admin{path}", json=body, headers=self.headers, timeout=self.timeout
        )
        if response.status_code >= 400:
            raise RuntimeError(
                f"emulator admin {method} {path}: {response.status_code} {response.text[:200]}"
            )
        return response.json()

    def state(self) -> dict[str, Any]:
        return self._call("GET", "/state")

    def clock(self) -> dict[str, Any]:
        return self._call("GET", "/clock")

    def advance(
        self, *, to: str | None = None, days: float = 0, hours: float = 0
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"days": days, "hours": hours}
        if to:
            body["to"] = to
        return self._call("POST", "/clock/advance", body)

    def create_account(self, username: str) -> dict[str, Any]:
        return self._call("POST", "/accounts", {"username": username})

    def create_model(
        self, account: str, name: str, *, tournament: int = 8, stake: str = "0"
    ) -> dict[str, Any]:
        return self._call(
            "POST",
            "/models",
            {"account": account, "name": name, "tournament": tournament, "stake": stake},
        )

    def create_key(self, account: str) -> str:
        return str(self._call("POST", "/keys", {"account": account})["token"])

    def backfill(self, model: str, rounds: int, skill: float) -> int:
        return int(
            self._call("POST", f"/models/{model}/backfill", {"rounds": rounds, "skill": skill})[
                "submissions"
            ]
        )
