"""Browser tests: Playwright driving Debian's chromium against a real server on loopback."""

from __future__ import annotations

import hashlib
import os
import shutil
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
ROOT = HERE.parent.parent
SNAPSHOTS = ROOT / "data" / "test-snapshots"  # ignored by git (/data/)
HISTORY_ROUNDS = "32" if UPDATE_SCREENSHOTS else "3"  # screenshots show what a visitor sees
START_LIMIT = 900.0  # seconds: only a demo that is hung takes this long to answer
HTTP_LIMIT = 60.0  # seconds for one request: generous, so load only makes a test slower
ACTION_LIMIT_MS = 90_000  # the browser's wait for a page, an element or an expectation


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


def source_hash() -> str:
    """What a prepared demo depends on: every source file (code, migrations, templates)."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "src").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def demo_snapshot() -> Path:
    """The prepared demo for this source, these options and this day; stale ones are removed.
    `nmrx demo` builds it on its first start (seeding once) and restores it after."""
    # The day too: the demo's simulated time goes on from the moment of the snapshot, and
    # a day-old one stays close to the real calendar.
    today = time.strftime("%Y-%m-%d", time.gmtime())
    key = hashlib.sha256(f"{source_hash()} {HISTORY_ROUNDS} {sys.version} {today}".encode())
    path = SNAPSHOTS / f"demo-{key.hexdigest()[:16]}"
    if SNAPSHOTS.exists():
        for old in SNAPSHOTS.iterdir():
            if old.name != path.name and ".building-" not in old.name:
                shutil.rmtree(old, ignore_errors=True)
    SNAPSHOTS.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`nmrx demo` as the README runs it, on a free port, from its prepared snapshot."""
    port = free_port()
    data = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NMRX_")}
    env["NMRX_DEMO_SNAPSHOT"] = str(demo_snapshot())
    if env.get("PYTHONPATH"):  # the same code as this process, although cwd changes below
        env["PYTHONPATH"] = os.pathsep.join(
            str(Path(entry).resolve()) for entry in env["PYTHONPATH"].split(os.pathsep) if entry
        )
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
            HISTORY_ROUNDS,
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=data,
    )
    url = f"http://127.0.0.1:{port}"
    proc.log_path = Path(log.name)  # type: ignore[attr-defined]
    # Waits while the demo starts (or seeds its snapshot); fails when it exits, or when it
    # has not answered for START_LIMIT seconds (hung, not slow).
    started = time.monotonic()
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() - started > START_LIMIT:
            proc.kill()
            pytest.fail(f"nmrx demo did not start: {Path(log.name).read_text()}")
        time.sleep(0.2)
    print(f"nmrx demo answered after {time.monotonic() - started:.1f} s", file=sys.stderr)
    yield url
    proc.send_signal(2)  # Ctrl-C: the demo stops its emulator too
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.terminate()
    log.close()


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Debian's chromium is missing at {CHROMIUM}: run `make browser`")
    from playwright.sync_api import expect

    expect.set_options(timeout=ACTION_LIMIT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield PatientBrowser(browser)
        browser.close()


class PatientBrowser:
    """The browser, whose every new context waits up to ACTION_LIMIT_MS for a page or an
    element (conditions, not sleeps: a quiet machine never waits that long)."""

    def __init__(self, browser: object) -> None:
        self._browser = browser

    def new_context(self, **options: object) -> object:
        context = self._browser.new_context(**options)  # type: ignore[attr-defined]
        context.set_default_timeout(ACTION_LIMIT_MS)
        context.set_default_navigation_timeout(ACTION_LIMIT_MS)
        return context

    def __getattr__(self, name: str) -> object:
        return getattr(self._browser, name)


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
        timeout=HTTP_LIMIT,
    )
    response.raise_for_status()
    return response.json()
