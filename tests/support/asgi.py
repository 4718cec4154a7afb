"""Drive an ASGI app directly, without a server, from synchronous tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any


def run_in_own_loop(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run `coroutine` to the end on a fresh event loop in a thread of its own.

    The calling thread may already have a running loop (Playwright's sync API keeps one
    in the main thread for the whole browser session), where `asyncio.run` is refused.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = asyncio.run(coroutine)
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=run, name="asgi-direct")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
