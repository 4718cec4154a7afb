"""The application on a real loopback server, wired to the emulator, with a seller and a
buyer who each have an API token and an SDK client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from nmrx.client import Client
from nmrx.platform.bootstrap import Container
from numerai_emulator import EmulatorServer
from tests.support.builders import make_token
from tests.support.live_server import LiveServer
from tests.support.market import Trader, instrument, trader


@pytest.fixture
def server(market: Container) -> Iterator[LiveServer]:
    with LiveServer(market) as live:
        yield live


@pytest.fixture
def round_number(emulator: EmulatorServer) -> int:
    emulator.world.advance_to_next_open()
    return emulator.world.current_round().number


@dataclass
class Party:
    trader: Trader
    token: str
    api: Client

    @property
    def model_name(self) -> str:
        return self.trader.numerai.classic[0]


def party(server: LiveServer, market: Container, emulator: EmulatorServer, **kw: int) -> Party:
    t = trader(market, emulator, **kw)
    # The token `nmrx login` stores: a full password login, which may manage tokens.
    token = make_token(market, t.user, scopes="read trade upload tokens")
    return Party(t, token, Client(server.url, token, backoff=0.01))


@pytest.fixture
def seller(server: LiveServer, market: Container, emulator: EmulatorServer) -> Party:
    return party(server, market, emulator, collateral_nmr=30)


@pytest.fixture
def buyer(server: LiveServer, market: Container, emulator: EmulatorServer) -> Party:
    return party(server, market, emulator)


@pytest.fixture
def file_book(market: Container, seller: Party, round_number: int) -> int:
    """The seller's File Mode book for the open round (opened as the worker would)."""
    return instrument(
        market, model_id=seller.trader.model(), round_number=round_number, mode="file"
    )


def predictions_frame(emulator: EmulatorServer, round_number: int, seed: int = 7) -> pd.DataFrame:
    ids = emulator.world.universe(8, round_number)
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"id": ids, "prediction": rng.random(len(ids))})
