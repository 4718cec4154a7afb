"""Browser tests: Playwright driving Debian's chromium against a real server on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
UPDATE_SCREENSHOTS = os.environ.get("NMRX_UPDATE_SCREENSHOTS") == "1"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here drives chromium, and together they take minutes (one process runs
    them all: tests/support/scheduling.py)."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.long_running)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`nmrx demo`, exactly as the README runs it, on a free port."""
    port = free_port()
    data = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NMRX_")}
    log = open(data / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nmrx.cli",
            "demo",
            "--port",
            str(port),
            "--data-dir",
            str(data / "d"),
            "--history-rounds",
            # README screenshots show the demo as a visitor sees it; tests need only a little.
            "32" if UPDATE_SCREENSHOTS else "3",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=data,
    )
    url = f"http://127.0.0.1:{port}"
    proc.log_path = Path(log.name)  # type: ignore[attr-defined]
    deadline = time.monotonic() + 240
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"nmrx demo did not start: {Path(log.name).read_text()}")
        time.sleep(0.2)
    yield url
    proc.send_signal(2)  # Ctrl-C: the demo stops its emulator too
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.terminate()
    log.close()


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Debian's chromium is missing at {CHROMIUM}: run `make browser`")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A fresh page; any Content-Security-Policy violation on it (Chromium reports each as a
    console error) fails the test: the CSP must break no page, htmx swap or chart."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda m: (
            violations.append(m.text)
            if m.type == "error" and "Content Security Policy" in m.text
            else None
        ),
    )
    yield page
    context.close()
    assert violations == [], f"CSP violations: {violations}"


@pytest.fixture(scope="session")
def demo_emulator(demo_server: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of the emulator `nmrx demo` started (it prints it)."""
    import re

    logs = sorted(Path(tmp_path_factory.getbasetemp()).glob("demo*/server.log"))
    for log in logs:
        match = re.search(r"Numerai emulator: (http://127\.0\.0\.1:\d+)", log.read_text())
        if match:
            return match.group(1)
    pytest.fail("nmrx demo did not print its Numerai emulator URL")


def emulator_admin(url: str, method: str, path: str, body: dict | None = None) -> dict:
    response = httpx.request(
        method,
        f"{url}/admin{path}",
        json=body,
        headers={"X-Admin-Token": "emulator-admin"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()
