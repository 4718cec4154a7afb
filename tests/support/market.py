"""Scenario builders over the real services: sellers and buyers with emulator accounts,
open books, trades. Tests read like the market: ``seller.ask(...)``, ``buyer.bid(...)``."""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import select

from nmrx.market import instruments
from nmrx.market import service as orders
from nmrx.market.tables import Fill, Instrument
from nmrx.platform.bootstrap import Container
from nmrx.sellers import collateral, numerai_keys
from nmrx.sellers.tables import NumeraiModel
from nmrx.wallet.money import nmr
from numerai_emulator import EmulatorServer
from tests.support.builders import UserRef, make_user
from tests.support.emulator import NumeraiPlayer, numerai_player

_ids = itertools.count(1)


@dataclass
class Trader:
    market: Container
    user: UserRef
    numerai: NumeraiPlayer
    models: dict[str, int] = field(default_factory=dict)  # name -> our model id

    @property
    def id(self) -> int:
        return self.user.id

    def model(self, index: int = 0) -> int:
        return self.models[self.numerai.classic[index]]

    def place(
        self, instrument_id: int, side: str, qty: int, price: str, **kw: object
    ) -> orders.Placement:
        return orders.place_order(
            self.market,
            user_id=self.id,
            instrument_id=instrument_id,
            side=side,
            quantity=qty,
            price=nmr(price),
            client_order_id=f"t{next(_ids)}",
            **kw,  # type: ignore[arg-type]
        )


def trader(
    market: Container, emulator: EmulatorServer, *, funds: int = nmr(200), collateral_nmr: int = 0
) -> Trader:
    user = make_user(market, funds=funds)
    player = numerai_player(emulator.world)
    numerai_keys.add_key(
        market, user_id=user.id, public_id=player.key.public_id, secret=player.key.secret
    )
    with market.db.transaction() as s:
        models = {
            m.name: m.id
            for m in s.scalars(select(NumeraiModel).where(NumeraiModel.owner_user_id == user.id))
        }
    if collateral_nmr:
        collateral.lock(market, user_id=user.id, amount=nmr(collateral_nmr))
    return Trader(market, user, player, models)


def instrument(market: Container, *, model_id: int, round_number: int, mode: str) -> int:
    instruments.open_books(market)
    with market.db.transaction() as s:
        return s.scalars(
            select(Instrument.id).where(
                Instrument.model_id == model_id,
                Instrument.round_number == round_number,
                Instrument.mode == mode,
            )
        ).one()


def fills_of(market: Container, instrument_id: int) -> list[Fill]:
    with market.db.transaction() as s:
        return list(
            s.scalars(select(Fill).where(Fill.instrument_id == instrument_id).order_by(Fill.id))
        )


def predictions(
    emulator: EmulatorServer, round_number: int, seed: int, *, fmt: str = "csv"
) -> bytes:
    ids = emulator.world.universe(8, round_number)
    frame = pd.DataFrame({"id": ids, "prediction": np.random.default_rng(seed).random(len(ids))})
    if fmt == "parquet":
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue()
    return frame.to_csv(index=False).encode()
