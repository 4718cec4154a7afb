"""What the model page shows and what a trade will cost before anything moves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from nmrx.accounts.tables import User
from nmrx.market import data as market_data
from nmrx.market.rules import Mode, bid_hold, collateral_per_unit
from nmrx.platform.bootstrap import Container
from nmrx.platform.errors import InvalidInput, NotFound
from nmrx.reputation.standing import Summary as SellerStanding
from nmrx.reputation.standing import summary as seller_summary
from nmrx.sellers.tables import NumeraiModel
from nmrx.settlement.rules import fee


@dataclass(frozen=True)
class ModelCard:
    id: int
    name: str
    tournament: str
    numerai_id: str
    owner_id: int | None
    owner: str | None
    owner_since: datetime | None
    verified_at: datetime | None
    other_models: list[tuple[int, str, str]]  # id, name, tournament
    standing: SellerStanding | None  # the owner's record as a seller, in brief


def slots(c: Container, *, user_id: int | None, tournament: str) -> list[tuple[int, str]]:
    """The user's own models of a tournament: where a purchase can be submitted."""
    if user_id is None:
        return []
    with c.db.transaction() as session:
        rows = session.execute(
            select(NumeraiModel.id, NumeraiModel.name)
            .where(NumeraiModel.owner_user_id == user_id, NumeraiModel.tournament == tournament)
            .order_by(NumeraiModel.name)
        ).all()
    return [(id_, name) for id_, name in rows]


def model_card(c: Container, *, model_id: int) -> ModelCard:
    """The model and its seller's card (with the seller's standing in brief), in one
    transaction of aggregate queries."""
    now, margin_minutes = c.clock.now(), c.settings.upload_margin_minutes
    with c.db.transaction() as session:
        model = session.get(NumeraiModel, model_id)
        if model is None:
            raise NotFound(f"no model {model_id}")
        owner = session.get(User, model.owner_user_id) if model.owner_user_id else None
        others = []
        if owner is not None:
            others = [
                (m.id, m.name, m.tournament)
                for m in session.scalars(
                    select(NumeraiModel)
                    .where(NumeraiModel.owner_user_id == owner.id, NumeraiModel.id != model_id)
                    .order_by(NumeraiModel.name)
                )
            ]
        return ModelCard(
            model.id,
            model.name,
            model.tournament,
            model.numerai_id,
            owner.id if owner else None,
            owner.username if owner else None,
            owner.created_at if owner else None,
            model.verified_at,
            others,
            seller_summary(session, user=owner, now=now, margin_minutes=margin_minutes)
            if owner
            else None,
        )


@dataclass(frozen=True)
class Quote:
    """A trade's cost shown before confirmation: exactly what will fill. Amounts in units."""

    instrument_id: int
    side: str  # bid | ask
    kind: str  # buy_now | sell_now | limit
    mode: str
    round_number: int
    requested: int  # what the user typed
    quantity: int  # what the order is for: Buy/Sell Now only what is on offer now
    price: int  # the order's limit: Buy/Sell Now the last level the walk reaches
    levels: list[tuple[int, int]]  # Buy/Sell Now: (price, quantity) that will fill, best first
    notional: int  # what the fill costs (the sum over the levels)
    seller_fee: int
    collateral: int
    hold: int  # what the placement holds from the buyer's available funds
    crosses_at: int | None  # a limit order that trades at once at this price
    trading_closes_at: datetime
    round_close_at: datetime

    @property
    def average(self) -> int:
        return self.notional // self.quantity if self.quantity else 0

    @property
    def short(self) -> int:
        """How much of the request is not on offer (Buy/Sell Now)."""
        return self.requested - self.quantity


def walk(levels: list[tuple[int, int]], quantity: int) -> list[tuple[int, int]]:
    """The levels (best first) a market order of ``quantity`` fills, with the part of each."""
    taken: list[tuple[int, int]] = []
    left = quantity
    for price, size in levels:
        if left <= 0:
            break
        part = min(size, left)
        taken.append((price, part))
        left -= part
    return taken


def quote(
    c: Container, *, instrument_id: int, side: str, kind: str, quantity: int, price: int | None
) -> Quote:
    inst = market_data.get_instrument(c, instrument_id=instrument_id)
    if side not in ("bid", "ask") or kind not in ("buy_now", "sell_now", "limit"):
        raise InvalidInput("unknown order kind")
    if quantity <= 0:
        raise InvalidInput("quantity must be a whole number above zero")
    book = market_data.book(c, instrument_id=instrument_id, depth=1000)
    requested = quantity
    taken: list[tuple[int, int]] = []
    crosses_at = None
    if kind in ("buy_now", "sell_now"):
        taken = walk(book.asks if kind == "buy_now" else book.bids, quantity)
        if not taken:
            raise InvalidInput(
                "nothing is offered right now: place a bid instead"
                if kind == "buy_now"
                else "nobody bids right now: place an ask instead"
            )
        quantity = sum(q for _, q in taken)
        price = taken[-1][0]
        notional = sum(p * q for p, q in taken)
    else:
        if price is None or price <= 0:
            raise InvalidInput("a limit order needs a price")
        notional = quantity * price
        other = book.asks if side == "bid" else book.bids
        if other and (other[0][0] <= price if side == "bid" else other[0][0] >= price):
            crosses_at = other[0][0]
    mode = Mode(inst.mode)
    per_unit = collateral_per_unit(mode, c.settings.stake_collateral_rate_bp)
    return Quote(
        instrument_id=instrument_id,
        side=side,
        kind=kind,
        mode=inst.mode,
        round_number=inst.round_number,
        requested=requested,
        quantity=quantity,
        price=price,
        levels=taken,
        notional=notional,
        seller_fee=fee(notional, c.settings.platform_fee_rate_bp),
        collateral=quantity * per_unit if side == "bid" else 0,
        hold=bid_hold(quantity, price, per_unit) if side == "bid" else 0,
        crosses_at=crosses_at,
        trading_closes_at=inst.trading_closes_at,
        round_close_at=inst.round_close_at,
    )
