"""One emulator per test session; each test gets numerapi pointed at it.

Tests share the emulator, so a test that needs a clean slate opens a fresh round
(``fresh_round``) and/or uses a fresh account (``player``) instead of the defaults.
"""

from __future__ import annotations

import itertools

import pytest
from emu_helpers import Player
from numerapi import base_api

from numerai_emulator import CLASSIC, SIGNALS, EmulatorServer, World

SEED = 7
_counter = itertools.count(1)


@pytest.fixture(scope="session")
def emu():
    with EmulatorServer(seed=SEED) as server:
        yield server


@pytest.fixture(autouse=True)
def _numerapi_at_emulator(emu, monkeypatch, tmp_path):
    monkeypatch.setattr(base_api, "API_TOURNAMENT_URL", emu.url)
    monkeypatch.chdir(tmp_path)  # numerapi downloads into the working directory
    yield
    emu.world.faults.clear()


@pytest.fixture
def world(emu) -> World:
    return emu.world


@pytest.fixture
def fresh_round(world) -> int:
    """Move the clock to the next round's open; return its number."""
    world.advance_to_next_open()
    return world.current_round().number


@pytest.fixture
def player(world) -> Player:
    name = f"player{next(_counter)}"
    world.create_account(name)
    m1 = world.create_model(name, f"{name}_a", tournament=CLASSIC, stake="10")
    m2 = world.create_model(name, f"{name}_b", tournament=CLASSIC)
    sig = world.create_model(name, f"{name}_s", tournament=SIGNALS, stake="5")
    key = world.create_api_key(name)
    return Player(name, key.token, [m1.id, m2.id], sig.id)
