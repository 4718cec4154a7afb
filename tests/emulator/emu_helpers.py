"""Builders shared by the emulator tests (a uniquely named module, importable from
the test files because pytest puts this directory on sys.path)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numerapi import NumerAPI, SignalsAPI

from numerai_emulator import CLASSIC, SIGNALS, World, credentials


def classic_api(token: str) -> NumerAPI:
    return NumerAPI(*credentials(token), verbosity="warning", show_progress_bars=False)


def signals_api(token: str) -> SignalsAPI:
    return SignalsAPI(*credentials(token), verbosity="warning", show_progress_bars=False)


@dataclass
class Player:
    """A fresh account with two classic models, one signals model and a full key."""

    username: str
    token: str
    classic: list[str]  # model ids
    signals: str

    @property
    def napi(self) -> NumerAPI:
        return classic_api(self.token)

    @property
    def sapi(self) -> SignalsAPI:
        return signals_api(self.token)


def classic_predictions(world: World, round_number: int, seed: int) -> pd.DataFrame:
    ids = world.universe(CLASSIC, round_number)
    values = np.random.default_rng(seed).uniform(0.01, 0.99, len(ids))
    return pd.DataFrame({"id": ids, "prediction": values})


def signals_predictions(world: World, round_number: int, seed: int, n: int = 800) -> pd.DataFrame:
    tickers = world.universe(SIGNALS, round_number)[:n]
    values = np.random.default_rng(seed).uniform(0.01, 0.99, len(tickers))
    return pd.DataFrame({"numerai_ticker": tickers, "signal": values})
