"""Typed results of the NMRX client: the JSON API's shapes as pydantic models.

Unknown fields a newer server sends are kept (``extra="allow"``), so scripts and the
CLI's ``--json`` output never lose data. Money is :class:`Money` — integer ``units`` of
10⁻⁸ NMR and the exact decimal text ``nmr`` — never a float.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict

UNITS_PER_NMR = 100_000_000


def format_units(units: int | None) -> str:
    """``150000000`` → ``"1.5"``; ``None`` → ``"-"``."""
    if units is None:
        return "-"
    text = format(Decimal(units) / UNITS_PER_NMR, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class Result(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    def to_json(self) -> dict[str, object]:
        return self.model_dump(mode="json")


class Money(Result):
    units: int
    nmr: str

    @property
    def decimal(self) -> Decimal:
        return Decimal(self.units) / UNITS_PER_NMR

    def __str__(self) -> str:
        return format_units(self.units)


class Me(Result):
    id: int
    username: str
    scopes: list[str]


class Token(Result):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class NewToken(Token):
    token: str


class Wallet(Result):
    available: Money
    held: Money
    collateral: Money
    total: Money


class HistoryEntry(Result):
    id: str
    code: str
    amount: Money
    effect: dict[str, int]
    memo: str
    created_at: datetime


class Instrument(Result):
    id: int
    model_id: int
    model_name: str
    tournament: str
    owner: str | None
    round_number: int
    mode: str
    state: str
    round_open_at: datetime
    round_close_at: datetime
    trading_closes_at: datetime
    best_bid: Money | None = None
    best_ask: Money | None = None
    last_price: Money | None = None
    seq: int = 0


class Market(Result):
    model_id: int
    model_name: str
    tournament: str
    owner: str | None
    mode: str
    instruments: list[Instrument]


class Level(Result):
    price: Money
    quantity: int


class Book(Result):
    instrument_id: int
    seq: int
    bids: list[Level]
    asks: list[Level]


class Trade(Result):
    id: int
    price: Money
    quantity: int
    taker_side: str
    created_at: datetime


class RoundBar(Result):
    round_number: int
    open: Money
    high: Money
    low: Money
    close: Money
    volume: int
    notional: Money
    trades: int


class OrderFill(Result):
    id: int
    instrument_id: int
    buy_order_id: int
    sell_order_id: int
    taker_side: str
    price: Money
    quantity: int
    notional: Money
    fee_rate_bp: int
    buyer_collateral: Money
    slot_model_id: int | None = None
    state: str
    created_at: datetime


class Order(Result):
    id: int
    client_order_id: str
    instrument_id: int
    side: str
    order_type: str
    price: Money
    quantity: int
    filled: int
    remaining: int
    state: str
    cancel_reason: str | None = None
    slot_model_id: int | None = None
    standing_order_id: int | None = None
    created_at: datetime
    updated_at: datetime
    fills: list[OrderFill] = []
    duplicate: bool = False


class Standing(Result):
    """A standing order: a seller's ask ladder or a buyer's standing bid."""

    id: int
    model_id: int
    model_name: str
    tournament: str
    mode: str
    side: str
    state: str
    rounds: int | None = None
    rounds_placed: int
    slot_model_id: int | None = None
    version: int
    levels: list[Level]
    open_orders: int
    created_at: datetime
    updated_at: datetime


class Model(Result):
    id: int
    numerai_id: str
    name: str
    tournament: str
    owner: str | None = None
    verified_at: datetime | None = None
    verified_via: str | None = None
    has_key: bool = False


class Collateral(Result):
    collateral: Money
    requirement: Money
    unsettled_notional: Money
    max_unlock: Money
    is_seller: bool
    may_list: bool


class Upload(Result):
    id: int
    model: str
    tournament: str
    round_number: int
    sha256: str
    filename: str
    format: str
    rows: int
    size_bytes: int
    created_at: datetime
    replaced: bool
    own_submission_id: str | None = None
    own_submission_error: str | None = None


class Delivery(Result):
    id: int
    fill_id: int
    kind: str  # download | submission
    state: str
    model: str
    round_number: int
    mode: str
    quantity: int
    price: int  # units of 10⁻⁸ NMR
    sha256: str | None = None
    numerai_submission_id: str | None = None
    submitted_filename: str | None = None
    fault: str | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None

    @property
    def downloadable(self) -> bool:
        return self.kind == "download" and self.state == "delivered"


class DownloadLink(Result):
    url: str
    expires_in: int
    filename: str


class Fill(Result):
    id: int
    role: str
    model: str
    round_number: int
    mode: str
    quantity: int
    price: Money
    notional: Money
    state: str
    explanation: str
    created_at: datetime
    updated_at: datetime


class TimelineStep(Result):
    state: str
    reason: str
    detail: str
    at: datetime


class Timeline(Result):
    fill_id: int
    state: str
    steps: list[TimelineStep]


class Notification(Result):
    kind: str  # action | sale | delivery | settlement
    title: str
    body: str
    at: datetime
    deadline: datetime | None = None
    link: str | None = None


@dataclass(frozen=True)
class Downloaded:
    """A purchased file written to disk, its SHA-256 checked against the server's."""

    fill_id: int
    path: Path
    sha256: str
    size: int
    skipped: bool = False  # already on disk with the right SHA-256

    def to_json(self) -> dict[str, object]:
        return {
            "fill_id": self.fill_id,
            "path": str(self.path),
            "sha256": self.sha256,
            "size": self.size,
            "skipped": self.skipped,
        }
