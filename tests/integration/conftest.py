"""Integration fixtures: the Numerai emulator over HTTP and a container wired to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nmrx.platform.bootstrap import Container, bootstrap
from nmrx.wallet import ledger
from numerai_emulator import EmulatorServer
from tests.conftest import make_settings


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(seed=11) as server:
        yield server


@pytest.fixture
def market(database_url: str, tmp_path: Path, emulator: EmulatorServer) -> Iterator[Container]:
    """The application wired to the emulator, with fast retries; the ledger must be sound after."""
    c = bootstrap(
        make_settings(
            database_url,
            tmp_path,
            numerai_api_url=emulator.url,
            numerai_backoff_seconds=0.01,
            numerai_retries=3,
            numerai_timeout_seconds=5,
            clock="emulator",
        )
    )
    yield c
    emulator.world.faults.clear()
    violations = ledger.check(c.db)
    c.close()
    assert violations == [], f"ledger invariants broken: {violations}"
