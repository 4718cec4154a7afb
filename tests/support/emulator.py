"""Numerai emulator helpers for integration tests (tests may import the emulator; nmrx never does)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from nmrx.platform.numerai import NumeraiKey
from numerai_emulator import CLASSIC, SCOPES, SIGNALS, World

_names = itertools.count(1)


@dataclass
class NumeraiPlayer:
    """A Numerai account in the emulator with two classic models and one signals model."""

    username: str
    key: NumeraiKey
    classic: list[str]  # model names
    signals: str
    world: World

    def model_id(self, name: str) -> str:
        return self.world.model(name).id


def numerai_player(
    world: World, *, scopes: Iterable[str] = SCOPES, prefix: str = "np"
) -> NumeraiPlayer:
    n = next(_names)
    name = f"{prefix}{n}_{world.seed}"
    world.create_account(name)
    a = world.create_model(name, f"{name}_a", tournament=CLASSIC, stake="10")
    b = world.create_model(name, f"{name}_b", tournament=CLASSIC)
    s = world.create_model(name, f"{name}_s", tournament=SIGNALS, stake="5")
    api_key = world.create_api_key(name, scopes=scopes)
    return NumeraiPlayer(
        name, NumeraiKey(api_key.public_id, api_key.secret), [a.name, b.name], s.name, world
    )


def key_with_scopes(world: World, account: str, scopes: Iterable[str]) -> NumeraiKey:
    k = world.create_api_key(account, scopes=scopes, name="limited")
    return NumeraiKey(k.public_id, k.secret)
