"""Builders for order-book tests without the emulator: a round calendar, models with
owners and Numerai keys written straight to the database, sellers, open books."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from nmrx.market import instruments
from nmrx.market.tables import Instrument
from nmrx.platform.bootstrap import Container
from nmrx.platform.clock import utcnow
from nmrx.sellers import collateral
from nmrx.sellers.tables import NumeraiApiKey, NumeraiModel
from nmrx.wallet.money import nmr
from tests.support.builders import UserRef, make_user

# Round 900 opened on Tuesday 2025-01-07 13:00 UTC (the emulator's anchor too).
ANCHOR = (900, datetime(2025, 1, 7, 13, tzinfo=UTC), datetime(2025, 1, 7, 14, tzinfo=UTC))
# A Wednesday morning: round 1131's book (Wed 2025-11-26) is the first still trading.
NOW = datetime(2025, 11, 26, 9, 0, tzinfo=UTC)
UPLOAD_SCOPES = "read_submission_info read_user_info upload_submission"  # what a slot needs

_names = itertools.count(1)


def seed_calendar(c: Container) -> None:
    number, opens, closes = ANCHOR
    instruments.record_round(c, number=number, open_time=opens, close_time=closes)


def make_model(
    c: Container,
    owner: UserRef | None,
    *,
    tournament: str = "classic",
    scopes: str | None = UPLOAD_SCOPES,
    name: str | None = None,
) -> int:
    """A Numerai model bound to ``owner`` (with an API key of ``scopes`` unless None)."""
    with c.db.transaction() as session:
        key_id = None
        if owner is not None and scopes is not None:
            key = NumeraiApiKey(
                user_id=owner.id,
                public_id=f"PUB{uuid.uuid4().hex[:12]}",
                secret_ciphertext="not-a-real-secret",
                numerai_username=owner.username,
                scopes=scopes,
            )
            session.add(key)
            session.flush()
            key_id = key.id
        model = NumeraiModel(
            numerai_id=str(uuid.uuid4()),
            name=name or f"model{next(_names)}_{uuid.uuid4().hex[:6]}",
            tournament=tournament,
            owner_user_id=owner.id if owner else None,
            verified_at=utcnow() if owner else None,
            verified_via="api_key" if owner else None,
            api_key_id=key_id,
        )
        session.add(model)
        session.flush()
        return model.id


@dataclass
class Seller:
    user: UserRef
    model_id: int


def make_seller(
    c: Container, *, funds: int = nmr(100), locked: int = nmr(80), tournament: str = "classic"
) -> Seller:
    """A seller with a model; ``locked``: collateral, which open asks reserve (§5.1)."""
    user = make_user(c, funds=funds)
    if locked:
        collateral.lock(c, user_id=user.id, amount=locked)
    return Seller(user, make_model(c, user, tournament=tournament))


def instrument_id(c: Container, model_id: int, mode: str = "file", index: int = 0) -> int:
    """The id of the ``index``-th open book (by round) of a model and mode."""
    with c.db.transaction() as session:
        ids = session.scalars(
            select(Instrument.id)
            .where(
                Instrument.model_id == model_id,
                Instrument.mode == mode,
                Instrument.state == "open",
            )
            .order_by(Instrument.round_number)
        ).all()
        return ids[index]


def open_market(c: Container, now: datetime = NOW) -> instruments.BooksReport:
    seed_calendar(c)
    return instruments.open_books(c, now=now)
